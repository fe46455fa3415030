"""The sandbox adapter: wire session -> SessionSpec, and a real session through the filter.

The last test runs the real sandbox in this process (``run_local``) behind the object filter,
so the filter's channel files (local object, spools, outputs) are proven to work in the jail.
"""
import hashlib

from swift.common import swob
from swift.common.utils import get_logger

from tests.unit.fake_swift import FakeSwift, call_app
from tests.unit.object_middleware.test_object_filter import FakeLocalObjects
from zerocloud import object_middleware, wire
from zerocloud.object_middleware.config import ObjectConfig
from zerocloud.object_middleware.runner import build_spec

SESSION = {'name': 'a', 'argv': ['cat', '-x'], 'env': {'A': 'b'},
           'executable': {'etag': 'e'}, 'images': [], 'timeout_seconds': 99,
           'devices': [{'name': 'stdin', 'access': 'read', 'source': 'local'},
                       {'name': 'stdout', 'access': 'write'},
                       {'name': 'stderr', 'access': 'write'}]}


def test_spec_of_a_swift_executable():
    config = ObjectConfig.from_conf({'zerovm_timeout': '3', 'zerovm_maxnexemem': '256M'})
    spec, order = build_spec(SESSION, '/cache/e', config)
    assert spec.program == '/cache/e' and spec.argv == ('cat', '-x')
    assert dict(spec.env) == {'A': 'b'}
    assert order == ['stdin', 'stdout', 'stderr']
    assert [(c.device, c.access, c.kind) for c in spec.channels] == [
        ('stdin', 'r', 'file'), ('stdout', 'w', 'file'), ('stderr', 'w', 'file')]
    assert spec.limits.wall_seconds == 3  # the client cannot raise the operator's timeout
    assert spec.limits.memory_bytes == 256 * 1024 ** 2


def test_spec_of_an_image_program():
    session = dict(SESSION, executable={'image': 'python', 'path': 'python'},
                   images=['python'])
    spec, _ = build_spec(session, None, ObjectConfig.from_conf({}))
    assert spec.program == 'file://python:python'
    assert [(i.name, i.host_path, i.mount_point) for i in spec.images] == [('python', '', '/')]


def test_real_session_through_the_filter(tmp_path, c_program):
    from zerocloud.sandbox.session import run_local

    def runner(session, executable_path, fds, config):
        spec, order = build_spec(session, executable_path, config)
        return run_local(spec, [fds[name] for name in order])
    with open(c_program('sb_cat'), 'rb') as handle:
        exe = handle.read()
    config = ObjectConfig.from_conf({'zerovm_work_dir': str(tmp_path)})
    middleware = object_middleware.ZerocloudObject(
        FakeSwift(), config, get_logger({}), {}, runner=runner,
        local_objects=FakeLocalObjects(b'from the disk\n'))
    session = dict(SESSION, argv=['cat'],
                   executable={'etag': hashlib.md5(exe).hexdigest()})
    req = swob.Request.blank('/sda1/1/a/c/o', method='EXECUTE',
                             body=wire.encode_request(session, executable=exe), headers={
                                 wire.VERSION_HEADER: '1',
                                 wire.EXECUTABLE_ETAG_HEADER: hashlib.md5(exe).hexdigest()})
    status, _, payload = call_app(middleware, req)
    parts = wire.read_parts(wire.bytes_reader(payload), 1 << 20)
    report = wire.decode_json('report', parts['report'])
    assert status == 200 and report['status'] == 'ok', report
    assert parts['out:stdout'] == b'from the disk\n'


def test_sessions_through_the_supervisor_and_its_restart(tmp_path, c_program):
    from zerocloud.object_middleware.runner import SandboxRunner
    runner = SandboxRunner(str(tmp_path), get_logger({}))
    config = ObjectConfig.from_conf({})
    _, order = build_spec(dict(SESSION, argv=['cat']), c_program('sb_cat'), config)
    try:
        for attempt in range(2):
            files = {name: open(tmp_path / ('%s-%d' % (name, attempt)), 'w+b')
                     for name in order}
            files['stdin'].write(b'attempt %d\n' % attempt)
            files['stdin'].flush()
            files['stdin'].seek(0)
            report = runner(dict(SESSION, argv=['cat']), c_program('sb_cat'),
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
