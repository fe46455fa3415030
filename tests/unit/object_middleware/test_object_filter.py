"""The object filter over a fake object server: pass-through, admission, sessions, config."""
import hashlib
import os
import tempfile

import pytest
from swift.common import swob
from swift.common.utils import get_logger

from tests.unit.fake_swift import FakeSwift, call_app
from zerocloud import object_middleware, wire
from zerocloud.object_middleware.config import ObjectConfig
from zerocloud.object_middleware.local_object import LocalObject
from zerocloud.report import Report

EXE = b'\x7fELF fake executable'
EXE_ETAG = hashlib.md5(EXE).hexdigest()


class FakeRunner:
    """Writes what it was given to stdout; ``block`` lets a test hold a session open."""

    def __init__(self):
        self.sessions = []
        self.block = None
        self.report = Report(status='ok', retcode=3)

    def __call__(self, session, executable_path, fds, config):
        self.sessions.append((session, executable_path))
        if self.block:
            self.block()
        data = os.pread(fds['stdin'], 1 << 20, 0) if 'stdin' in fds else b''
        os.write(fds['stdout'], b'got:' + data)
        with open(executable_path, 'rb') as handle:
            os.write(fds['stderr'], handle.read())
        return self.report


class FakeLocalObjects:
    def __init__(self, data=b'local object bytes'):
        self.data = data
        self.opened = []
        self.paths = []

    def __del__(self):
        for path in self.paths:
            os.unlink(path)

    def open(self, device, partition, account, container, obj, policy_index):
        self.opened.append((device, partition, account, container, obj, policy_index))
        if obj == 'missing':
            raise swob.HTTPNotFound(body='Error 404 Not Found while fetching /%s/%s/%s\n'
                                         % (account, container, obj))
        # A linked file, like a real object's data file (the jail cannot bind unlinked ones).
        handle, path = tempfile.mkstemp(prefix='zc-local-')
        os.write(handle, self.data)
        os.close(handle)
        self.paths.append(path)
        fd = os.open(path, os.O_RDONLY)
        return LocalObject(fd, '/%s/%s/%s' % (account, container, obj),
                           {'Content-Length': str(len(self.data)), 'ETag': 'e1',
                            'Content-Type': 'text/plain', 'X-Timestamp': '1.0',
                            'X-Object-Meta-Color': 'blue'})


SESSION = {'name': 'a', 'argv': ['a'], 'env': {'X': '1'},
           'executable': {'etag': EXE_ETAG},
           'devices': [{'name': 'stdin', 'access': 'read', 'source': 'local'},
                       {'name': 'stdout', 'access': 'write'},
                       {'name': 'stderr', 'access': 'write'}]}


def make(tmp_path, conf=None):
    app = FakeSwift()
    config = ObjectConfig.from_conf(dict(conf or {}, zerovm_work_dir=str(tmp_path)))
    runner, local = FakeRunner(), FakeLocalObjects()
    middleware = object_middleware.ZerocloudObject(
        app, config, get_logger({}), {'bind_ip': '127.0.0.1', 'bind_port': '6010'},
        runner=runner, local_objects=local)
    return middleware, app, runner, local


def execute_request(body, path='/sda1/7/AUTH_test/c/o', etag=EXE_ETAG):
    return swob.Request.blank(path, method='EXECUTE', body=body, headers={
        wire.VERSION_HEADER: '1', wire.EXECUTABLE_ETAG_HEADER: etag,
        'X-Backend-Storage-Policy-Index': '0'})


def test_session_runs_on_local_object_and_streams_back(tmp_path):
    middleware, app, runner, local = make(tmp_path)
    body = wire.encode_request(SESSION, executable=EXE)
    status, headers, payload = call_app(middleware, execute_request(body))
    assert status == 200 and headers[wire.NODE_HEADER] == '127.0.0.1:6010'
    parts = wire.read_parts(wire.bytes_reader(payload), 10 ** 6)
    assert parts['out:stdout'] == b'got:local object bytes'
    assert parts['out:stderr'] == EXE
    report = wire.decode_json('report', parts['report'])
    assert (report['status'], report['retcode'], report['local_object']) == ('ok', 3, True)
    assert report['node'] == '127.0.0.1:6010'
    assert local.opened == [('sda1', '7', 'AUTH_test', 'c', 'o', 0)]
    env = runner.sessions[0][0]['env']
    assert env['X'] == '1' and env['LOCAL_OBJECT'] == 'on'
    assert env['LOCAL_PATH_INFO'] == '/AUTH_test/c/o' and env['LOCAL_CONTENT_LENGTH'] == '18'
    assert env['LOCAL_HTTP_X_OBJECT_META_COLOR'] == 'blue'
    assert app.calls == []


