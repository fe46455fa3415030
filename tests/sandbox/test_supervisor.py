"""The supervisor: concurrent sessions, health after abuse, no strays, green client.

These start a real supervisor (``start_supervisor``) and drive it with the real client.
"""
import os
import subprocess
import sys
import textwrap
import time

import pytest

from zerocloud.sandbox import (ChannelSpec, Limits, SessionSpec, SupervisorClient,
                               start_supervisor)
from zerocloud.sandbox.warm import POOL_SIZE


@pytest.fixture
def supervisor(tmp_path):
    handle = start_supervisor(str(tmp_path / 'sandbox.sock'))
    yield handle
    handle.stop()


def run_capturing(client, program, args=(), limits=Limits(wall_seconds=10)):
    """Run ``program`` with stdout on a pipe; return (report, stdout bytes)."""
    read_end, write_end = os.pipe()
    spec = SessionSpec(program=program, argv=[os.path.basename(program)] + list(args),
                       channels=[ChannelSpec('stdout', 'w', 'pipe')], limits=limits)
    try:
        report = client.run(spec, [write_end])
    finally:
        os.close(write_end)
    with os.fdopen(read_end, 'rb') as f:
        return report, f.read()


def descendants(pid):
    """``(pid, state, name)`` of every process below ``pid`` (from /proc), except the jail factory
    (``zc-factory``) and the pre-warmed jails the supervisor keeps ready (``zc-warm``)."""
    children = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open('/proc/%s/stat' % entry) as f:
                    fields = f.read().rsplit(')', 1)[1].split()
                with open('/proc/%s/comm' % entry) as f:
                    name = f.read().strip()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append((int(entry), fields[0], name))
    found, todo, warm = [], [pid], []
    while todo:
        for child, state, name in children.get(todo.pop(), ()):
            if name == 'zc-factory':    # the factory, or a jail it is cloning right now
                continue                # (jails are the supervisor's children)
            # (a warm jail is named zc-launcher-* from its exec of the compiled launcher
            # until the launcher's first call renames it)
            waiting = name == 'zc-warm' or name.startswith('zc-launcher')
            (warm if waiting else found).append((child, state, name))
            todo.append(child)
    assert len(warm) <= POOL_SIZE, 'more than %d pre-warmed jails: %r' % (POOL_SIZE, warm)
    return found


