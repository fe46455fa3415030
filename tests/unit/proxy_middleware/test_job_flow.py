"""A job through the proxy filter, over the wire, to a real object filter on a local socket.

The proxy side talks to a fake Swift (listings, HEAD/GET/PUT as the caller) and a fake ring
that points at an eventlet WSGI server running the object filter with a fake sandbox runner.
"""
import glob
import hashlib
import json
import os

import eventlet
import eventlet.wsgi
import pytest
from swift.common import swob
from swift.common.utils import get_logger

from tests.unit.fake_swift import FakeAuth, FakeSwift, call_app
from tests.unit.object_middleware.test_object_filter import FakeLocalObjects, FakeRunner
from zerocloud import object_middleware, proxy_middleware, wire
from zerocloud.object_middleware.config import ObjectConfig
from zerocloud.proxy_middleware.config import ProxyConfig

EXE = b'\x7fELF job flow executable'
ETAG = hashlib.md5(EXE).hexdigest()


class FakeRings:
    def __init__(self, nodes):
        self.nodes = nodes
        self.asked = []

    def candidates(self, policy_index, account, container=None, obj=None):
        self.asked.append((policy_index, account, container, obj))
        return 5, iter(self.nodes)


class NullLogger:
    def __init__(self):
        self.lines = []

    def __getattr__(self, name):
        return lambda *args, **kwargs: self.lines.append((name, args))