def test_cached_executable_is_not_needed_again(tmp_path):
    middleware, _, runner, _ = make(tmp_path)
    first = wire.encode_request(SESSION, executable=EXE)
    assert call_app(middleware, execute_request(first))[0] == 200
    second = wire.encode_request(SESSION)
    status, _, payload = call_app(middleware, execute_request(second))
    assert status == 200
    assert wire.read_parts(wire.bytes_reader(payload), 10 ** 6)['out:stderr'] == EXE
    assert runner.sessions[0][1] == runner.sessions[1][1]


def test_uncached_executable_is_asked_for_and_nothing_runs(tmp_path):
    middleware, _, runner, local = make(tmp_path)
    status, headers, _ = call_app(middleware, execute_request(wire.encode_request(SESSION)))
    assert status == 409 and headers[wire.NEED_HEADER] == wire.NEED_EXECUTABLE
    assert runner.sessions == [] and local.opened == []


def test_executable_not_matching_its_etag_is_400(tmp_path):
    middleware, _, runner, _ = make(tmp_path)
    body = wire.encode_request(SESSION, executable=b'other bytes')
    status, _, text = call_app(middleware, execute_request(body))
    assert status == 400 and b'ETag' in text and runner.sessions == []


def test_missing_local_object_is_404_naming_it(tmp_path):
    middleware, _, runner, _ = make(tmp_path)
    body = wire.encode_request(SESSION, executable=EXE)
    status, _, text = call_app(middleware, execute_request(body, '/sda1/7/AUTH_test/c/missing'))
    assert status == 404 and b'/AUTH_test/c/missing' in text and runner.sessions == []


def test_payload_stdin_comes_from_the_body(tmp_path):
    middleware, _, runner, local = make(tmp_path)
    session = dict(SESSION, devices=[{'name': 'stdin', 'access': 'read', 'source': 'payload'},
                                     {'name': 'stdout', 'access': 'write'},
                                     {'name': 'stderr', 'access': 'write'}])
    body = wire.encode_request(session, executable=EXE, inputs={'stdin': b'posted'})
    status, _, payload = call_app(middleware, execute_request(body, '/sda1/7/AUTH_test'))
    assert status == 200 and local.opened == []
    assert wire.read_parts(wire.bytes_reader(payload), 10 ** 6)['out:stdout'] == b'got:posted'


@pytest.mark.parametrize('body', [b'garbage', b'', wire.encode_request(SESSION)[:-3]])
def test_broken_body_is_400(tmp_path, body):
    middleware, _, runner, _ = make(tmp_path)
    assert call_app(middleware, execute_request(body))[0] == 400
    assert runner.sessions == []


def test_runner_crash_is_reported_not_a_traceback(tmp_path):
    middleware, _, runner, _ = make(tmp_path)

    def explode():
        raise RuntimeError('supervisor gone')
    runner.block = explode
    status, _, payload = call_app(middleware, execute_request(
        wire.encode_request(SESSION, executable=EXE)))
    report = wire.decode_json('report', wire.read_parts(wire.bytes_reader(payload),
                                                        10 ** 6)['report'])
    assert status == 200 and report['status'] == 'error' and 'supervisor gone' in report['reason']


@pytest.mark.parametrize('method,headers', [
    ('GET', {}), ('PUT', {wire.VERSION_HEADER: '1'}), ('POST', {wire.VERSION_HEADER: '1'}),
    ('EXECUTE', {}),
])
def test_everything_else_passes_through_untouched(tmp_path, method, headers):
    middleware, app, runner, _ = make(tmp_path)
    app.register(method, '/sda1/7/a/c/o', 204, {'X-Fake': '1'})
    req = swob.Request.blank('/sda1/7/a/c/o', method=method, headers=headers, body=b'data')
    status, out, _ = call_app(middleware, req)
    assert (status, out['X-Fake']) == (204, '1')
    assert app.calls[0].body == b'data' and runner.sessions == []


