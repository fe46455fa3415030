"""The sandbox adapter: wire session -> SessionSpec, the supervisor's loss, cancellation, and
real sessions through the filter.

``test_real_session_through_the_filter`` runs the real sandbox in this process (``run_local``)
behind the object filter, so the filter's channel files (local object, spools, outputs) are
proven to work in the jail; the others start a real supervisor.
"""
import dataclasses
import hashlib
import os
import subprocess
import sys
import threading

import pytest
from swift.common import swob
from swift.common.utils import get_logger

from tests.unit.fake_swift import FakeSwift, call_app
from tests.unit.object_middleware.test_object_filter import FakeLocalObjects
from zerocloud import object_middleware, wire, wire_decode
from zerocloud.object_middleware.config import ObjectConfig
from zerocloud.object_middleware.runner import NotStarted, SandboxRunner, build_spec
from zerocloud.report import Report
from zerocloud.sandbox import client

SESSION = wire.Session(
    name='a', argv=('cat', '-x'), env=(('A', 'b'),), executable=wire.Executable(etag='e'),
    devices=(wire.Device('stdin', wire.READ, wire.LOCAL), wire.Device('stdout', wire.WRITE),
             wire.Device('stderr', wire.WRITE)),
    limits=wire.SessionLimits(timeout_seconds=99.0, max_input_bytes=1 << 40,
                              max_output_bytes=1000))


def test_spec_of_a_swift_executable():
    config = ObjectConfig.from_conf({'zerovm_timeout': '3', 'zerovm_maxnexemem': '256M',
                                     'zerovm_maxinput': '5M'})
    spec, order = build_spec(SESSION, '/cache/e', config)
    assert spec.program == '/cache/e' and spec.argv == ('cat', '-x')
    assert dict(spec.env) == {'A': 'b'}
    assert order == ['stdin', 'stdout', 'stderr']
    assert [(c.device, c.access, c.kind) for c in spec.channels] == [
        ('stdin', 'r', 'file'), ('stdout', 'w', 'file'), ('stderr', 'w', 'file')]
    # the smaller of the session's limits and the server's options
    assert spec.limits.wall_seconds == 3 and spec.limits.cpu_seconds == 3
    assert spec.limits.max_input_bytes == 5 * 1024 ** 2
    assert spec.limits.max_output_bytes == 1000
    assert spec.limits.memory_bytes == 256 * 1024 ** 2


def test_spec_of_an_image_program():
    session = dataclasses.replace(SESSION, executable=wire.Executable(image='python',
                                                                      path='python'),
                                  images=('python',))
    spec, _ = build_spec(session, None, ObjectConfig.from_conf({}))
    assert spec.program == 'file://python:python'
    assert [(i.name, i.host_path, i.mount_point) for i in spec.images] == [('python', '', '/')]


def test_spec_of_a_connected_session_has_its_socket_channels():
    mesh = wire.Mesh(rendezvous=('127.0.0.1', 1), token='t', instance='a',
                     timeout_seconds=5.0, ins=(('in/m1', 'm1'), ('in/m2', 'm2')),
                     outs=(('out/r', 'r'),))
    spec, order = build_spec(dataclasses.replace(SESSION, mesh=mesh), '/cache/e',
                             ObjectConfig.from_conf({}))
    assert order == ['stdin', 'stdout', 'stderr', 'in/m1', 'in/m2', 'out/r']
    assert [(c.access, c.kind) for c in spec.channels[3:]] == [
        ('r', 'socket'), ('r', 'socket'), ('w', 'socket')]


def test_spec_of_a_spooled_session_shows_its_inputs_as_one_directory():
    from zerocloud.shuffle import Shuffle
    shuffle = Shuffle.of('ab' * 16, 'red-1', ['merge'],
                         [('m%d' % n, '127.0.0.1:6010') for n in range(300)])
    spec, order = build_spec(dataclasses.replace(SESSION, shuffle=shuffle), '/cache/e',
                             ObjectConfig.from_conf({}))
    assert order == ['stdin', 'stdout', 'stderr', 'in', 'out/merge']
    assert [(c.access, c.kind) for c in spec.channels[3:]] == [('r', 'dir'), ('w', 'file')]
    # every entry of /dev/in may be open at once (a reducer polling all its inputs)
    assert spec.limits.max_open_files == 64 + 300


