"""The proxy's memory of recent HEADs (:mod:`zerocloud.proxy_middleware.etag_cache`): bound,
expiry, authorization on every hit, and an overwritten executable's old bytes never run
beyond the bound nor sent under a stale ETag."""
import hashlib

import pytest
from swift.common import swob
from swift.common.utils import get_logger

from tests.unit.fake_swift import FakeAuth, call_app
from tests.unit.proxy_middleware.test_job_flow import EXE, ETAG, FakeRings, job
from tests.unit.proxy_middleware.test_job_flow import fake_swift as job_flow_swift
from tests.unit.proxy_middleware import test_job_flow
from zerocloud import proxy_middleware
from zerocloud.proxy_middleware import etag_cache, sources
from zerocloud.proxy_middleware.config import ProxyConfig
from zerocloud.proxy_middleware.swift_access import SwiftAccess

object_server = test_job_flow.object_server   # the fixture: a real object filter
NEW_EXE = b'\x7fELF the new executable'
NEW_ETAG = hashlib.md5(NEW_EXE).hexdigest()


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_an_entry_lives_for_its_ttl_then_is_forgotten():
    clock = Clock()
    heads = etag_cache.HeadCache(ttl_seconds=2.0, clock=clock)
    heads.put('/a/c/o', 'e1', 5)
    clock.now += 1.9
    assert heads.get('/a/c/o') == ('e1', 5)
    clock.now += 0.1
    assert heads.get('/a/c/o') is None and len(heads) == 0


def test_the_cache_is_bounded_oldest_first_and_keeps_no_empty_etag():
    heads = etag_cache.HeadCache(max_entries=2)
    heads.put('/a/c/1', 'e1', 1)
    heads.put('/a/c/2', 'e2', 2)
    heads.put('/a/c/3', 'e3', 3)
    heads.put('/a/c/manifest', '', 9)
    assert len(heads) == 2 and heads.get('/a/c/1') is None
    assert heads.get('/a/c/3') == ('e3', 3) and heads.get('/a/c/manifest') is None
    heads.forget('/a/c/3')
    assert heads.get('/a/c/3') is None


def test_the_default_bound_is_a_few_seconds():
    assert 0 < etag_cache.HEAD_CACHE_SECONDS <= 5


def fake_swift():
    """The job flow's fake Swift, with the executable's container."""
    app = job_flow_swift()
    app.register('HEAD', '/v1/AUTH_test/bin', 204, {'X-Backend-Storage-Policy-Index': '0'})
    return app


def swift_as(app, allowed):
    req = swob.Request.blank('/v1/AUTH_test', method='POST')
    req.environ['swift.authorize'] = FakeAuth(allowed)
    req.environ['REMOTE_USER'] = 'someone'
    return SwiftAccess(app, req), req.environ['swift.authorize']


def heads_of(app):
    return [call.path for call in app.calls if call.method == 'HEAD' and call.path.count('/') > 3]


def test_a_hit_saves_the_head_but_still_authorizes_the_caller():
    app = fake_swift()
    heads = etag_cache.HeadCache()
    swift, auth = swift_as(app, [('GET', '/v1/AUTH_test/bin/*')])
    first = sources.resolve(swift, '/AUTH_test/bin/exe', 1 << 20, heads)
    second = sources.resolve(swift, '/AUTH_test/bin/exe', 1 << 20, heads)
    assert (first.etag, second.etag) == (ETAG, ETAG)
    assert heads_of(app) == ['/v1/AUTH_test/bin/exe']          # one HEAD for two jobs
    assert ('GET', '/v1/AUTH_test/bin/exe') in auth.asked      # the hit was authorized


def test_a_caller_the_acl_refuses_gets_the_heads_refusal_despite_the_cache():
    app = fake_swift()
    heads = etag_cache.HeadCache()
    owner, _ = swift_as(app, [('GET', '/v1/AUTH_test/bin/*')])
    sources.resolve(owner, '/AUTH_test/bin/exe', 1 << 20, heads)
    app.register('HEAD', '/v1/AUTH_test/bin/exe', 403)   # what Swift says to the stranger
    stranger, auth = swift_as(app, [])
    with pytest.raises(swob.HTTPException) as raised:
        sources.resolve(stranger, '/AUTH_test/bin/exe', 1 << 20, heads)
    assert raised.value.status_int == 403
    assert ('GET', '/v1/AUTH_test/bin/exe') in auth.asked
    assert heads_of(app) == ['/v1/AUTH_test/bin/exe'] * 2   # refused hit: asked Swift


