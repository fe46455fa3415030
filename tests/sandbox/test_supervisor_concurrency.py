"""The supervisor never waits on one session: slow set-ups hold up nobody.

A real supervisor (``start_supervisor``) and the real client.  The slow set-ups are real:
an executable with ~5 million instructions that the validator scans for seconds in its
child (``zc-offload``), a validation child or pre-warmed jails stopped with SIGSTOP (a
jail that never answers its hand-shake).  The tests assert what finished first and what
each session reported, never how long anything took.
"""
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import threading

import pytest

from tests.sandbox.test_supervisor import (assert_no_descendants, children_named, process_table,
                                           run_capturing, wait_for)
from zerocloud.sandbox import (ChannelSpec, Limits, SessionSpec, SupervisorClient,
                               start_supervisor)
from zerocloud.sandbox.warm import POOL_SIZE

PADDING_INSTRUCTIONS = 5000000     # ~1 us each to scan: seconds of validation
BIG_C = r'''
#include <stdio.h>
/* never called: gives the validator %d instructions to scan */
__attribute__((used, noinline)) static void padding(void) {
    __asm__ volatile(".rept %d\n\tadd %%%%rax, %%%%rbx\n\t.endr" ::: "rax", "rbx");
}
int main(void) { puts("big"); return 0; }
''' % (PADDING_INSTRUCTIONS, PADDING_INSTRUCTIONS)


@pytest.fixture(scope='module')
def big_program(tmp_path_factory):
    """A valid static executable whose validation takes seconds."""
    compiler = shutil.which('musl-gcc')
    if compiler is None:
        pytest.fail('musl-gcc not found: install musl-tools (make deps)')
    workdir = tmp_path_factory.mktemp('big')
    source = workdir / 'big.c'
    source.write_text(BIG_C)
    subprocess.run([compiler, '-static', '-O2', '-o', str(workdir / 'big'), str(source)],
                   check=True)
    return str(workdir / 'big')


@pytest.fixture
def supervisor(tmp_path):
    handle = start_supervisor(str(tmp_path / 'sandbox.sock'))
    yield handle
    handle.stop()


class Background(threading.Thread):
    """``run_capturing(client, program)`` in a thread; :attr:`outcome` once done."""

    def __init__(self, socket_path, program, finished):
        super().__init__(daemon=True)
        self.client = SupervisorClient(socket_path)
        self.program = program
        self.finished = finished        # a shared list: completion order
        self.outcome = None

    def run(self):
        self.outcome = run_capturing(self.client, self.program)
        self.finished.append(self)


def hello_runs_ok(client, hello, times=3):
    for _ in range(times):
        report, out = run_capturing(client, hello)
        assert report.status == 'ok' and out == b'hello, world\n', report


def validation_children(supervisor):
    return children_named(supervisor.pid)('zc-offload')


def start_validating(supervisor, big_program, tmp_path):
    """A session of a new copy of the big program, in the background, once its validation
    child runs: ``(copy's path, the session, the list it appends to when answered)``."""
    big = str(tmp_path / 'big')
    shutil.copy(big_program, big)
    finished = []
    slow = Background(supervisor.socket_path, big, finished)
    slow.start()
    assert wait_for(lambda: validation_children(supervisor)), process_table()
    return big, slow, finished


def test_fast_sessions_finish_while_another_is_validated(supervisor, big_program, c_program,
                                                         tmp_path):
    big, slow, finished = start_validating(supervisor, big_program, tmp_path)
    hello_runs_ok(SupervisorClient(supervisor.socket_path), c_program('hello', libc='musl'))
    assert finished == [], 'the big program was answered before the hello sessions'
    slow.join(60)
    report, out = slow.outcome
    assert report.status == 'ok' and out == b'big\n', report
    assert report.validation == 0                  # validated (fresh verdict), then ran
    report, out = run_capturing(SupervisorClient(supervisor.socket_path), big)
    assert report.status == 'ok' and report.validation == 2, report      # cached now
    assert_no_descendants(supervisor.pid)


def test_a_stalled_validation_holds_up_nobody_then_finishes(supervisor, big_program,
                                                            c_program, tmp_path):
    big, slow, finished = start_validating(supervisor, big_program, tmp_path)
    [child] = validation_children(supervisor)
    os.kill(child, signal.SIGSTOP)
    try:
        hello_runs_ok(SupervisorClient(supervisor.socket_path), c_program('hello', libc='musl'))
        assert finished == [] and validation_children(supervisor) == [child]
    finally:
        os.kill(child, signal.SIGCONT)
    slow.join(60)
    report, out = slow.outcome
    assert report.status == 'ok' and out == b'big\n' and report.validation == 0, report


def test_a_jail_that_never_answers_ends_its_session_and_nobody_waits_for_it(supervisor,
                                                                           c_program):
    """Every pre-warmed jail stopped: all but one of POOL_SIZE + 1 concurrent sessions get
    one (their jail never answers the hand-shake: ``isolation``, timed out); the last, with
    a jail made on demand, finishes first."""
    named = children_named(supervisor.pid)
    assert wait_for(lambda: len(named('zc-warm')) == POOL_SIZE), process_table()
    stopped = named('zc-warm')
    for pid in stopped:
        os.kill(pid, signal.SIGSTOP)
    finished = []
    hello = c_program('hello', libc='musl')
    sessions = [Background(supervisor.socket_path, hello, finished)
                for _ in range(POOL_SIZE + 1)]
    for session in sessions:
        session.start()
    for session in sessions:
        session.join(60)
    assert len(finished) == POOL_SIZE + 1
    first, *late = [session.outcome for session in finished]
    assert first[0].status == 'ok' and first[1] == b'hello, world\n', first[0]
    for report, out in late:
        assert report.status == 'isolation' and 'timed out' in report.reason, report
        assert out == b''
    assert not set(stopped) & set(process_table()), 'a stopped jail was left behind'
    hello_runs_ok(SupervisorClient(supervisor.socket_path), hello, times=1)
    assert_no_descendants(supervisor.pid)


def test_a_client_leaving_during_validation_stops_the_validation(supervisor, big_program,
                                                                 c_program, tmp_path):
    big = str(tmp_path / 'big')
    shutil.copy(big_program, big)
    spec = SessionSpec(program=big, argv=['big'], limits=Limits(wall_seconds=60))
    body = json.dumps(spec.to_dict()).encode()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(supervisor.socket_path)
    sock.sendall(struct.pack('>I', len(body)) + body)
    assert wait_for(lambda: validation_children(supervisor)), process_table()
    sock.close()
    assert wait_for(lambda: not validation_children(supervisor)), process_table()
    hello_runs_ok(SupervisorClient(supervisor.socket_path), c_program('hello', libc='musl'),
                  times=1)
    assert supervisor.process.poll() is None
    assert_no_descendants(supervisor.pid)


def test_a_fifo_as_program_is_an_error_not_a_hang(supervisor, c_program, tmp_path):
    fifo = str(tmp_path / 'program')
    os.mkfifo(fifo)
    spec = SessionSpec(program=fifo, argv=['program'],
                       channels=[ChannelSpec('stdout', 'w', 'pipe')])
    read_end, write_end = os.pipe()
    try:
        report = SupervisorClient(supervisor.socket_path).run(spec, [write_end])
    finally:
        os.close(read_end)
        os.close(write_end)
    assert report.status == 'error' and fifo in report.reason, report
    hello_runs_ok(SupervisorClient(supervisor.socket_path), c_program('hello', libc='musl'),
                  times=1)