def test_other_wire_version_is_400(tmp_path):
    middleware, _, runner, _ = make(tmp_path)
    req = execute_request(wire.encode_request(SESSION, executable=EXE))
    req.headers[wire.VERSION_HEADER] = '2'
    status, _, text = call_app(middleware, req)
    assert status == 400 and b'version' in text


def test_admission_beyond_pool_and_queue_is_503(tmp_path):
    import eventlet
    middleware, _, runner, _ = make(tmp_path, {'zerovm_maxpool': '1', 'zerovm_maxqueue': '1'})
    release = eventlet.event.Event()
    runner.block = release.wait
    body = wire.encode_request(SESSION, executable=EXE)
    results = []
    pool = eventlet.GreenPool()
    for _ in range(2):
        pool.spawn(lambda: results.append(call_app(middleware, execute_request(body))[0]))
    eventlet.sleep(0)
    assert (middleware.admission.running, middleware.admission.waiting) == (1, 1)
    status, _, text = call_app(middleware, execute_request(body))
    assert status == 503 and b'busy' in text
    release.send()
    pool.waitall()
    assert results == [200, 200]
    assert (middleware.admission.running, middleware.admission.waiting) == (0, 0)


@pytest.mark.parametrize('option,value', [
    ('zerovm_maxpool', '0'), ('zerovm_maxpool', 'ten'), ('zerovm_maxqueue', '-1'),
    ('zerovm_maxnexe', 'big'), ('zerovm_timeout', '0'), ('zerovm_kill_timeout', 'x'),
    ('zerovm_debug', 'sure'), ('zerovm_sysimage_devices', 'ruby'),
    ('zerovm_sysimage_devices', 'python relative/path'), ('zerovm_work_dir', 'relative'),
    ('zerovm_maxnexemem', '1K'),
])
def test_bad_option_fails_at_load_naming_it(option, value):
    with pytest.raises(ValueError, match=option):
        object_middleware.filter_factory({}, **{option: value})


def test_options_are_typed(tmp_path):
    factory = object_middleware.filter_factory(
        {}, zerovm_maxpool='4', zerovm_maxnexe='1M', zerovm_sysimage_devices='python /usr/x',
        zerovm_work_dir=str(tmp_path))
    config = factory(FakeSwift()).config
    assert (config.max_pool, config.max_nexe_bytes) == (4, 1024 ** 2)
    assert config.sysimages == {'python': '/usr/x'}
    defaults = ObjectConfig.from_conf({})
    assert (defaults.max_pool, defaults.max_queue, defaults.kill_timeout_seconds) == (10, 3, 1.0)


def test_executable_over_maxnexe_is_413_and_nothing_runs(tmp_path):
    middleware, _, runner, _ = make(tmp_path, {'zerovm_maxnexe': '10'})
    status, _, text = call_app(middleware, execute_request(
        wire.encode_request(SESSION, executable=EXE)))
    assert status == 413 and b'zerovm_maxnexe' in text and runner.sessions == []


def test_large_remote_input_is_spooled_not_truncated(tmp_path):
    middleware, _, runner, _ = make(tmp_path)
    session = dict(SESSION, devices=[{'name': 'stdin', 'access': 'read', 'source': 'remote'},
                                     {'name': 'stdout', 'access': 'write'},
                                     {'name': 'stderr', 'access': 'write'}])
    data = bytes(range(256)) * 2000
    body = wire.encode_request(session, executable=EXE, inputs={'stdin': data})
    status, _, payload = call_app(middleware, execute_request(body, '/sda1/7/AUTH_test'))
    assert status == 200
    assert wire.read_parts(wire.bytes_reader(payload), 1 << 24)['out:stdout'] == b'got:' + data


def test_remote_input_neither_sent_nor_cached_is_asked_for(tmp_path):
    middleware, _, runner, _ = make(tmp_path)
    session = dict(SESSION, devices=[
        {'name': 'stdin', 'access': 'read', 'source': 'remote', 'etag': 'a' * 32},
        {'name': 'stdout', 'access': 'write'}, {'name': 'stderr', 'access': 'write'}])
    status, headers, _ = call_app(middleware, execute_request(
        wire.encode_request(session, executable=EXE), '/sda1/7/AUTH_test'))
    assert status == 409 and headers[wire.NEED_HEADER] == wire.NEED_INPUTS
    assert runner.sessions == []