def assert_no_descendants(pid):
    """Sessions are reaped as they end: allow the last one a moment to go (a liveness
    bound, generous: a dying jail's mount namespace waits for an RCU grace period, which
    takes seconds on a loaded 2-vCPU VM)."""
    deadline = time.monotonic() + 30
    while descendants(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    left = descendants(pid)
    assert left == [], 'processes left under the supervisor: %s' % [
        (entry, _proc_text(entry[0], 'wchan'), _proc_text(entry[0], 'stack')) for entry in left]


def _proc_text(pid, name):
    try:
        with open('/proc/%d/%s' % (pid, name)) as f:
            return f.read().strip()
    except OSError as exc:
        return str(exc)


def test_sessions_run_concurrently(supervisor, c_program):
    sleeper = c_program('sb_limits', libc='musl')
    hello = c_program('hello', libc='musl')
    client = SupervisorClient(supervisor.socket_path)
    slow = subprocess.Popen([sys.executable, '-c', textwrap.dedent('''
        import os, sys
        from zerocloud.sandbox import *
        spec = SessionSpec(program=%r, argv=['sb_limits', 'sleep'],
                           limits=Limits(wall_seconds=3))
        print(SupervisorClient(%r).run(spec, []).status)
        ''' % (sleeper, supervisor.socket_path))], stdout=subprocess.PIPE)
    try:
        # while the sleeper holds its session, others still complete
        for _ in range(3):
            report, out = run_capturing(client, hello)
            assert report.status == 'ok' and out == b'hello, world\n'
            assert slow.poll() is None, 'the sleeping session ended too early'
    finally:
        assert slow.communicate(timeout=30)[0].strip() == b'timeout'


@pytest.mark.parametrize('mode,status', [('membomb', 'memory-limit'), ('cpu', 'timeout'),
                                         ('forkbomb', 'ok'), ('sleep', 'timeout')])
def test_abusive_sessions_leave_the_supervisor_healthy_and_clean(supervisor, c_program,
                                                                 mode, status):
    client = SupervisorClient(supervisor.socket_path)
    abuser = c_program('sb_limits', libc='musl')
    report, _ = run_capturing(client, abuser, [mode],
                              limits=Limits(wall_seconds=2, cpu_seconds=5,
                                            memory_bytes=64 << 20))
    assert report.status == status or (mode == 'forkbomb' and report.status != 'error'), report
    assert supervisor.process.poll() is None
    report, out = run_capturing(client, c_program('hello', libc='musl'))
    assert report.status == 'ok' and out == b'hello, world\n'
    assert_no_descendants(supervisor.pid)


def test_seccomp_kill_names_the_syscall_through_the_supervisor(supervisor, c_program):
    client = SupervisorClient(supervisor.socket_path)
    report, _ = run_capturing(client, c_program('sb_escape_proc', libc='musl'), ['fork'])
    assert report.status in ('ok', 'seccomp'), report
    assert_no_descendants(supervisor.pid)


def test_bad_request_is_an_error_report_not_a_crash(supervisor):
    client = SupervisorClient(supervisor.socket_path)
    spec = SessionSpec(program='/nonexistent/program', argv=['x'])
    report = client.run(spec, [])
    assert report.status == 'error' and '/nonexistent/program' in report.reason
    assert supervisor.process.poll() is None


def test_supervisor_exits_when_its_socket_is_removed(tmp_path):
    handle = start_supervisor(str(tmp_path / 's.sock'))
    os.unlink(handle.socket_path)
    assert handle.process.wait(timeout=10) == 0


def test_client_is_green_under_eventlet(supervisor, c_program):
    script = textwrap.dedent('''
        import eventlet
        eventlet.monkey_patch()
        import os
        from zerocloud.sandbox import *
        spec = SessionSpec(program=%r, argv=['sb_limits', 'sleep'],
                           limits=Limits(wall_seconds=1))
        ticks = []
        def ticker():
            for _ in range(20):
                ticks.append(1)
                eventlet.sleep(0.02)
        t = eventlet.spawn(ticker)
        report = SupervisorClient(%r).run(spec, [])
        t.wait()
        print(report.status, len(ticks))
        ''' % (c_program('sb_limits', libc='musl'), supervisor.socket_path))
    done = subprocess.run([sys.executable, '-c', script], capture_output=True, timeout=60)
    status, ticks = done.stdout.split()
    assert status == b'timeout', done.stderr
    assert int(ticks) == 20   # the ticker ran while the client waited for the report


def test_session_ends_when_its_client_goes_away(supervisor, c_program):
    """An object server that gives up on a request must not leave its session running."""
    import json
    import socket
    import struct
    spec = SessionSpec(program=c_program('sb_limits', libc='musl'), argv=['sb_limits', 'sleep'],
                       limits=Limits(wall_seconds=60))
    body = json.dumps(spec.to_dict()).encode()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(supervisor.socket_path)
    sock.sendall(struct.pack('>I', len(body)) + body)
    program = os.path.basename(spec.program)[:15]     # its process name once running

    def running():
        return any(name == program for _pid, _state, name in descendants(supervisor.pid))
    assert wait_for(running, 30), 'the session never started: %r' % descendants(supervisor.pid)
    sock.close()
    assert_no_descendants(supervisor.pid)
    report, out = run_capturing(SupervisorClient(supervisor.socket_path),
                                c_program('hello', libc='musl'))
    assert report.status == 'ok' and out == b'hello, world\n'


def process_table():
    """``{pid: (parent pid, name)}`` of every process."""
    table = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open('/proc/%s/stat' % entry) as f:
                    fields = f.read().rsplit(')', 1)[1].split()
                with open('/proc/%s/comm' % entry) as f:
                    table[int(entry)] = (int(fields[1]), f.read().strip())
            except OSError:
                continue
    return table


def wait_for(condition, seconds=10):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_warm_jails_come_from_the_factory_as_children_of_the_supervisor(supervisor, c_program):
    """The factory clones with CLONE_PARENT: the supervisor reaps its jails (exit status,
    rusage), the factory keeps only its socket, and the pool is refilled after sessions."""
    named = children_named(supervisor.pid)
    assert wait_for(lambda: len(named('zc-warm')) == POOL_SIZE), process_table()
    [factory] = named('zc-factory')      # (a jail being cloned has the factory's name)
    assert sorted(int(fd) for fd in os.listdir('/proc/%d/fd' % factory)) == [0, 1, 2, 3]
    client = SupervisorClient(supervisor.socket_path)
    before = set(named('zc-warm'))
    for _ in range(POOL_SIZE + 1):      # more sessions than the pool holds
        report, out = run_capturing(client, c_program('hello', libc='musl'))
        assert report.status == 'ok' and out == b'hello, world\n', report
    assert wait_for(lambda: len(named('zc-warm')) == POOL_SIZE), process_table()
    assert not before & set(named('zc-warm')), 'a used jail is still waiting'
    assert_no_descendants(supervisor.pid)


def children_named(parent_pid):
    """A function: the pids of ``parent_pid``'s children with a given name."""
    return lambda name: [pid for pid, (parent, comm) in process_table().items()
                         if comm == name and parent == parent_pid]


def test_supervisor_goes_on_when_its_factory_dies(supervisor, c_program):
    named = children_named(supervisor.pid)
    assert wait_for(lambda: len(named('zc-warm')) == POOL_SIZE), process_table()
    [factory] = named('zc-factory')
    os.kill(factory, 9)
    client = SupervisorClient(supervisor.socket_path)
    for _ in range(POOL_SIZE + 2):       # the pool runs dry: jails cloned on demand
        report, out = run_capturing(client, c_program('hello', libc='musl'))
        assert report.status == 'ok' and out == b'hello, world\n', report
    assert supervisor.process.poll() is None


def test_a_slow_client_does_not_hold_up_others(supervisor, c_program):
    """Requests are read from the event loop: a half-sent request waits, others run."""
    import json
    import socket
    import struct
    hello = c_program('hello', libc='musl')
    spec = SessionSpec(program=hello, argv=['hello'])
    body = json.dumps(spec.to_dict()).encode()
    message = struct.pack('>I', len(body)) + body
    slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    slow.connect(supervisor.socket_path)
    slow.sendall(message[:7])
    client = SupervisorClient(supervisor.socket_path)
    for _ in range(3):
        report, out = run_capturing(client, hello)
        assert report.status == 'ok' and out == b'hello, world\n', report
    slow.setblocking(False)
    with pytest.raises(BlockingIOError):      # still waiting for the rest, not refused
        slow.recv(1)
    slow.setblocking(True)
    slow.sendall(message[7:])
    reply = b''
    while True:
        chunk = slow.recv(65536)
        if not chunk:
            break
        reply += chunk
    slow.close()
    assert json.loads(reply[4:])['status'] == 'ok'


def test_garbage_request_gets_an_error_report(supervisor):
    import json
    import socket
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(supervisor.socket_path)
    sock.sendall(b'\x00\x00\x00\x05{nope')
    reply = sock.recv(65536)
    sock.close()
    report = json.loads(reply[4:])
    assert report['status'] == 'error' and report['reason'].startswith('bad request'), report
    assert supervisor.process.poll() is None