def test_real_session_through_the_filter(tmp_path, c_program):
    from zerocloud.sandbox.session import run_local

    def runner(session, executable_path, fds, config):
        spec, order = build_spec(session, executable_path, config)
        return run_local(spec, [fds[name] for name in order])
    with open(c_program('sb_cat'), 'rb') as handle:
        exe = handle.read()
    etag = hashlib.md5(exe).hexdigest()
    config = ObjectConfig.from_conf({'zerovm_work_dir': str(tmp_path)})
    middleware = object_middleware.ZerocloudObject(
        FakeSwift(), config, get_logger({}), {}, runner=runner,
        local_objects=FakeLocalObjects(b'from the disk\n'))
    session = dataclasses.replace(SESSION, argv=('cat',), executable=wire.Executable(etag))
    req = swob.Request.blank('/sda1/1/a/c/o', method='EXECUTE',
                             body=wire.encode_request(session, executable=exe), headers={
                                 wire.VERSION_HEADER: wire.WIRE_VERSION})
    status, _, payload = call_app(middleware, req)
    parts = wire_decode.read_parts(wire_decode.bytes_reader(payload), 1 << 20)
    report = wire_decode.decode_json('report', parts['report'])
    assert status == 200 and report['status'] == 'ok', report
    assert parts.get('out:stdout') == b'from the disk\n', (parts, report)


def channel_files(tmp_path, label, stdin=b''):
    files = {name: open(tmp_path / ('%s-%s' % (name, label)), 'w+b')
             for name in ('stdin', 'stdout', 'stderr')}
    files['stdin'].write(stdin)
    files['stdin'].flush()
    files['stdin'].seek(0)
    return files


def test_sessions_through_the_supervisor_and_its_restart(tmp_path, c_program):
    runner = SandboxRunner(str(tmp_path), get_logger({}))
    config = ObjectConfig.from_conf({})
    session = dataclasses.replace(SESSION, argv=('cat',))
    try:
        for attempt in range(2):
            files = channel_files(tmp_path, attempt, b'attempt %d\n' % attempt)
            report = runner(session, c_program('sb_cat'),
                            {name: handle.fileno() for name, handle in files.items()},
                            config)
            assert report.status == 'ok', report
            files['stdout'].seek(0)
            assert files['stdout'].read() == b'attempt %d\n' % attempt
            if attempt == 0:  # the supervisor dies: the next session starts a new one
                first_pid = runner._supervisor.pid
                runner._supervisor.process.kill()
                runner._supervisor.process.wait()
        assert runner._supervisor.pid != first_pid
    finally:
        runner._supervisor.stop()


def test_supervisor_lost_while_the_program_runs_is_an_error_not_a_retry(tmp_path, c_program):
    runner = SandboxRunner(str(tmp_path), get_logger({}))
    session = dataclasses.replace(SESSION, argv=('sb_limits', 'sleep'),
                                  limits=dataclasses.replace(SESSION.limits,
                                                             timeout_seconds=60.0))
    files = channel_files(tmp_path, 'lost')
    runner._ensure_supervisor()
    supervisor = runner._supervisor
    killer = threading.Timer(1.0, supervisor.process.kill)
    killer.start()
    try:
        report = runner(session, c_program('sb_limits', libc='musl'),
                        {name: handle.fileno() for name, handle in files.items()},
                        ObjectConfig.from_conf({'zerovm_timeout': '60'}))
    finally:
        killer.cancel()
        supervisor.stop()
    assert report.status == 'error' and report.reason.startswith('sandbox supervisor lost')
    assert runner._supervisor is None      # the next session starts a new supervisor


class FakeClient:
    """Stands in for ``SupervisorClient``: each run pops the next outcome."""
    outcomes = []

    def __init__(self, socket_path):
        pass

    def run(self, spec, fds):
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


@pytest.fixture
def fake_supervisor(tmp_path, monkeypatch):
    """A SandboxRunner over :class:`FakeClient`; ``starts`` records each (re)start."""
    monkeypatch.setattr(client, 'SupervisorClient', FakeClient)
    runner = SandboxRunner(str(tmp_path), get_logger({}))
    starts = []
    monkeypatch.setattr(runner, '_ensure_supervisor', lambda restart=False:
                        starts.append(restart))

    def run(*outcomes):
        FakeClient.outcomes = list(outcomes)
        fds = {'stdin': 0, 'stdout': 1, 'stderr': 2}
        return runner(SESSION, '/cache/e', fds, ObjectConfig.from_conf({}))
    return run, starts


def test_supervisor_lost_before_it_took_the_session_twice_is_not_started(fake_supervisor):
    run, starts = fake_supervisor
    with pytest.raises(NotStarted, match='sandbox supervisor lost before the program '
                                         'started: refused again'):
        run(client.SupervisorError('refused'), client.SupervisorError('refused again'))
    assert starts == [False, True]


def test_supervisor_lost_before_it_took_the_session_once_is_restarted(fake_supervisor):
    run, starts = fake_supervisor
    report = run(client.SupervisorError('refused'), Report(status='ok', retcode=0))
    assert report.status == 'ok' and starts == [False, True]


