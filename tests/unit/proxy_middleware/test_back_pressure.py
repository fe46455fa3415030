"""Back-pressure through the proxy filter: full object servers mean "later", the job's
deadline ends the wait, connected jobs that cannot get every slot get a clear 503.

The proxy runs over a fake Swift; sessions go over HTTP to the real object filter (fake
sandbox runner) or to tiny WSGI servers that answer what a test needs.
"""
import json

import eventlet
import pytest
from swift.common import swob
from swift.common.utils import get_logger

from tests.unit.fake_swift import FakeAuth, FakeSwift, call_app
from tests.unit.loopback import serve
from tests.unit.object_middleware.test_object_filter import FakeLocalObjects, FakeRunner
from tests.unit.proxy_middleware.test_job_flow import FakeRings, fake_swift
from zerocloud import object_middleware, wire
from zerocloud import proxy_middleware
from zerocloud.object_middleware.config import ObjectConfig
from zerocloud.proxy_middleware.config import ProxyConfig


class Statuses:
    """WSGI wrapper recording the status of every answer."""

    def __init__(self, app):
        self.app = app
        self.seen = []

    def __call__(self, env, start_response):
        def recording(status, headers, exc_info=None):
            self.seen.append(int(status.split()[0]))
            return start_response(status, headers, exc_info)
        return self.app(env, recording)


@pytest.fixture
def small_server(tmp_path):
    """An object filter that runs one session at a time and queues none (every other
    session is answered 503 busy); its runner holds each session 20 ms."""
    config = ObjectConfig.from_conf({'zerovm_work_dir': str(tmp_path), 'zerovm_maxpool': '1',
                                     'zerovm_maxqueue': '0'})
    runner = FakeRunner()
    most = []

    def hold():
        most.append(runner.running)
        eventlet.sleep(0.02)
    runner.block = hold
    app = Statuses(object_middleware.ZerocloudObject(
        FakeSwift(), config, get_logger({}), {'bind_ip': 'obj1', 'bind_port': '6010'},
        runner=runner, local_objects=FakeLocalObjects(b'')))
    node, thread = serve(app)
    yield node, runner, app, most
    thread.kill()


def counted_job(count, **extra):
    node = {'name': 'a', 'exec': {'path': 'swift://~/bin/exe'}, 'count': count,
            'devices': [{'name': 'stdout'}, {'name': 'stderr'}]}
    node.update(extra)
    return json.dumps([node]).encode()


def proxy(nodes, **options):
    """A proxy filter configured with ``options`` whose ring offers ``nodes``."""
    middleware = proxy_middleware.ZerocloudProxy(
        fake_swift(), ProxyConfig.from_conf(options), get_logger({}))
    middleware.services.rings = FakeRings(nodes)
    return middleware


def send(middleware, body):
    """POST the job ``body``; ``(status, headers, body)``."""
    req = swob.Request.blank('/v1/AUTH_test', method='POST', body=body, headers={
        'X-Zerovm-Execute': '1.0', 'Content-Type': 'application/json'})
    req.environ['swift.authorize'] = FakeAuth((('POST', '/v1/AUTH_test'),))
    req.environ['REMOTE_USER'] = 'test,test:tester,AUTH_test'
    return call_app(middleware, req)


def post(nodes, body, **options):
    return send(proxy(nodes, **options), body)


def test_a_full_server_is_tried_again_until_every_session_ran(small_server):
    node, runner, app, most = small_server
    # the proxy allows 6 in flight, the server takes 1: the other 5 are 503 busy, retried
    status, headers, body = post([node], counted_job(6), zerovm_server_slots='6')
    assert status == 200, body
    assert headers['X-Nexe-Status'] == ','.join(['ok'] * 6)
    assert len(runner.sessions) == 6 and max(most) == 1
    assert app.seen.count(503) >= 5 and app.seen.count(200) == 6


def test_the_proxy_keeps_no_more_than_its_bound_in_flight(small_server):
    node, runner, app, most = small_server
    status, headers, _ = post([node], counted_job(6), zerovm_server_slots='1')
    assert status == 200 and headers['X-Nexe-Status'] == ','.join(['ok'] * 6)
    assert app.seen == [200] * 6   # never more sent than the server can take: no 503 at all


def test_a_small_job_is_not_starved_by_a_big_one_on_the_same_server(small_server):
    node, runner, _, _ = small_server
    middleware, ended = proxy([node], zerovm_server_slots='1'), []

    def job(name, count):
        status, headers, _ = send(middleware, counted_job(count, name=name))
        ended.append(name)
        return status, headers['X-Nexe-Status']
    big = eventlet.spawn(job, 'big', 40)
    while len(runner.sessions) < 2:   # the big job holds the slot, the rest of it waits
        eventlet.sleep(0.005)
    small = eventlet.spawn(job, 'small', 3)
    assert small.wait() == (200, 'ok,ok,ok')
    assert big.wait() == (200, ','.join(['ok'] * 40))
    assert ended == ['small', 'big']   # it took turns with the big job's waiting sessions
    order = [session.name.split('-')[0] for session, _ in runner.sessions]
    assert order.count('small') == 3 and order.index('small') < 8


def always(status, headers=()):
    def app(env, start_response):
        env['wsgi.input'].read()
        start_response(status, [('Content-Length', '5')] + list(headers))
        return [b'full\n']
    return Statuses(app)


def test_busy_until_the_deadline_fails_the_job_naming_it():
    busy = always('503 Service Unavailable', [(wire.BUSY_HEADER, '1')])
    node, thread = serve(busy)
    try:
        status, headers, body = post([node], counted_job(2), zerovm_job_timeout='0.5')
    finally:
        thread.kill()
    assert status == 503, body
    reason = 'the job did not end within zerovm_job_timeout (0.5 s): 0 of 2 sessions had ended'
    assert body.decode().strip() == reason
    assert headers['X-Nexe-Error'] == reason
    assert len(busy.seen) >= 2 and set(busy.seen) == {503}   # tried again and again


def test_a_503_that_is_not_busy_moves_on_as_before():
    down = always('503 Service Unavailable')
    node, thread = serve(down)
    try:
        status, _, body = post([node], counted_job(1), zerovm_job_timeout='30')
    finally:
        thread.kill()
    assert status == 503 and b'no object server could run a' in body
    assert b'answered 503 full' in body and down.seen == [503]   # not retried


def test_a_connected_job_that_cannot_get_every_slot_is_a_clear_503(small_server):
    node, runner, _, _ = small_server
    status, headers, body = post([node], counted_job(3, connect=['a']),
                                 zerovm_server_slots='2')
    assert status == 503, body
    assert b'a connected job needs 3 session slots at once' in body
    assert b'1 object server(s) have 2 free (zerovm_server_slots = 2 each' in body
    assert 'needs 3 session slots' in headers['X-Nexe-Error']
    assert runner.sessions == []   # nothing started


def test_job_options_are_typed_and_advertised():
    config = ProxyConfig.from_conf({'zerovm_job_timeout': '90', 'zerovm_server_slots': '4'})
    assert (config.job_timeout_seconds, config.server_slots) == (90.0, 4)
    assert config.info()['job_timeout_seconds'] == 90.0
    defaults = ProxyConfig.from_conf({})
    assert defaults.max_instances == 100_000 and defaults.job_timeout_seconds == 600.0
    assert defaults.server_slots == 10
    for option, value in (('zerovm_job_timeout', '0'), ('zerovm_job_timeout', 'soon'),
                          ('zerovm_server_slots', '0'), ('zerovm_server_slots', 'x')):
        with pytest.raises(ValueError, match=option):
            ProxyConfig.from_conf({option: value})
