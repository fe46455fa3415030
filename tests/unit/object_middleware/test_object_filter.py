"""The object filter over a fake object server: pass-through, admission, sessions, config.

These drive the filter with ``call_app`` (no socket); :mod:`.test_execute_over_http` runs it
behind a real eventlet WSGI server (heartbeats, hang-ups, descriptors).
"""
import dataclasses
import hashlib
import json
import os
import tempfile
import weakref

import eventlet
import pytest
from greenlet import GreenletExit
from swift.common import swob
from swift.common.utils import get_logger

from tests.unit.fake_swift import FakeSwift, call_app
from zerocloud import object_middleware, wire, wire_decode
from zerocloud.object_middleware.config import ObjectConfig
from zerocloud.object_middleware.local_object import LocalObject
from zerocloud.object_middleware.runner import NotStarted
from zerocloud.report import Report

EXE = b'\x7fELF fake executable'
EXE_ETAG = hashlib.md5(EXE).hexdigest()


class FakeRunner:
    """A sandbox runner: ``runner(session, executable_path, fds, config) -> Report``.

    Records ``sessions`` (``(wire.Session, executable path)``), writes ``got:`` and stdin to
    stdout and the executable's bytes to stderr, and returns ``report``.  ``block``, when
    set, is called first inside the session: it may wait (green), or raise (``NotStarted``,
    any error).  ``running`` counts the sessions inside the runner now; ``cancelled`` names
    those stopped from outside (their green thread killed: the proxy hung up).
    """

    def __init__(self):
        self.sessions = []
        self.block = None
        self.report = Report(status='ok', retcode=3)
        self.running = 0
        self.cancelled = []

    def __call__(self, session, executable_path, fds, config):
        self.sessions.append((session, executable_path))
        self.running += 1
        try:
            if self.block:
                self.block()
        except GreenletExit:
            self.cancelled.append(session.name)
            raise
        finally:
            self.running -= 1
        data = os.pread(fds['stdin'], 1 << 20, 0) if 'stdin' in fds else b''
        os.write(fds['stdout'], b'got:' + data)
        if executable_path:
            with open(executable_path, 'rb') as handle:
                os.write(fds['stderr'], handle.read())
        return self.report


def _remove_files(paths):
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


class FakeLocalObjects:
    """Local objects as linked temporary files, removed when the fake goes (or, at the
    latest, when the test process exits: ``weakref.finalize``, not ``__del__``, which an
    exiting interpreter may skip: hundreds of ``zc-local-*`` files were left in /tmp)."""

    def __init__(self, data=b'local object bytes'):
        self.data = data
        self.opened = []
        self.paths = []
        weakref.finalize(self, _remove_files, self.paths)

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


READ_LOCAL = wire.Device('stdin', wire.READ, wire.LOCAL)
OUTS = (wire.Device('stdout', wire.WRITE), wire.Device('stderr', wire.WRITE))
SESSION = wire.Session(
    name='a', argv=('a',), env=(('X', '1'),), executable=wire.Executable(etag=EXE_ETAG),
    devices=(READ_LOCAL,) + OUTS,
    limits=wire.SessionLimits(timeout_seconds=30.0, max_input_bytes=1 << 30,
                              max_output_bytes=1 << 30))


def with_stdin(source, etag=''):
    return dataclasses.replace(SESSION, devices=(wire.Device('stdin', wire.READ, source,
                                                             etag),) + OUTS)


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
        wire.VERSION_HEADER: wire.WIRE_VERSION,
        'X-Backend-Storage-Policy-Index': '0'})


def parts_of(payload):
    return wire_decode.read_parts(wire_decode.bytes_reader(payload), 1 << 24)


def report_of(payload):
    return wire_decode.decode_json('report', parts_of(payload)['report'])


def spools_left(tmp_path):
    """Spool files anywhere under the work directory base (the process directory is
    ``<base>/w-<pid>-<random>``)."""
    return [name for _root, _dirs, names in os.walk(tmp_path) for name in names
            if name.startswith('channel-')]


def process_dir(middleware, tmp_path):
    path = middleware.work_dir()
    assert os.path.dirname(path) == str(tmp_path) and os.path.basename(path).startswith('w-')
    return path