def test_supervisor_that_cannot_start_is_not_started(fake_supervisor, monkeypatch, tmp_path):
    run, starts = fake_supervisor

    def cannot_start(socket_path, **_options):
        raise client.SupervisorError('the sandbox supervisor exited at start (status 1)')
    monkeypatch.setattr(client, 'start_supervisor', cannot_start)
    runner = SandboxRunner(str(tmp_path), get_logger({}))
    with pytest.raises(NotStarted, match='exited at start'):
        runner(SESSION, '/cache/e', {'stdin': 0, 'stdout': 1, 'stderr': 2},
               ObjectConfig.from_conf({}))


def test_supervisor_lost_after_it_took_the_session_is_not_run_again(fake_supervisor):
    run, starts = fake_supervisor
    report = run(client.SupervisorError('closed the connection without a report',
                                        delivered=True), Report(status='ok', retcode=0))
    assert (report.status, starts) == ('error', [False])
    assert report.reason == ('sandbox supervisor lost: closed the connection without a '
                             'report')


PROXY_HANGS_UP = '''
import eventlet
eventlet.monkey_patch()
import eventlet.green.http.client
import eventlet.wsgi
import hashlib, logging, os, sys, time
from tests.unit.object_middleware.test_object_filter import FakeLocalObjects
from zerocloud import object_middleware, wire, wire_decode
from zerocloud.object_middleware.config import ObjectConfig

work_dir, program = sys.argv[1:]
with open(program, 'rb') as f:
    exe = f.read()
etag = hashlib.md5(exe).hexdigest()


def running():
    """Pids of the program (its process name: the start of its cache file's name)."""
    found = []
    for entry in os.listdir('/proc'):
        try:
            with open('/proc/%s/comm' % entry) as f:
                if f.read().strip() == etag[:15]:
                    found.append(entry)
        except OSError:
            continue
    return found


def wait_for(condition, seconds=30):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        eventlet.sleep(0.02)
    return condition()


class Quiet:
    def __getattr__(self, name):
        return lambda *args, **kwargs: None


config = ObjectConfig.from_conf({'zerovm_work_dir': work_dir, 'zerovm_timeout': '60'})
middleware = object_middleware.ZerocloudObject(
    None, config, logging.getLogger('test'), {}, local_objects=FakeLocalObjects(b'x'))
listener = eventlet.listen(('127.0.0.1', 0))
eventlet.spawn(eventlet.wsgi.server, listener, middleware, log=Quiet(), log_output=False)
session = wire.Session(
    name='s', argv=('sb_limits', 'sleep'), env=(), executable=wire.Executable(etag),
    devices=(wire.Device('stdin', 'read', 'local'), wire.Device('stdout', 'write')),
    limits=wire.SessionLimits(60.0, 1 << 20, 1 << 20))
conn = eventlet.green.http.client.HTTPConnection('127.0.0.1', listener.getsockname()[1])
conn.request('EXECUTE', '/sda1/1/a/c/o', body=wire.encode_request(session, executable=exe),
             headers={wire.VERSION_HEADER: wire.WIRE_VERSION})
response = conn.getresponse()
frames = iter(wire_decode.FrameReader(response.read, 1 << 20))
try:
    started = wait_for(running) and next(frames)[0] == wire.WAIT
    response.close()
    conn.close()
    stopped = wait_for(lambda: not running() and middleware.admission.running == 0)
    alive = middleware.runner._supervisor.process.poll() is None
    print(started, stopped, alive, [f for f in os.listdir(work_dir) if f.startswith('channel')])
finally:
    middleware.runner._supervisor.stop()
'''


def test_proxy_hanging_up_kills_the_real_program(tmp_path, c_program):
    """In an eventlet server (monkey-patched, as Swift's), with the real supervisor: when the
    proxy hangs up, killing the green thread that waits in the runner closes the client's
    socket and the supervisor kills the program at once (and goes on serving)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    done = subprocess.run(
        [sys.executable, '-c', PROXY_HANGS_UP, str(tmp_path),
         c_program('sb_limits', libc='musl')], capture_output=True, timeout=120, cwd=root)
    assert done.stdout.split() == [b'True', b'True', b'True', b'[]'], done.stderr[-3000:]


def test_sessions_losing_the_supervisor_together_forget_it_once(tmp_path):
    """Every session of a supervisor that died comes to forget it at the same time: the
    first that sees it dead stops and forgets it, the others return (before, they read
    ``self._supervisor.process`` after it had been set to None: AttributeError, a 500)."""
    import eventlet

    class Dead:
        stopped = 0

        class process:
            polls = 0

            @classmethod
            def poll(cls):
                cls.polls += 1
                return None if cls.polls < 3 else -9

        def stop(self):
            Dead.stopped += 1
    runner = SandboxRunner(str(tmp_path), get_logger({}))
    runner._supervisor = Dead()
    threads = [eventlet.spawn(runner._forget_supervisor) for _ in range(5)]
    for thread in threads:
        thread.wait()
    assert runner._supervisor is None and Dead.stopped == 1
