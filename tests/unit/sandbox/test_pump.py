"""Channel pumps count exactly (issue 10): at most ``limit`` bytes pass; exactly ``limit``
then end of file is fine, one byte more crosses the limit; reaching the limit never blocks
the event loop on a blocking client fd.  Plain pipes stand for the client fd and the FIFO."""
import os
import signal
from contextlib import contextmanager

import pytest

from zerocloud import report as rpt
from zerocloud.channels.pump import Pump
from zerocloud.sandbox.spec import ChannelSpec

LIMIT = 4096          # fits a pipe's buffer: no reader needed on the far side
WATCHDOG_SECONDS = 5


@contextmanager
def watchdog():
    """Turn a blocked call into a failure (the call needs microseconds)."""
    def blocked(signum, frame):
        raise AssertionError(f'the pump blocked for {WATCHDOG_SECONDS} s')
    previous = signal.signal(signal.SIGALRM, blocked)
    signal.alarm(WATCHDOG_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def pipes():
    """Make pipes; at the end close those of their fds still open (not a reused number)."""
    made = []

    def make():
        read_end, write_end = os.pipe()
        made.extend((fd, _identity(fd)) for fd in (read_end, write_end))
        return read_end, write_end
    yield make
    for fd, identity in made:
        try:
            if _identity(fd) == identity:
                os.close(fd)
        except OSError:
            pass


def _identity(fd):
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


def outbound(pipes, limit=LIMIT):
    """(pump, program's write end, client's read end) of a stdout pipe channel."""
    fifo_read, program_write = pipes()
    client_read, client_write = pipes()
    return Pump(ChannelSpec('stdout', 'w', 'pipe'), client_write, fifo_read, limit), \
        program_write, client_read


def inbound(pipes, limit=LIMIT):
    """(pump, client's write end, program's read end) of a stdin pipe channel."""
    client_read, client_write = pipes()
    program_read, fifo_write = pipes()
    return Pump(ChannelSpec('stdin', 'r', 'pipe'), client_read, fifo_write, limit), \
        client_write, program_read


def drive(pump, steps=10):
    """Step the pump as the monitor would on readiness; the first limit status, or None."""
    with watchdog():
        for _ in range(steps):
            crossed = pump.step()
            if crossed is not None or pump.closed or pump.eof:
                return crossed
    return None


def test_outbound_exactly_the_limit_then_eof_is_not_a_crossing(pipes):
    pump, program, client = outbound(pipes)
    os.write(program, b'o' * LIMIT)
    os.close(program)
    assert drive(pump) is None
    assert pump.closed and pump.bytes == LIMIT
    assert os.read(client, 2 * LIMIT) == b'o' * LIMIT


def test_outbound_one_byte_over_the_limit_crosses_and_passes_only_the_limit(pipes):
    pump, program, client = outbound(pipes)
    os.write(program, b'o' * (LIMIT + 1))
    assert drive(pump) == rpt.STATUS_OUTPUT_LIMIT
    assert pump.bytes == LIMIT
    assert os.read(client, 2 * LIMIT) == b'o' * LIMIT


def test_inbound_exactly_the_limit_then_eof_is_not_a_crossing(pipes):
    pump, client, program = inbound(pipes)
    os.write(client, b'i' * LIMIT)
    os.close(client)
    assert drive(pump) is None
    assert pump.eof and pump.bytes == LIMIT
    assert os.read(program, 2 * LIMIT) == b'i' * LIMIT


def test_inbound_one_byte_over_the_limit_crosses_and_passes_only_the_limit(pipes):
    pump, client, program = inbound(pipes)
    os.write(client, b'i' * (LIMIT + 1))
    assert drive(pump) == rpt.STATUS_INPUT_LIMIT
    assert pump.bytes == LIMIT
    assert os.read(program, 2 * LIMIT) == b'i' * LIMIT


def test_reaching_the_limit_does_not_wait_for_the_clients_next_byte(pipes):
    """The client (a blocking pipe) sent exactly the limit and is still open: one event
    moves it all and returns; asking for one more byte then would block the event loop."""
    pump, client, program = inbound(pipes)
    assert os.get_blocking(pump.src)
    os.write(client, b'i' * LIMIT)
    with watchdog():
        assert pump.step() is None
    assert pump.bytes == LIMIT and not pump.eof
    os.close(client)                      # later: end of file, readable again
    assert drive(pump) is None and pump.eof


def test_a_client_fd_epoll_cannot_watch_is_waited_for_on_the_fifo_side(pipes):
    """``zerocloud run > /dev/null``: epoll refuses /dev/null (always ready), so the pump
    waits for the FIFO instead of registering /dev/null (EPERM)."""
    fifo_read, program_write = pipes()
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        pump = Pump(ChannelSpec('stdout', 'w', 'pipe'), devnull, fifo_read, LIMIT)
        pump.waiting_for_dst = True
        assert pump.watch()[0] == fifo_read
        os.write(program_write, b'x' * 10)
        os.close(program_write)
        assert drive(pump) is None and pump.closed and pump.bytes == 10
    finally:
        os.close(devnull)


def test_a_closed_writer_gives_a_socket_peer_end_of_file_at_once(tmp_path):
    """The pump's own FIFO end is read-write (no early end-of-file); once the program closed
    its end, the pump reads to end-of-file and shuts the socket for writing: the peer sees
    EOF although the socket stays open elsewhere (the object server holds it too)."""
    import socket
    fifo = str(tmp_path / 'out')
    os.mkfifo(fifo)
    pump_end = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    ours, peer = socket.socketpair()
    kept = os.dup(ours.fileno())      # another holder of the socket
    pump = Pump(ChannelSpec('out/peer', 'w', 'socket'), ours.fileno(), pump_end, LIMIT)
    program = os.open(fifo, os.O_WRONLY)
    os.write(program, b'all of it')
    os.close(program)
    with watchdog():
        pump.step()
        pump.step()
        assert not pump.closed       # without a writer-closed signal: no EOF yet
        pump.writer_closed()
        while not pump.closed:
            pump.step()
    peer.settimeout(WATCHDOG_SECONDS)
    assert peer.recv(100) == b'all of it' and peer.recv(100) == b''
    for fd in (kept,):
        os.close(fd)
    ours.close()
    peer.close()
