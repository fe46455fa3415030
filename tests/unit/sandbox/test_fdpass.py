"""Descriptors beside a message in batches (:mod:`zerocloud.sandbox.fdpass`), and the
supervisor's request reader that receives them without blocking."""
import fcntl
import json
import os
import selectors
import socket
import struct
import threading
import time

import pytest

from zerocloud.sandbox import fdpass
from zerocloud.sandbox.supervisor import PendingRequest

COUNT = 1000


def identities(fds):
    return [(os.fstat(fd).st_dev, os.fstat(fd).st_ino) for fd in fds]


@pytest.fixture
def pipes():
    fdpass.raise_open_files_limit()
    ends = [os.pipe() for _ in range(COUNT // 2)]
    fds = [fd for pair in ends for fd in pair]
    yield fds
    for fd in fds:
        os.close(fd)


def _send_in_thread(sock, data, fds):
    thread = threading.Thread(target=fdpass.send_with_fds, args=(sock, data, fds))
    thread.start()
    return thread


def test_a_thousand_descriptors_arrive_in_order_beside_their_message(pipes):
    sender, receiver = socket.socketpair()
    with sender, receiver:
        message = b'x' * 100
        thread = _send_in_thread(sender, message, pipes)
        received = []
        assert fdpass.receive_into(receiver, len(message), received) == message
        thread.join()
        try:
            assert len(received) == COUNT
            assert identities(received) == identities(pipes)
            assert not any(os.get_inheritable(fd) for fd in received)
        finally:
            for fd in received:
                os.close(fd)


def test_batches_are_at_most_one_message_of_descriptors():
    groups = fdpass.batches(range(2 * fdpass.MAX_FDS_PER_MESSAGE + 1))
    assert [len(group) for group in groups] == [fdpass.MAX_FDS_PER_MESSAGE] * 2 + [1]


def test_a_message_too_short_for_its_batches_is_refused(pipes):
    sender, receiver = socket.socketpair()
    with sender, receiver, pytest.raises(ValueError, match='cannot carry'):
        fdpass.send_with_fds(sender, b'ab', pipes)


def test_a_receiver_left_early_keeps_what_arrived_for_the_caller(pipes):
    sender, receiver = socket.socketpair()
    with receiver:
        with sender:
            fdpass.send_with_fds(sender, b'abc', pipes[:3])
        received = []
        with pytest.raises(OSError, match='closed after 3 of 10 bytes'):
            fdpass.receive_into(receiver, 10, received)
        assert len(received) == 3
        for fd in received:
            os.close(fd)


def test_the_supervisor_reads_a_request_with_its_descriptors_without_blocking(pipes):
    body = json.dumps({'channels': ['c'] * COUNT}).encode()
    sender, receiver = socket.socketpair()
    with sender, receiver:
        receiver.setblocking(False)
        request = PendingRequest(receiver)
        assert request.read() is None               # nothing sent yet: no wait
        thread = _send_in_thread(sender, struct.pack('>I', len(body)) + body, pipes)
        complete = None
        with selectors.DefaultSelector() as selector:   # like the supervisor's loop
            selector.register(receiver, selectors.EVENT_READ)
            while complete is None:
                selector.select(5.0)
                complete = request.read()
        thread.join()
        try:
            assert complete[0] == {'channels': ['c'] * COUNT}
            assert identities(complete[1]) == identities(pipes)
        finally:
            for fd in request.fds:
                os.close(fd)


def test_the_open_files_soft_limit_is_lifted_to_the_hard_limit():
    soft, hard = fdpass.raise_open_files_limit()
    assert soft == hard


def test_a_full_non_blocking_socket_waits_for_room_then_sends_every_batch(pipes):
    """The sender's buffer is full (a green socket's raw fd is non-blocking): each batch
    waits until the receiver makes room; descriptor numbers above 1023 are fine."""
    low, receiver = socket.socketpair()
    with low:
        sender = socket.socket(fileno=fcntl.fcntl(low.fileno(), fcntl.F_DUPFD_CLOEXEC, 1100))
    with sender, receiver:
        assert sender.fileno() >= 1100           # beyond what select() can watch
        sender.setblocking(False)
        queued = 0
        for size in (65536, 1):              # until not even one more byte fits
            try:
                while True:
                    queued += sender.send(b'q' * size)
            except BlockingIOError:
                pass
        received, read = [], []

        def drain():
            time.sleep(0.2)                  # (let the sender find the buffer full first)
            read.append(fdpass.receive_into(receiver, queued + 10, received))
        thread = threading.Thread(target=drain)
        thread.start()
        fdpass.send_with_fds(sender, b'0123456789', pipes)
        thread.join()
        try:
            assert read == [b'q' * queued + b'0123456789']
            assert identities(received) == identities(pipes)
        finally:
            for fd in received:
                os.close(fd)
