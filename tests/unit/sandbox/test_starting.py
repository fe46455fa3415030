"""Session set-up without blocking: child calls, shared validations, the hand-shake steps.

The validation children are real (forked, running the real validator); the jail's side of
the hand-shake is played by the test through real pipes, with a real child process standing
in for the jail (so killing and reaping it are real too).
"""
import os
import selectors
import shutil
import time

import pytest

from zerocloud import report as rpt
from zerocloud.sandbox import offload, starting
from zerocloud.sandbox.spec import ChannelSpec, SessionSpec


def poll_until_done(pending):
    with selectors.DefaultSelector() as selector:
        selector.register(pending.fileno(), selectors.EVENT_READ)
        while True:
            selector.select(30)
            verdict = pending.poll()
            if verdict is not None:
                return verdict


def test_child_call_returns_without_blocking_and_keeps_only_its_descriptors(tmp_path):
    kept = os.open(str(tmp_path), os.O_RDONLY)
    other = os.open(str(tmp_path), os.O_RDONLY)
    try:
        call = offload.ChildCall(lambda: sorted(int(fd) for fd in os.listdir('/proc/self/fd')),
                                 keep_fds=(kept,))
        assert not call.done
        open_in_child = call.wait()
    finally:
        os.close(kept)
        os.close(other)
    assert kept in open_in_child and other not in open_in_child
    assert len([fd for fd in open_in_child if fd > 2]) <= 3    # kept, its pipe, listdir's


def test_child_call_failure_and_cancel_raise_offload_error():
    failing = offload.ChildCall(int, 'not a number')
    with pytest.raises(offload.OffloadError, match='ValueError'):
        failing.wait()
    sleeping = offload.ChildCall(time.sleep, 60)
    sleeping.cancel('stopped by the test')
    with pytest.raises(offload.OffloadError, match='stopped by the test'):
        sleeping.result()
    with pytest.raises(ChildProcessError):          # killed and reaped: no zombie left
        os.waitpid(sleeping.pid, os.WNOHANG)


def test_sessions_asking_for_the_same_new_file_share_one_validation(c_program, tmp_path):
    path = str(tmp_path / 'hello')
    shutil.copy(c_program('hello', libc='musl'), path)
    verdicts = offload.OffloadedVerdicts()
    first, second = os.open(path, os.O_RDONLY), os.open(path, os.O_RDONLY)
    try:
        one, other = verdicts.check_file(first), verdicts.check_file(second)
        assert isinstance(one, offload.PendingVerdict) and one is other and one.waiters == 2
        verdict = poll_until_done(one)
        assert verdict.state == rpt.VALIDATION_VALID and other.poll() == verdict
        again = verdicts.check_file(first)          # known file now: no child
        assert again.state == rpt.VALIDATION_NOT_CHECKED
    finally:
        os.close(first)
        os.close(second)


def test_a_known_content_in_a_new_file_is_a_cache_hit(c_program, tmp_path):
    verdicts = offload.OffloadedVerdicts()
    for name, expected in (('a', rpt.VALIDATION_VALID), ('b', rpt.VALIDATION_NOT_CHECKED)):
        path = str(tmp_path / name)
        shutil.copy(c_program('hello', libc='musl'), path)
        fd = os.open(path, os.O_RDONLY)
        try:
            assert poll_until_done(verdicts.check_file(fd)).state == expected
        finally:
            os.close(fd)


def test_the_last_waiter_leaving_kills_the_validation(c_program, tmp_path):
    path = str(tmp_path / 'hello')
    shutil.copy(c_program('hello', libc='musl'), path)
    verdicts = offload.OffloadedVerdicts()
    fd = os.open(path, os.O_RDONLY)
    try:
        pending = verdicts.check_file(fd)
        pid = pending._call.pid
        pending.release()
        with pytest.raises(ChildProcessError):      # killed and reaped
            os.waitpid(pid, os.WNOHANG)
        with pytest.raises(offload.OffloadError, match='nobody waits'):
            pending.poll()
        assert isinstance(verdicts.check_file(fd), offload.PendingVerdict)   # asks anew
    finally:
        os.close(fd)


def test_an_oversized_file_is_rejected_without_a_child(tmp_path):
    path = tmp_path / 'big'
    path.write_bytes(b'x' * 100)
    fd = os.open(str(path), os.O_RDONLY)
    try:
        verdict = offload.OffloadedVerdicts().check_file(fd, max_size_bytes=10)
    finally:
        os.close(fd)
    assert verdict.state == rpt.VALIDATION_REJECTED


# -- the hand-shake, with the test playing the jail --------------------------------------
class StandInJail:
    """What the warm pool hands out, with a real child process as the jail."""

    def __init__(self):
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - the stand-in: waits to be killed
            time.sleep(60)
            os._exit(0)
        self.pidfd = os.pidfd_open(self.pid)
        self.from_child, self.status_write = os.pipe2(os.O_CLOEXEC)
        self.sync_read, self.to_child = os.pipe2(os.O_CLOEXEC)
        self.plans = []

    def send_plan(self, plan):
        self.plans.append(plan)


class StandInRunner:
    """A SessionRunner's shared parts, with a warm pool of one stand-in jail."""

    def __init__(self, jail):
        from zerocloud.sandbox import isolation, linux
        self.sys = linux.Syscalls()
        self.isolation = isolation.Isolation(True, 'rootless', '')
        self.bpf = {'static': b'', 'python': b''}
        self.verdicts = offload.OffloadedVerdicts()
        self.workdir = None
        self.warm_pool = self
        self.jail = jail

    def take(self, plan=None, program=None):
        return self.jail