def test_session_runs_on_local_object_and_streams_back(tmp_path):
    middleware, app, runner, local = make(tmp_path)
    body = wire.encode_request(SESSION, executable=EXE)
    status, headers, payload = call_app(middleware, execute_request(body))
    assert status == 200 and headers[wire.NODE_HEADER] == '127.0.0.1:6010'
    parts = parts_of(payload)
    assert parts['out:stdout'] == b'got:local object bytes'
    assert parts['out:stderr'] == EXE
    assert parts[wire.WAIT] == b''      # the first frame: the headers go out at once
    report = wire_decode.decode_json('report', parts['report'])
    assert (report['status'], report['retcode'], report['local_object']) == ('ok', 3, True)
    assert (report['node'], report['retry']) == ('127.0.0.1:6010', False)
    assert local.opened == [('sda1', '7', 'AUTH_test', 'c', 'o', 0)]
    session = runner.sessions[0][0]
    assert isinstance(session, wire.Session) and session.devices == SESSION.devices
    env = session.environment()
    assert env['X'] == '1' and env['LOCAL_OBJECT'] == 'on'
    assert env['LOCAL_PATH_INFO'] == '/AUTH_test/c/o' and env['LOCAL_CONTENT_LENGTH'] == '18'
    assert env['LOCAL_HTTP_X_OBJECT_META_COLOR'] == 'blue'
    assert env['LOCAL_DOCUMENT_ROOT'] == '/dev/stdin'
    assert app.calls == [] and spools_left(tmp_path) == []
    assert middleware.admission.running == 0


def test_executable_is_cached_and_not_needed_again(tmp_path):
    middleware, _, runner, _ = make(tmp_path)
    first = wire.encode_request(SESSION, executable=EXE)
    assert call_app(middleware, execute_request(first))[0] == 200
    cached = os.path.join(process_dir(middleware, tmp_path), 'executables', EXE_ETAG)
    assert runner.sessions[0][1] == cached and os.stat(cached).st_mode & 0o777 == 0o555
    status, _, payload = call_app(middleware, execute_request(wire.encode_request(SESSION)))
    assert status == 200 and parts_of(payload)['out:stderr'] == EXE
    assert runner.sessions[1][1] == cached and spools_left(tmp_path) == []


def test_executable_without_etag_runs_from_its_spool_and_is_not_cached(tmp_path):
    middleware, _, runner, _ = make(tmp_path)
    session = dataclasses.replace(SESSION, executable=wire.Executable())
    status, _, payload = call_app(middleware, execute_request(
        wire.encode_request(session, executable=EXE), etag=''))
    assert status == 200 and parts_of(payload)['out:stderr'] == EXE
    assert not os.path.exists(os.path.join(process_dir(middleware, tmp_path), 'executables'))
    assert spools_left(tmp_path) == []


def test_executable_in_many_frames_is_one_executable(tmp_path):
    middleware, _, runner, _ = make(tmp_path)
    body = (wire.encode_frame(wire.SESSION, SESSION.to_json()) +
            b''.join(wire.encode_frame(wire.EXECUTABLE, EXE[i:i + 3])
                     for i in range(0, len(EXE), 3)) + wire.encode_end())
    status, _, payload = call_app(middleware, execute_request(body))
    assert status == 200 and parts_of(payload)['out:stderr'] == EXE


def test_uncached_executable_is_asked_for_and_nothing_runs(tmp_path):
    middleware, _, runner, local = make(tmp_path)
    status, headers, _ = call_app(middleware, execute_request(wire.encode_request(SESSION)))
    assert status == 409 and headers[wire.NEED_HEADER] == wire.NEED_EXECUTABLE
    assert runner.sessions == [] and local.opened == []
    assert middleware.admission.running == 0


def test_executable_not_matching_its_etag_is_400(tmp_path):
    middleware, _, runner, _ = make(tmp_path)
    body = wire.encode_request(SESSION, executable=b'other bytes')
    status, _, text = call_app(middleware, execute_request(body))
    assert status == 400 and b'ETag' in text and runner.sessions == []
    assert spools_left(tmp_path) == []


def test_executable_over_maxnexe_is_413_and_nothing_runs(tmp_path):
    middleware, _, runner, _ = make(tmp_path, {'zerovm_maxnexe': '10'})
    status, _, text = call_app(middleware, execute_request(
        wire.encode_request(SESSION, executable=EXE)))
    assert status == 413 and b'zerovm_maxnexe' in text and runner.sessions == []
    assert spools_left(tmp_path) == [] and middleware.admission.running == 0