def test_a_symlink_is_never_remembered():
    app = fake_swift()
    app.register('HEAD', '/v1/AUTH_test/bin/link', 200, {
        'Etag': ETAG, 'Content-Location': '/v1/AUTH_test/private/exe'})
    heads = etag_cache.HeadCache()
    swift, _ = swift_as(app, [('GET', '/v1/AUTH_test/bin/*')])
    sources.resolve(swift, '/AUTH_test/bin/link', 1 << 20, heads)
    assert heads.get('/AUTH_test/bin/link') is None


def test_a_get_whose_etag_changed_sends_nothing_and_forgets_the_path():
    app = fake_swift()
    heads = etag_cache.HeadCache()
    swift, _ = swift_as(app, [('GET', '/v1/AUTH_test/bin/*')])
    source = sources.resolve(swift, '/AUTH_test/bin/exe', 1 << 20, heads)
    app.register('GET', '/v1/AUTH_test/bin/exe', 200, {'Etag': NEW_ETAG}, NEW_EXE)
    with pytest.raises(sources.SourceChanged):
        with source.open():
            pass
    assert heads.get('/AUTH_test/bin/exe') is None


def overwrite(app):
    app.register('HEAD', '/v1/AUTH_test/bin/exe', 200, {'Etag': NEW_ETAG})
    app.register('GET', '/v1/AUTH_test/bin/exe', 200, {'Etag': NEW_ETAG}, NEW_EXE)


def proxy(port, app, heads=None):
    middleware = proxy_middleware.ZerocloudProxy(app, ProxyConfig.from_conf({}),
                                                 get_logger({}))
    middleware.services.rings = FakeRings([{'ip': '127.0.0.1', 'port': port, 'device': 'sdb1'}])
    if heads is not None:
        middleware.services.heads = heads
    return middleware


def submit(middleware):
    """POST the job as the account owner; ``(status, body)``."""
    req = swob.Request.blank('/v1/AUTH_test', method='POST', body=job(), headers={
        'X-Zerovm-Execute': '1.0', 'Content-Type': 'application/json'})
    req.environ['swift.authorize'] = FakeAuth((
        ('POST', '/v1/AUTH_test'), ('PUT', '/v1/AUTH_test/out/result'),
        ('GET', '/v1/AUTH_test/data/*'), ('GET', '/v1/AUTH_test/bin/*')))
    req.environ['REMOTE_USER'] = 'test,test:tester,AUTH_test'
    status, _, body = call_app(middleware, req)
    return status, body


def test_an_overwritten_executable_runs_its_new_bytes_once_the_bound_passed(object_server):
    port, _, _ = object_server
    app, clock = fake_swift(), Clock()
    middleware = proxy(port, app, etag_cache.HeadCache(clock=clock))
    status, body = submit(middleware)
    assert status == 200 and body.endswith(EXE)
    overwrite(app)
    clock.now += etag_cache.HEAD_CACHE_SECONDS - 0.1   # within the bound: the old bytes
    assert submit(middleware) == (200, body)
    clock.now += 0.1
    status, body = submit(middleware)
    assert status == 200 and body.endswith(NEW_EXE)


def test_a_stale_etag_never_carries_the_new_bytes(object_server):
    """Within the bound, on a server that does not hold the old bytes: the GET's ETag is not
    the remembered one, nothing is sent (503), and the next job runs the new bytes."""
    port, runner, _ = object_server
    app = fake_swift()
    middleware = proxy(port, app)
    middleware.services.heads.put('/AUTH_test/bin/exe', 'f' * 32, len(EXE))  # stale
    overwrite(app)
    status, body = submit(middleware)
    assert status == 503 and b'changed' in body and runner.sessions == []
    status, body = submit(middleware)
    assert status == 200 and body.endswith(NEW_EXE)