@pytest.fixture
def standin():
    jail = StandInJail()
    yield jail
    for fd in (jail.status_write, jail.sync_read):
        os.close(fd)
    try:
        os.kill(jail.pid, 9)
        os.waitpid(jail.pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def begin(standin, c_program, channels=()):
    spec = SessionSpec(program=c_program('hello', libc='musl'), argv=['hello'],
                       channels=tuple(ChannelSpec(*c) for c in channels), trusted=True)
    return starting.SessionStart(StandInRunner(standin), spec, []).begin()


def test_a_jail_that_never_answers_ends_with_isolation_when_its_deadline_passes(
        standin, c_program):
    start = begin(standin, c_program)
    assert start.result is None and start.state == 'listener'
    assert start.wait_fd == standin.from_child and len(standin.plans) == 1
    assert start.deadline <= time.monotonic() + starting.SETUP_SECONDS
    start.expire()
    assert start.result.status == rpt.STATUS_ISOLATION
    assert 'timed out (listener)' in start.result.reason
    with pytest.raises(ChildProcessError):          # the jail was killed and reaped
        os.waitpid(standin.pid, os.WNOHANG)


def test_a_jail_error_line_read_in_pieces_ends_with_its_message(standin, c_program):
    start = begin(standin, c_program)
    os.write(standin.status_write, b'EOSError: cannot b')
    start.resume()
    assert start.result is None and start.state == 'listener'     # waits for the rest
    os.write(standin.status_write, b'ind /dev/stdin\n')
    start.resume()
    assert start.result.status == rpt.STATUS_ISOLATION
    assert 'cannot bind /dev/stdin' in start.result.reason


def test_a_jail_that_dies_during_the_hand_shake_ends_with_isolation(standin, c_program):
    start = begin(standin, c_program)
    os.close(standin.status_write)
    standin.status_write = os.open(os.devnull, os.O_RDONLY)     # (for the fixture)
    start.resume()
    assert start.result.status == rpt.STATUS_ISOLATION and 'child exited' in start.result.reason


def test_with_fifos_the_jail_is_answered_only_after_its_ready_byte(standin, c_program):
    read_end, write_end = os.pipe()
    try:
        spec_channels = [('stdout', 'w', 'pipe')]
        spec = SessionSpec(program=c_program('hello', libc='musl'), argv=['hello'],
                           channels=tuple(ChannelSpec(*c) for c in spec_channels),
                           trusted=True)
        start = starting.SessionStart(StandInRunner(standin), spec, [write_end]).begin()
        assert start.state == 'fifos' and start.result is None
        os.set_blocking(standin.sync_read, False)
        with pytest.raises(BlockingIOError):        # no go-ahead before the ready byte
            os.read(standin.sync_read, 1)
        os.write(standin.status_write, b'Ejail failed before its FIFOs\n')
        start.resume()
        assert start.result.status == rpt.STATUS_ISOLATION
        assert 'before its FIFOs' in start.result.reason
    finally:
        os.close(read_end)
        os.close(write_end)


def test_a_cancelled_start_kills_its_jail(standin, c_program):
    start = begin(standin, c_program)
    start.cancel('error: the client went away')
    assert start.result.status == rpt.STATUS_ERROR and 'went away' in start.result.reason
    with pytest.raises(ChildProcessError):
        os.waitpid(standin.pid, os.WNOHANG)


def test_a_program_that_is_not_a_regular_file_is_refused_at_once(tmp_path):
    fifo = str(tmp_path / 'fifo')
    os.mkfifo(fifo)
    start = starting.SessionStart(StandInRunner(None), SessionSpec(program=fifo, argv=['x']),
                                  []).begin()
    assert start.result.status == rpt.STATUS_ERROR and fifo in start.result.reason


def resume_until(start, state):
    """Wait for ``start.wait_fd`` and resume until it reaches ``state`` (or ends)."""
    with selectors.DefaultSelector() as selector:
        while start.result is None and start.state != state:
            selector.register(start.wait_fd, selectors.EVENT_READ)
            selector.select(30)
            selector.unregister(start.wait_fd)
            start.resume()


def test_an_unknown_program_is_validated_in_a_child_before_the_jail_is_taken(
        standin, c_program, tmp_path):
    path = str(tmp_path / 'hello')
    shutil.copy(c_program('hello', libc='musl'), path)
    spec = SessionSpec(program=path, argv=['hello'])
    start = starting.SessionStart(StandInRunner(standin), spec, []).begin()
    assert start.state == 'validation' and standin.plans == []
    resume_until(start, 'listener')
    assert start.result is None and len(standin.plans) == 1
    start.cancel('done')


def test_a_program_written_while_it_is_validated_does_not_run(standin, c_program, tmp_path):
    path = str(tmp_path / 'hello')
    shutil.copy(c_program('hello', libc='musl'), path)
    spec = SessionSpec(program=path, argv=['hello'])
    start = starting.SessionStart(StandInRunner(standin), spec, []).begin()
    assert start.state == 'validation'
    with open(path, 'ab') as f:
        f.write(b'\0')
    resume_until(start, 'listener')
    assert start.result.status == rpt.STATUS_VALIDATION and 'changed' in start.result.reason
    assert standin.plans == []