def test_missing_local_object_is_404_naming_it(tmp_path):
    middleware, _, runner, _ = make(tmp_path)
    body = wire.encode_request(SESSION, executable=EXE)
    status, _, text = call_app(middleware, execute_request(body, '/sda1/7/AUTH_test/c/missing'))
    assert status == 404 and b'/AUTH_test/c/missing' in text and runner.sessions == []
    assert spools_left(tmp_path) == [] and middleware.admission.running == 0


def test_payload_stdin_comes_from_the_body(tmp_path):
    middleware, _, runner, local = make(tmp_path)
    body = wire.encode_request(with_stdin(wire.PAYLOAD), executable=EXE,
                               inputs={'stdin': b'posted'})
    status, _, payload = call_app(middleware, execute_request(body, '/sda1/7/AUTH_test'))
    assert status == 200 and local.opened == []
    assert parts_of(payload)['out:stdout'] == b'got:posted'
    assert report_of(payload)['local_object'] is False


def test_payload_not_sent_is_empty(tmp_path):
    middleware, _, runner, _ = make(tmp_path)
    body = wire.encode_request(with_stdin(wire.PAYLOAD), executable=EXE)
    status, _, payload = call_app(middleware, execute_request(body, '/sda1/7/AUTH_test'))
    assert status == 200 and parts_of(payload)['out:stdout'] == b'got:'


@pytest.mark.parametrize('body', [b'garbage', b'', wire.encode_request(SESSION)[:-3],
                                  wire.encode_frame(wire.EXECUTABLE, EXE) + wire.encode_end()])
def test_broken_body_is_400(tmp_path, body):
    middleware, _, runner, _ = make(tmp_path)
    assert call_app(middleware, execute_request(body))[0] == 400
    assert runner.sessions == [] and middleware.admission.running == 0


def session_json(change):
    data = json.loads(SESSION.to_json())
    change(data)
    return json.dumps(data).encode()


@pytest.mark.parametrize('change,named', [
    (lambda d: d.update(colour='blue'), b'session.colour: unknown field'),
    (lambda d: d['devices'][1].update(access='readwrite'), b'session.devices[1].access'),
    (lambda d: d['devices'][2].update(kind='socket'), b'session.devices[2].kind'),
    (lambda d: d['limits'].pop('timeout_seconds'), b'session.limits.timeout_seconds'),
    (lambda d: d.update(argv='a'), b'session.argv'),
])
def test_bad_or_unknown_session_field_is_400_naming_it(tmp_path, change, named):
    middleware, _, runner, _ = make(tmp_path)
    body = wire.encode_frame(wire.SESSION, session_json(change)) + wire.encode_end()
    status, _, text = call_app(middleware, execute_request(body))
    assert status == 400 and text.startswith(b'bad session: ' + named), text
    assert runner.sessions == []


@pytest.mark.parametrize('frame', ['in:stdout', 'in:stdin', 'in:nothing', 'banana'])
def test_frame_the_session_does_not_expect_is_400_naming_it(tmp_path, frame):
    middleware, _, runner, _ = make(tmp_path)
    body = (wire.encode_frame(wire.SESSION, SESSION.to_json()) +
            wire.encode_frame(frame, b'x') + wire.encode_end())
    status, _, text = call_app(middleware, execute_request(body))
    assert status == 400 and frame.encode() in text and runner.sessions == []
    assert spools_left(tmp_path) == []


def test_runner_crash_is_reported_not_a_traceback(tmp_path):
    middleware, _, runner, _ = make(tmp_path)

    def explode():
        raise RuntimeError('supervisor gone')
    runner.block = explode
    status, _, payload = call_app(middleware, execute_request(
        wire.encode_request(SESSION, executable=EXE)))
    report = report_of(payload)
    assert status == 200 and report['status'] == 'error' and 'supervisor gone' in report['reason']
    assert report['retry'] is False