def unused_port():
    """A loopback port nobody listens on (bound, then released)."""
    sock = eventlet.listen(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture
def object_server(tmp_path):
    config = ObjectConfig.from_conf({'zerovm_work_dir': str(tmp_path)})
    runner, local = FakeRunner(), FakeLocalObjects(b'line one\n')
    app = object_middleware.ZerocloudObject(FakeSwift(), config, get_logger({}),
                                            {'bind_ip': 'obj1', 'bind_port': '6010'},
                                            runner=runner, local_objects=local)
    sock = eventlet.listen(('127.0.0.1', 0))
    server = eventlet.spawn(eventlet.wsgi.server, sock, app, log=NullLogger(),
                            log_output=False)
    yield sock.getsockname()[1], runner, local
    server.kill()


def fake_swift():
    app = FakeSwift()
    app.register('HEAD', '/v1/AUTH_test', 204)
    app.register('HEAD', '/v1/AUTH_test/data', 204, {'X-Backend-Storage-Policy-Index': '0'})
    app.register('HEAD', '/v1/AUTH_test/out', 204, {'X-Backend-Storage-Policy-Index': '0'})
    app.register('HEAD', '/v1/AUTH_test/data/in.txt', 200, {'Content-Length': '9'})
    app.register('HEAD', '/v1/AUTH_test/bin/exe', 200, {'Etag': ETAG})
    app.register('GET', '/v1/AUTH_test/bin/exe', 200, {'Etag': ETAG}, EXE)
    app.register('PUT', '/v1/AUTH_test/out/result', 201)
    return app


def job(**stdout):
    return json.dumps([{
        'name': 'grep', 'exec': {'path': 'swift://~/bin/exe', 'args': ['-v'],
                                 'env': {'MODE': 'x'}},
        'devices': [{'name': 'stdin', 'path': 'swift://~/data/in.txt'},
                    dict({'name': 'stdout'}, **stdout), {'name': 'stderr'}]}]).encode()


def run(app, rings, body, allowed=(('POST', '/v1/AUTH_test'),), conf=None):
    config = ProxyConfig.from_conf(conf or {})
    middleware = proxy_middleware.ZerocloudProxy(app, config, get_logger({}))
    middleware.services.rings = rings
    req = swob.Request.blank('/v1/AUTH_test', method='POST', body=body, headers={
        'X-Zerovm-Execute': '1.0', 'Content-Type': 'application/json'})
    req.environ['swift.authorize'] = FakeAuth(allowed + (('PUT', '/v1/AUTH_test/out/result'),
                                                         ('GET', '/v1/AUTH_test/data/*')))
    req.environ['REMOTE_USER'] = 'test,test:tester,AUTH_test'
    return middleware, call_app(middleware, req)


def test_job_runs_next_to_its_object_and_answers(object_server):
    port, runner, local = object_server
    rings = FakeRings([{'ip': '127.0.0.1', 'port': port, 'device': 'sdb1'}])
    app = fake_swift()
    _, (status, headers, body) = run(app, rings, job())
    assert status == 200, body
    assert body == b'got:line one\n' + EXE
    assert headers['X-Nexe-System'] == 'grep' and headers['X-Nexe-Status'] == 'ok'
    assert headers['X-Nexe-Retcode'] == '3' and headers['X-Nexe-Colocated'] == '1'
    assert headers['X-Nexe-Node'] == 'obj1:6010'
    assert local.opened == [('sdb1', '5', 'AUTH_test', 'data', 'in.txt', 0)]
    session = runner.sessions[0][0]
    env = session.environment()
    assert session.argv == ('grep', '-v')
    assert env['MODE'] == 'x' and env['REMOTE_USER'] == 'test:tester'
    assert env['LOCAL_OBJECT'] == 'on'
    assert 'HTTP_X_AUTH_TOKEN' not in env
    assert rings.asked == [(0, 'AUTH_test', 'data', 'in.txt')]
    assert not [c for c in app.calls if c.path == '/v1/AUTH_test/data/in.txt'], \
        'the input must not travel through the proxy'


@pytest.mark.parametrize('uses_newest', ['yes', 'no'])
def test_uses_newest_reads_what_the_proxy_reads_with_x_newest(object_server, uses_newest):
    port, _, _ = object_server
    rings = FakeRings([{'ip': '127.0.0.1', 'port': port, 'device': 'sdb1'}])
    app = fake_swift()
    _, (status, _, body) = run(app, rings, job(), conf={'zerovm_uses_newest': uses_newest})
    assert status == 200, body
    reads = [c for c in app.calls if c.method in ('GET', 'HEAD') and
             c.path == '/v1/AUTH_test/bin/exe']   # stdin is co-located: read from disk
    assert {c.method for c in reads} == {'GET', 'HEAD'}
    assert all(c.headers.get('X-Newest') == ('true' if uses_newest == 'yes' else None)
               for c in reads), [(c.method, c.path, c.headers.get('X-Newest')) for c in reads]


def test_output_is_published_with_type_and_meta(object_server):
    port, _, _ = object_server
    rings = FakeRings([{'ip': '127.0.0.1', 'port': port, 'device': 'sdb1'}])
    app = fake_swift()
    _, (status, _, body) = run(app, rings, job(path='swift://~/out/result',
                                                content_type='text/x-log',
                                                meta={'Source': 'job'}))
    assert status == 200 and body == EXE  # stdout went to the object, stderr to the body
    (put,) = [c for c in app.calls if c.method == 'PUT']
    assert put.path == '/v1/AUTH_test/out/result' and put.body == b'got:line one\n'
    assert put.headers['Content-Type'] == 'text/x-log'
    assert put.headers['X-Object-Meta-Source'] == 'job'


def test_repeated_run_does_not_resend_the_executable(object_server):
    port, runner, _ = object_server
    rings = FakeRings([{'ip': '127.0.0.1', 'port': port, 'device': 'sdb1'}])
    middleware, (status, _, _) = run(fake_swift(), rings, job())
    assert status == 200
    assert middleware.services.sent.known('127.0.0.1:%d/sdb1' % port, ETAG)


def test_dead_node_is_skipped_for_the_next_replica(object_server):
    port, runner, _ = object_server
    dead_port = unused_port()
    rings = FakeRings([{'ip': '127.0.0.1', 'port': dead_port, 'device': 'sda1'},
                       {'ip': '127.0.0.1', 'port': port, 'device': 'sdb1'}])
    _, (status, headers, _) = run(fake_swift(), rings, job())
    assert status == 200 and headers['X-Nexe-Status'] == 'ok'


def test_missing_input_is_404_naming_it(object_server):
    port, runner, local = object_server
    rings = FakeRings([{'ip': '127.0.0.1', 'port': port, 'device': 'sdb1'},
                       {'ip': '127.0.0.1', 'port': port, 'device': 'sdc1'}])
    _, (status, _, body) = run(fake_swift(), rings,
                               job().replace(b'data/in.txt', b'data/missing'))
    assert status == 404 and b'Error 404 Not Found while fetching /AUTH_test/data/missing' \
        in body
    assert [o[0] for o in local.opened] == ['sdb1', 'sdc1']  # every replica was asked
    assert runner.sessions == []


def test_input_in_a_missing_container_is_404_before_dispatch(object_server):
    port, runner, local = object_server
    rings = FakeRings([{'ip': '127.0.0.1', 'port': port, 'device': 'sdb1'}])
    _, (status, _, body) = run(fake_swift(), rings, job().replace(b'data/in.txt', b'gone/x'))
    assert status == 404 and b'/AUTH_test/gone/x' in body
    assert local.opened == [] and rings.asked == []


def test_bad_job_is_400_naming_the_field(object_server):
    port, runner, _ = object_server
    rings = FakeRings([])
    _, (status, _, body) = run(fake_swift(), rings, b'[{"name": "a", "exec": {"path": 5}}]')
    assert status == 400 and b'exec.path' in body


def test_no_server_available_is_503(object_server):
    rings = FakeRings([])
    _, (status, _, body) = run(fake_swift(), rings, job())
    assert status == 503 and b'no object server' in body


def test_forbidden_output_is_403_and_nothing_runs(object_server):
    port, runner, _ = object_server
    rings = FakeRings([{'ip': '127.0.0.1', 'port': port, 'device': 'sdb1'}])
    app = fake_swift()
    _, (status, _, _) = run(app, rings, job(path='swift://~/out/other'))
    assert status == 403 and runner.sessions == []


class RecordingApp:
    """Wraps the object filter to record the size of every EXECUTE body it receives."""

    def __init__(self, app):
        self.app = app
        self.body_sizes = []

    def __call__(self, env, start_response):
        self.body_sizes.append(int(env.get('CONTENT_LENGTH') or 0))
        return self.app(env, start_response)


@pytest.fixture
def recorded_server(tmp_path):
    config = ObjectConfig.from_conf({'zerovm_work_dir': str(tmp_path)})
    runner, local = FakeRunner(), FakeLocalObjects(b'line one\n')
    app = RecordingApp(object_middleware.ZerocloudObject(
        FakeSwift(), config, get_logger({}), {'bind_ip': 'obj1', 'bind_port': '6010'},
        runner=runner, local_objects=local))
    sock = eventlet.listen(('127.0.0.1', 0))
    server = eventlet.spawn(eventlet.wsgi.server, sock, app, log=NullLogger(),
                            log_output=False)
    yield sock.getsockname()[1], app, runner
    server.kill()


def test_executable_crosses_the_wire_once_for_repeated_runs(recorded_server):
    port, recorder, runner = recorded_server
    rings = FakeRings([{'ip': '127.0.0.1', 'port': port, 'device': 'sdb1'}])
    app = fake_swift()
    middleware, (status, _, _) = run(app, rings, job())
    assert status == 200
    req = swob.Request.blank('/v1/AUTH_test', method='POST', body=job(), headers={
        'X-Zerovm-Execute': '1.0', 'Content-Type': 'application/json'})
    req.environ['swift.authorize'] = FakeAuth((('POST', '/v1/AUTH_test'),
                                               ('GET', '/v1/AUTH_test/data/*')))
    status, headers, body = call_app(middleware, req)
    assert status == 200 and body == b'got:line one\n' + EXE
    first, second = recorder.body_sizes
    assert first - second >= len(EXE)  # the second dispatch carried no executable
    assert len(recorder.body_sizes) == 2  # and needed no 409 round trip
    exe_reads = [c for c in app.calls if c.method == 'GET' and c.path.endswith('/bin/exe')]
    assert len(exe_reads) == 1  # the proxy did not even read it from Swift again


def test_server_that_lost_its_cache_gets_the_executable_again(recorded_server, tmp_path):
    port, recorder, runner = recorded_server
    rings = FakeRings([{'ip': '127.0.0.1', 'port': port, 'device': 'sdb1'}])
    middleware, (status, _, _) = run(fake_swift(), rings, job())
    (cache,) = glob.glob(str(tmp_path / 'w-*' / 'executables'))  # the server's process dir
    for name in os.listdir(cache):
        os.unlink(os.path.join(cache, name))
    req = swob.Request.blank('/v1/AUTH_test', method='POST', body=job(), headers={
        'X-Zerovm-Execute': '1.0', 'Content-Type': 'application/json'})
    req.environ['swift.authorize'] = FakeAuth((('POST', '/v1/AUTH_test'),
                                               ('GET', '/v1/AUTH_test/data/*')))
    status, headers, body = call_app(middleware, req)
    assert status == 200 and headers['X-Nexe-Status'] == 'ok'
    assert len(recorder.body_sizes) == 3  # 409 "need executable", then the full request


def listing_pages(names, page):
    def handler(req):
        marker = req.params.get('marker', '')
        remaining = [n for n in names if n > marker][:page]
        return 200, {'Content-Type': 'application/json'}, json.dumps(
            [{'name': n} for n in remaining]).encode()
    return handler


def test_wildcards_expand_over_every_listing_page(object_server, monkeypatch):
    from zerocloud.proxy_middleware import swift_access
    monkeypatch.setattr(swift_access, 'LISTING_PAGE', 2)
    port, runner, local = object_server
    app = fake_swift()
    names = ['log%d.txt' % i for i in range(5)]
    app.handle('GET', '/v1/AUTH_test/data', listing_pages(names, 2))
    for name in names:
        app.register('HEAD', '/v1/AUTH_test/data/' + name, 200)
    rings = FakeRings([{'ip': '127.0.0.1', 'port': port, 'device': 'sdb1'}])
    body = job().replace(b'data/in.txt', b'data/log*.txt')
    _, (status, headers, _) = run(app, rings, body)
    assert status == 200, headers
    assert headers['X-Nexe-System'] == ','.join('grep-%d' % i for i in range(1, 6))
    assert headers['X-Nexe-Status'] == ','.join(['ok'] * 5)
    assert sorted(o[4] for o in local.opened) == names


def test_failed_session_publishes_no_output(object_server):
    from zerocloud.report import Report
    port, runner, _ = object_server
    runner.report = Report(status='timeout', reason='timeout: killed after 10 s')
    rings = FakeRings([{'ip': '127.0.0.1', 'port': port, 'device': 'sdb1'}])
    app = fake_swift()
    _, (status, headers, _) = run(app, rings, job(path='swift://~/out/result'))
    assert status == 200 and headers['X-Nexe-Status'] == 'timeout: killed after 10 s'
    assert [c for c in app.calls if c.method == 'PUT'] == []


def test_validation_rejection_is_reported(object_server):
    from zerocloud.report import Report
    port, runner, _ = object_server
    runner.report = Report(status='validation', reason='executable rejected',
                           validation=1, validation_reasons=('int 0x80 at 0x401000',))
    rings = FakeRings([{'ip': '127.0.0.1', 'port': port, 'device': 'sdb1'}])
    _, (status, headers, _) = run(fake_swift(), rings, job())
    assert status == 200 and headers['X-Nexe-Validation'] == '1'
    assert 'int 0x80' in headers['X-Nexe-Error']


def test_output_below_min_size_is_not_published(object_server):
    port, _, _ = object_server
    rings = FakeRings([{'ip': '127.0.0.1', 'port': port, 'device': 'sdb1'}])
    app = fake_swift()
    _, (status, headers, _) = run(app, rings, job(path='swift://~/out/result',
                                                   min_size=10 ** 6))
    assert status == 200 and headers['X-Nexe-Status'] == 'ok'
    assert [c for c in app.calls if c.method == 'PUT'] == []


def test_output_over_the_proxy_limit_is_413_naming_the_channel_and_not_run_again(
        object_server):
    port, runner, _ = object_server
    rings = FakeRings([{'ip': '127.0.0.1', 'port': port, 'device': 'sdb1'},
                       {'ip': '127.0.0.1', 'port': port, 'device': 'sdc1'}])
    config = ProxyConfig.from_conf({'zerovm_maxoutput': '5'})  # FakeRunner writes more
    middleware = proxy_middleware.ZerocloudProxy(fake_swift(), config, get_logger({}))
    middleware.services.rings = rings
    req = swob.Request.blank('/v1/AUTH_test', method='POST', body=job(), headers={
        'X-Zerovm-Execute': '1.0', 'Content-Type': 'application/json'})
    req.environ['swift.authorize'] = FakeAuth((('POST', '/v1/AUTH_test'),
                                               ('GET', '/v1/AUTH_test/data/*')))
    status, headers, body = call_app(middleware, req)
    assert status == 413, body
    assert headers['X-Nexe-Error'] == \
        'grep failed: grep: stdout: more than 5 bytes (zerovm_maxoutput)'
    assert len(runner.sessions) == 1


OTHER = b'a remote object\n' * 100
OTHER_ETAG = hashlib.md5(OTHER).hexdigest()


def job_with_remote_input():
    return json.dumps([{
        'name': 'grep', 'exec': {'path': 'swift://~/bin/exe'},
        'devices': [{'name': 'stdin', 'path': 'swift://~/data/in.txt'},
                    {'name': 'input', 'path': 'swift://~/data/other.txt'},
                    {'name': 'stdout'}, {'name': 'stderr'}]}]).encode()


def test_remote_input_reaches_a_server_once(recorded_server, tmp_path):
    port, recorder, runner = recorded_server
    rings = FakeRings([{'ip': '127.0.0.1', 'port': port, 'device': 'sdb1'}])
    app = fake_swift()
    app.register('HEAD', '/v1/AUTH_test/data/other.txt', 200, {'Etag': OTHER_ETAG})
    app.register('GET', '/v1/AUTH_test/data/other.txt', 200, {'Etag': OTHER_ETAG}, OTHER)
    middleware, (status, headers, _) = run(app, rings, job_with_remote_input())
    assert status == 200 and headers['X-Nexe-Status'] == 'ok'
    for _ in range(2):
        req = swob.Request.blank('/v1/AUTH_test', method='POST', body=job_with_remote_input(),
                                 headers={'X-Zerovm-Execute': '1.0',
                                          'Content-Type': 'application/json'})
        req.environ['swift.authorize'] = FakeAuth((('POST', '/v1/AUTH_test'),
                                                   ('GET', '/v1/AUTH_test/data/*')))
        status, headers, _ = call_app(middleware, req)
        assert status == 200 and headers['X-Nexe-Status'] == 'ok'
    first, second, third = recorder.body_sizes
    assert first - second >= len(OTHER) + len(EXE) and second == third
    reads = [c for c in app.calls if c.method == 'GET' and c.path.endswith('other.txt')]
    assert len(reads) == 1  # read from Swift once, for the first run only
    assert [s.device('input') for s, _ in runner.sessions] == [
        wire.Device('input', wire.READ, wire.REMOTE, OTHER_ETAG)] * 3
    (cached,) = glob.glob(str(tmp_path / 'w-*' / 'inputs' / OTHER_ETAG))
    assert open(cached, 'rb').read() == OTHER


def test_remote_input_not_matching_its_etag_is_refused(recorded_server):
    port, recorder, runner = recorded_server
    rings = FakeRings([{'ip': '127.0.0.1', 'port': port, 'device': 'sdb1'}])
    app = fake_swift()
    app.register('HEAD', '/v1/AUTH_test/data/other.txt', 200, {'Etag': OTHER_ETAG})
    app.register('GET', '/v1/AUTH_test/data/other.txt', 200, {}, b'changed meanwhile')
    _, (status, _, body) = run(app, rings, job_with_remote_input())
    assert status == 400 and b'do not match' in body and runner.sessions == []


@pytest.mark.parametrize('shuffle, refused', [('never', True), ('auto', False)])
def test_instance_with_more_channels_than_a_session_carries_is_400_naming_it(
        object_server, shuffle, refused):
    """4,096 mappers feeding one reducer: with its stdout the reducer would have one channel
    more than a session may (wire.MAX_SESSION_CHANNELS); refused up front with the way
    out, nothing is dispatched -- unless the job may run in waves, where the reducer's
    spooled inputs are one directory (here it is then dispatched: no server, a 503)."""
    exe = {'path': 'swift://~/bin/exe'}
    mappers = wire.MAX_SESSION_CHANNELS
    body = json.dumps([{'name': 'map', 'exec': exe, 'count': mappers, 'connect': ['reduce']},
                       {'name': 'reduce', 'exec': exe,
                        'devices': [{'name': 'stdout'}]}]).encode()
    app = fake_swift()
    middleware = proxy_middleware.ZerocloudProxy(
        app, ProxyConfig.from_conf({'zerovm_maxinstances': str(mappers + 1),
                                    'zerovm_shuffle_spool': shuffle}), get_logger({}))
    middleware.services.rings = FakeRings([])
    req = swob.Request.blank('/v1/AUTH_test', method='POST', body=body, headers={
        'X-Zerovm-Execute': '1.0', 'Content-Type': 'application/json'})
    req.environ['swift.authorize'] = FakeAuth((('POST', '/v1/AUTH_test'),))
    req.environ['REMOTE_USER'] = 'test,test:tester,AUTH_test'
    status, _, body = call_app(middleware, req)
    if not refused:
        assert status == 503 and b'no object server could run map-1' in body, body
        return
    assert status == 400, body
    assert b'reduce: 4097 channels' in body and b'at most 4096 per session' in body
    assert b'add a combining layer' in body


def test_a_session_that_never_started_is_retried_on_the_next_server(tmp_path):
    from zerocloud.object_middleware.runner import NotStarted
    servers = []
    for name in ('lost', 'good'):
        config = ObjectConfig.from_conf({'zerovm_work_dir': str(tmp_path / name)})
        runner, local = FakeRunner(), FakeLocalObjects(b'line one\n')
        app = object_middleware.ZerocloudObject(FakeSwift(), config, get_logger({}),
                                                {'bind_ip': name, 'bind_port': '6010'},
                                                runner=runner, local_objects=local)
        sock = eventlet.listen(('127.0.0.1', 0))
        servers.append((eventlet.spawn(eventlet.wsgi.server, sock, app, log=NullLogger(),
                                       log_output=False), sock.getsockname()[1], runner))

    def lost():
        raise NotStarted('sandbox supervisor lost before the program started')
    servers[0][2].block = lost
    rings = FakeRings([{'ip': '127.0.0.1', 'port': port, 'device': 'sdb1'}
                       for _, port, _ in servers])
    try:
        _, (status, headers, body) = run(fake_swift(), rings, job())
    finally:
        for server, _, _ in servers:
            server.kill()
    assert status == 200 and headers['X-Nexe-Status'] == 'ok', body
    assert headers['X-Nexe-Node'] == 'good:6010'
    assert len(servers[0][2].sessions) == len(servers[1][2].sessions) == 1


def test_no_server_could_run_it_names_every_server_tried(object_server):
    port, runner, _ = object_server
    dead_port = unused_port()
    rings = FakeRings([{'ip': '127.0.0.1', 'port': dead_port, 'device': 'sda1'},
                       {'ip': '127.0.0.1', 'port': dead_port, 'device': 'sdb1'}])
    _, (status, _, body) = run(fake_swift(), rings, job())
    assert status == 503, body
    assert (b'127.0.0.1:%d/sda1: ' % dead_port) in body
    assert (b'127.0.0.1:%d/sdb1: ' % dead_port) in body


def test_a_proxy_that_stops_waiting_stops_the_session(object_server):
    """The proxy's dispatch thread killed (cancel): the object server's runner is stopped
    at its next heartbeat, and its slot is free again."""
    port, runner, _ = object_server
    runner.block = lambda: eventlet.sleep(30)
    rings = FakeRings([{'ip': '127.0.0.1', 'port': port, 'device': 'sdb1'}])
    thread = eventlet.spawn(run, fake_swift(), rings, job())
    for _ in range(200):
        if runner.running:
            break
        eventlet.sleep(0.01)
    assert runner.running == 1
    thread.kill()
    for _ in range(300):
        if runner.cancelled:
            break
        eventlet.sleep(0.01)
    assert runner.cancelled == ['grep'] and runner.running == 0


def test_request_headers_reach_the_program_within_the_environment_budget(object_server):
    from zerocloud import limits
    port, runner, _ = object_server
    rings = FakeRings([{'ip': '127.0.0.1', 'port': port, 'device': 'sdb1'}])
    config = ProxyConfig.from_conf({})
    middleware = proxy_middleware.ZerocloudProxy(fake_swift(), config, get_logger({}))
    middleware.services.rings = rings
    headers = {'X-Zerovm-Execute': '1.0', 'Content-Type': 'application/json',
               'X-Name': swob.str_to_wsgi('Zoë')}
    headers.update(('X-Pad-%03d' % n, 'p' * 4000) for n in range(40))  # 160 KB of headers
    req = swob.Request.blank('/v1/AUTH_test', method='POST', body=job(), headers=headers)
    req.environ['swift.authorize'] = FakeAuth((('POST', '/v1/AUTH_test'),
                                               ('GET', '/v1/AUTH_test/data/*')))
    status, _, body = call_app(middleware, req)
    assert status == 200, body
    env = runner.sessions[0][0].environment()
    assert env['HTTP_X_NAME'] == 'Zoë'  # the header's UTF-8, as the program sees it
    assert 'HTTP_X_PAD_000' in env and 'HTTP_X_PAD_039' not in env
    request_share = {k: v for k, v in env.items() if k not in ('MODE',)
                     and not k.startswith('LOCAL_')}
    assert limits.argv_env_bytes((), request_share.items()) <= limits.MAX_REQUEST_ENV_BYTES


def test_a_co_located_large_object_is_sent_as_its_get_gives_it(object_server):
    """The object server finds a manifest, not the bytes (409 Need: object): the proxy
    sends the object's assembled bytes from its GET and the session runs with them."""
    from zerocloud.object_middleware.local_object import need_stream
    port, runner, local = object_server

    def manifest(*args, **kwargs):
        local.opened.append(args)
        raise need_stream('it is a static large object manifest')
    local.open = manifest
    rings = FakeRings([{'ip': '127.0.0.1', 'port': port, 'device': 'sdb1'}])
    app = fake_swift()
    app.register('GET', '/v1/AUTH_test/data/in.txt', 200, {}, b'assembled segments\n')
    _, (status, headers, body) = run(app, rings, job())
    assert status == 200 and headers['X-Nexe-Status'] == 'ok', body
    assert body.startswith(b'got:assembled segments\n')
    assert headers['X-Nexe-Colocated'] == '0' and len(local.opened) == 1
    session = runner.sessions[-1][0]
    assert session.device('stdin') == wire.Device('stdin', wire.READ, wire.REMOTE)
