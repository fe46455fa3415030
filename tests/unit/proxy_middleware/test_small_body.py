"""A session request streaming no object and no larger than SMALL_BODY_BYTES is sent at
once, without the ``Expect: 100-continue`` round trip; one streaming an object asks first
(:mod:`zerocloud.proxy_middleware.dispatch`).  Over a socket, to a real object filter."""
import glob
import os

import pytest
from swift.common import swob
from swift.common.utils import get_logger

from tests.unit.fake_swift import FakeAuth, FakeSwift, call_app
from tests.unit.loopback import serve
from tests.unit.object_middleware.test_object_filter import FakeLocalObjects, FakeRunner
from tests.unit.proxy_middleware.test_job_flow import EXE, FakeRings, fake_swift, job
from zerocloud import object_middleware, proxy_middleware
from zerocloud.object_middleware.config import ObjectConfig
from zerocloud.proxy_middleware import dispatch
from zerocloud.proxy_middleware.config import ProxyConfig


class ExpectRecorder:
    """Wraps the object filter: records each request's ``Expect`` header and length."""

    def __init__(self, app):
        self.app = app
        self.seen = []

    def __call__(self, env, start_response):
        self.seen.append((env.get('HTTP_EXPECT'), int(env.get('CONTENT_LENGTH') or 0)))
        return self.app(env, start_response)


@pytest.fixture
def server(tmp_path):
    config = ObjectConfig.from_conf({'zerovm_work_dir': str(tmp_path)})
    app = ExpectRecorder(object_middleware.ZerocloudObject(
        FakeSwift(), config, get_logger({}), {'bind_ip': 'obj1', 'bind_port': '6010'},
        runner=FakeRunner(), local_objects=FakeLocalObjects(b'line one\n')))
    node, thread = serve(app)
    yield node['port'], app, tmp_path
    thread.kill()


def submit(middleware):
    req = swob.Request.blank('/v1/AUTH_test', method='POST', body=job(), headers={
        'X-Zerovm-Execute': '1.0', 'Content-Type': 'application/json'})
    req.environ['swift.authorize'] = FakeAuth((('POST', '/v1/AUTH_test'),
                                               ('GET', '/v1/AUTH_test/data/*')))
    status, _, body = call_app(middleware, req)
    return status, body


def proxy(port):
    middleware = proxy_middleware.ZerocloudProxy(fake_swift(), ProxyConfig.from_conf({}),
                                                 get_logger({}))
    middleware.services.rings = FakeRings([{'ip': '127.0.0.1', 'port': port,
                                            'device': 'sdb1'}])
    return middleware


def test_a_cached_executable_means_no_expect_round_trip(server):
    port, recorder, _ = server
    middleware = proxy(port)
    assert submit(middleware) == (200, b'got:line one\n' + EXE)
    assert submit(middleware) == (200, b'got:line one\n' + EXE)
    (first, first_length), (second, second_length) = recorder.seen
    assert first == '100-continue' and first_length >= len(EXE)   # streams the executable
    assert second is None and second_length <= dispatch.SMALL_BODY_BYTES


def test_a_small_body_the_server_cannot_use_is_sent_again_with_the_executable(server):
    """The server lost its copy: it answers 409 "need" to the small body, and the proxy
    sends the executable (asking first) on the same job."""
    port, recorder, work_dir = server
    middleware = proxy(port)
    assert submit(middleware)[0] == 200
    for cached in glob.glob(os.path.join(str(work_dir), '**', 'executables', '*'),
                            recursive=True):
        os.unlink(cached)
    assert submit(middleware) == (200, b'got:line one\n' + EXE)
    assert [expect for expect, _ in recorder.seen] == ['100-continue', None, '100-continue']