def test_program_that_never_started_here_may_be_retried_elsewhere(tmp_path):
    middleware, _, runner, _ = make(tmp_path)

    def lost():
        raise NotStarted('sandbox supervisor lost before the program started: refused')
    runner.block = lost
    status, _, payload = call_app(middleware, execute_request(
        wire.encode_request(SESSION, executable=EXE)))
    report = report_of(payload)
    assert status == 200 and (report['status'], report['retry']) == ('error', True)
    assert report['reason'].startswith('sandbox supervisor lost before the program started')
    assert middleware.admission.running == 0 and spools_left(tmp_path) == []


@pytest.mark.parametrize('given,status,reason', [
    (Report(status='timeout'), 'timeout', 'timeout'),
    (Report(status='ok'), 'error', 'sandbox error: an ok report without exit code'),
    ('not a report', 'error', "sandbox error: the runner returned 'not a report'"),
])
def test_every_failure_has_a_status_and_a_reason(tmp_path, given, status, reason):
    middleware, _, runner, _ = make(tmp_path)
    runner.report = given
    _, _, payload = call_app(middleware, execute_request(
        wire.encode_request(SESSION, executable=EXE)))
    report = report_of(payload)
    assert report['status'] == status and report['reason'].startswith(reason)


@pytest.mark.parametrize('method,headers', [
    ('GET', {}), ('PUT', {wire.VERSION_HEADER: '2'}), ('POST', {wire.VERSION_HEADER: '2'}),
    ('EXECUTE', {}),
])
def test_everything_else_passes_through_untouched(tmp_path, method, headers):
    middleware, app, runner, _ = make(tmp_path)
    app.register(method, '/sda1/7/a/c/o', 204, {'X-Fake': '1'})
    req = swob.Request.blank('/sda1/7/a/c/o', method=method, headers=headers, body=b'data')
    status, out, _ = call_app(middleware, req)
    assert (status, out['X-Fake']) == (204, '1')
    assert app.calls[0].body == b'data' and runner.sessions == []


@pytest.mark.parametrize('version', ['1', '3', ''])
def test_other_wire_version_is_400(tmp_path, version):
    middleware, _, runner, _ = make(tmp_path)
    req = execute_request(wire.encode_request(SESSION, executable=EXE))
    req.headers[wire.VERSION_HEADER] = version
    status, _, text = call_app(middleware, req)
    assert status == 400 and b'version' in text and runner.sessions == []


@pytest.mark.parametrize('path', ['/sda1/7', '/sda1/7/AUTH_test/c'])
def test_bad_path_is_400(tmp_path, path):
    middleware, _, runner, _ = make(tmp_path)
    status, _, text = call_app(middleware, execute_request(
        wire.encode_request(SESSION, executable=EXE), path))
    assert status == 400 and b'path' in text and runner.sessions == []


def test_local_device_without_object_is_400(tmp_path):
    middleware, _, runner, _ = make(tmp_path)
    status, _, text = call_app(middleware, execute_request(
        wire.encode_request(SESSION, executable=EXE), '/sda1/7/AUTH_test'))
    assert status == 400 and b'no object' in text and runner.sessions == []


def test_admission_beyond_pool_and_queue_is_503(tmp_path):
    middleware, _, runner, _ = make(tmp_path, {'zerovm_maxpool': '1', 'zerovm_maxqueue': '1'})
    release = eventlet.event.Event()
    runner.block = release.wait
    body = wire.encode_request(SESSION, executable=EXE)
    results = []
    pool = eventlet.GreenPool()
    for _ in range(2):
        pool.spawn(lambda: results.append(call_app(middleware, execute_request(body))[0]))
    eventlet.sleep(0.01)
    assert (middleware.admission.running, middleware.admission.waiting) == (1, 1)
    status, _, text = call_app(middleware, execute_request(body))
    assert status == 503 and b'busy' in text
    release.send()
    pool.waitall()
    assert results == [200, 200]
    assert (middleware.admission.running, middleware.admission.waiting) == (0, 0)


def test_connected_session_is_not_queued(tmp_path):
    middleware, _, runner, _ = make(tmp_path, {'zerovm_maxpool': '1', 'zerovm_maxqueue': '5'})
    release = eventlet.event.Event()
    runner.block = release.wait
    body = wire.encode_request(SESSION, executable=EXE)
    thread = eventlet.spawn(call_app, middleware, execute_request(body))
    eventlet.sleep(0.01)
    req = execute_request(body)
    req.headers[wire.CONNECTED_HEADER] = '1'
    assert call_app(middleware, req)[0] == 503
    release.send()
    assert thread.wait()[0] == 200


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
    assert (defaults.max_pool, defaults.max_queue) == (10, 3)


@pytest.mark.parametrize('option, value', [('zerovm_kill_timeout', '1')])
def test_options_this_version_does_not_implement_stop_the_server(option, value):
    with pytest.raises(ValueError) as info:
        object_middleware.filter_factory({}, **{option: value})
    assert option in str(info.value) and 'not supported' in str(info.value)


def test_prevalidate_is_parsed_and_off_by_default(tmp_path):
    factory = object_middleware.filter_factory({}, zerovm_prevalidate='yes',
                                               zerovm_work_dir=str(tmp_path))
    assert factory(FakeSwift()).config.prevalidate is True
    assert ObjectConfig.from_conf({}).prevalidate is False
    with pytest.raises(ValueError, match='zerovm_prevalidate'):
        ObjectConfig.from_conf({'zerovm_prevalidate': 'maybe'})


def test_session_limits_are_the_smaller_of_proxy_and_server():
    config = ObjectConfig.from_conf({'zerovm_timeout': '5', 'zerovm_maxinput': '100',
                                     'zerovm_maxoutput': '1000'})
    limits = config.session_limits(wire.SessionLimits(9.0, 50, 5000))
    assert limits == wire.SessionLimits(5.0, 50, 1000)


def test_large_remote_input_is_spooled_not_truncated(tmp_path):
    middleware, _, runner, _ = make(tmp_path)
    data = bytes(range(256)) * 2000
    body = wire.encode_request(with_stdin(wire.REMOTE), executable=EXE, inputs={'stdin': data})
    status, _, payload = call_app(middleware, execute_request(body, '/sda1/7/AUTH_test'))
    assert status == 200
    assert parts_of(payload)['out:stdout'] == b'got:' + data


def test_remote_input_is_cached_by_etag(tmp_path):
    middleware, _, runner, _ = make(tmp_path)
    data = b'remote bytes'
    session = with_stdin(wire.REMOTE, hashlib.md5(data).hexdigest())
    first = wire.encode_request(session, executable=EXE, inputs={'stdin': data})
    assert call_app(middleware, execute_request(first, '/sda1/7/AUTH_test'))[0] == 200
    status, _, payload = call_app(middleware, execute_request(
        wire.encode_request(session), '/sda1/7/AUTH_test'))
    assert status == 200 and parts_of(payload)['out:stdout'] == b'got:' + data


def test_remote_input_not_matching_its_etag_is_400(tmp_path):
    middleware, _, runner, _ = make(tmp_path)
    body = wire.encode_request(with_stdin(wire.REMOTE, 'a' * 32), executable=EXE,
                               inputs={'stdin': b'other'})
    status, _, text = call_app(middleware, execute_request(body, '/sda1/7/AUTH_test'))
    assert status == 400 and b'do not match' in text and runner.sessions == []


def test_remote_input_over_its_limit_is_413_naming_it(tmp_path):
    middleware, _, runner, _ = make(tmp_path, {'zerovm_maxinput': '100'})
    body = wire.encode_request(with_stdin(wire.REMOTE), executable=EXE,
                               inputs={'stdin': b'x' * 101})
    status, _, text = call_app(middleware, execute_request(body, '/sda1/7/AUTH_test'))
    assert status == 413 and b'zerovm_maxinput' in text and runner.sessions == []


def test_remote_input_neither_sent_nor_cached_is_asked_for(tmp_path):
    middleware, _, runner, _ = make(tmp_path)
    status, headers, _ = call_app(middleware, execute_request(
        wire.encode_request(with_stdin(wire.REMOTE, 'a' * 32), executable=EXE),
        '/sda1/7/AUTH_test'))
    assert status == 409 and headers[wire.NEED_HEADER] == wire.NEED_INPUTS
    assert runner.sessions == []


def test_remote_input_without_etag_not_sent_is_400(tmp_path):
    middleware, _, runner, _ = make(tmp_path)
    status, _, text = call_app(middleware, execute_request(
        wire.encode_request(with_stdin(wire.REMOTE), executable=EXE), '/sda1/7/AUTH_test'))
    assert status == 400 and b'stdin was not sent' in text and runner.sessions == []
