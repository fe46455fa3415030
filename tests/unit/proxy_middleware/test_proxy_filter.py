"""The proxy filter over a fake Swift: routing, pass-through, limits, auth, forged headers."""
import json

import pytest
from swift.common import swob
from swift.common.registry import get_swift_info

from tests.unit.fake_swift import FakeAuth, FakeSwift, call_app
from zerocloud import proxy_middleware, wire
from zerocloud.proxy_middleware.config import ProxyConfig

JOB = json.dumps([{'name': 'a', 'exec': {'path': 'swift://a/c/exe'}}]).encode()


class RecordingRunner:
    def __init__(self):
        self.calls = []

    def __call__(self, services, req, route, body, payload=b'', image=None):
        self.calls.append((req, route, body))
        return swob.Response(status=200, body=b'ran\n')


def make(conf=None, allowed=(('POST', '/v1/AUTH_test'),)):
    app = FakeSwift()
    runner = RecordingRunner()
    config = ProxyConfig.from_conf(conf or {})
    from swift.common.utils import get_logger
    middleware = proxy_middleware.ZerocloudProxy(app, config, get_logger({}), runner)
    auth = FakeAuth(allowed)
    return middleware, app, runner, auth


def job_request(auth, body=JOB, path='/v1/AUTH_test', **headers):
    base = {'X-Zerovm-Execute': '1.0', 'Content-Type': 'application/json'}
    base.update(headers)
    req = swob.Request.blank(path, method='POST', headers=base, body=body)
    if auth is not None:
        req.environ['swift.authorize'] = auth
    return req


@pytest.mark.parametrize('method,path,headers', [
    ('GET', '/v1/AUTH_test/c/o', {}),
    ('PUT', '/v1/AUTH_test/c/o', {'X-Object-Meta-A': 'b', 'X-Backend-Zerocloud-Version': '1'}),
    ('POST', '/v1/AUTH_test', {'Content-Type': 'application/json'}),
    ('GET', '/info', {}),
    ('GET', '/v1', {'X-Zerovm-Execute': '1.0'}),
])
def test_plain_requests_pass_through_untouched(method, path, headers):
    middleware, app, runner, _ = make()
    app.register(method, path, 201, {'X-Fake': 'yes'}, b'downstream')
    req = swob.Request.blank(path, method=method, headers=headers, body=b'payload')
    status, out_headers, body = call_app(middleware, req)
    assert (status, out_headers['X-Fake'], body) == (201, 'yes', b'downstream')
    (call,) = app.calls
    assert call.body == b'payload'
    for name, value in headers.items():
        assert call.headers[name] == value  # not ours: nothing stripped or changed
    assert runner.calls == []


def test_job_post_is_handled_and_not_forwarded():
    middleware, app, runner, auth = make()
    status, _, body = call_app(middleware, job_request(auth))
    assert (status, body) == (200, b'ran\n')
    assert app.calls == []
    (req, route, job_body), = runner.calls
    assert (route.kind, route.account, job_body) == ('job', 'AUTH_test', JOB)
    assert auth.asked == [('POST', '/v1/AUTH_test')]


def test_forged_backend_headers_are_stripped():
    middleware, _, runner, auth = make()
    req = job_request(auth, **{'X-Backend-Zerocloud-Version': '1',
                               'X-Backend-Zerocloud-Executable-Etag': 'abc'})
    assert call_app(middleware, req)[0] == 200
    seen = runner.calls[0][0].headers
    assert not [name for name in seen if name.lower().startswith('x-backend-zerocloud')]


def test_body_over_maxconfig_is_413():
    middleware, _, runner, auth = make({'zerovm_maxconfig': '100'})
    status, _, body = call_app(middleware, job_request(auth, body=b'[' + b' ' * 100 + b']'))
    assert status == 413 and b'zerovm_maxconfig' in body
    assert runner.calls == []


def test_chunked_body_over_maxconfig_is_413():
    middleware, _, runner, auth = make({'zerovm_maxconfig': '10'})
    req = job_request(auth, body=b'x' * 50)
    del req.headers['Content-Length']
    req.environ['HTTP_TRANSFER_ENCODING'] = 'chunked'
    assert call_app(middleware, req)[0] == 413


def test_body_of_exactly_maxconfig_is_accepted():
    middleware, _, runner, auth = make({'zerovm_maxconfig': str(len(JOB))})
    assert call_app(middleware, job_request(auth))[0] == 200


def test_caller_without_post_right_gets_403_and_nothing_runs():
    middleware, app, runner, auth = make(allowed=())
    status, _, body = call_app(middleware, job_request(auth))
    assert status == 403 and b'POST /v1/AUTH_test' in body
    assert runner.calls == [] and app.calls == []


@pytest.mark.parametrize('content_type', ['application/x-tar', 'application/x-gzip'])
def test_a_tar_that_is_not_a_zapp_is_400_before_anything_runs(content_type):
    middleware, _, runner, auth = make()
    req = job_request(auth, **{'Content-Type': content_type})
    got_status, _, body = call_app(middleware, req)
    assert got_status == 400 and b'the zapp: corrupt tar' in body, body
    assert runner.calls == []


def test_open_and_api_segments_are_ours():
    middleware, app, runner, auth = make()
    for path, words in (('/open/AUTH_test/c', b'/open/ requests name an object'),
                        ('/api/AUTH_test', b'/api/ requests name a container')):
        req = swob.Request.blank(path)
        status, _, body = call_app(middleware, req)
        assert status == 400 and words in body
    assert app.calls == []


def test_unknown_execute_version_is_400():
    middleware, _, _, auth = make()
    status, _, body = call_app(middleware, job_request(auth, **{'X-Zerovm-Execute': '9.9'}))
    assert status == 400 and b'X-Zerovm-Execute' in body


def test_get_with_execute_header_is_405():
    middleware, _, _, auth = make()
    req = job_request(auth)
    req.method = 'GET'
    assert call_app(middleware, req)[0] == 405


@pytest.mark.parametrize('option,value', [
    ('zerovm_maxconfig', 'lots'), ('zerovm_maxconfig', '0'), ('zerovm_timeout', '-1'),
    ('zerovm_timeout', 'soon'), ('zerovm_prevalidate', 'maybe'), ('zerovm_maxinput', '1X'),
    ('zerovm_sysimage_devices', '/usr/lib/python'), ('zerovm_maxinstances', '0'),
    ('zerovm_use_cors', 'perhaps'), ('zerovm_conn_timeout', 'nan'),
])
def test_bad_option_fails_at_load_naming_it(option, value):
    with pytest.raises(ValueError, match=option):
        proxy_middleware.filter_factory({}, **{option: value})


@pytest.mark.parametrize('option,value', [
    ('zerovm_maxiops', '1G'),
])
def test_options_this_version_does_not_implement_stop_the_proxy(option, value):
    with pytest.raises(ValueError) as info:
        proxy_middleware.filter_factory({}, **{option: value})
    assert option in str(info.value) and 'not supported' in str(info.value)


def test_prevalidate_is_parsed_and_advertised():
    assert ProxyConfig.from_conf({'zerovm_prevalidate': 'no'}).prevalidate is False
    config = ProxyConfig.from_conf({'zerovm_prevalidate': 'yes'})
    assert config.prevalidate is True and config.info()['prevalidate'] is True


def test_options_are_typed_and_advertised_in_info():
    factory = proxy_middleware.filter_factory(
        {'swift_dir': '/tmp/x'}, zerovm_maxconfig='64K', zerovm_timeout='2.5',
        zerovm_sysimage_devices='python /usr/lib/py tools')
    filter_ = factory(FakeSwift())
    assert filter_.config.max_config_bytes == 65536
    assert filter_.config.timeout_seconds == 2.5
    assert filter_.config.sysimage_devices == ('python', 'tools')
    assert filter_.config.swift_dir == '/tmp/x'
    info = get_swift_info()['zerocloud']
    assert info['max_config_bytes'] == 65536 and info['sysimage_devices'] == ['python', 'tools']
    assert info['max_session_channels'] == wire.MAX_SESSION_CHANNELS == 4096
    assert 'max_iops' not in info, 'nothing advertised that does not exist'


def test_defaults_match_the_spec():
    config = ProxyConfig.from_conf({})
    assert (config.max_config_bytes, config.timeout_seconds) == (65536, 10.0)
    assert config.max_input_bytes == config.max_output_bytes == 1024 ** 3


def test_execute_header_outside_the_api_version_passes_through():
    middleware, app, runner, auth = make()
    app.register('POST', '/auth/v1.0', 200, {}, b'auth')
    req = job_request(auth, path='/auth/v1.0')
    assert call_app(middleware, req)[2] == b'auth' and runner.calls == []


def test_our_own_fault_is_500_without_a_traceback():
    middleware, _, runner, auth = make()

    def broken(services, req, route, body, payload=b'', image=None):
        raise KeyError('internal detail')
    middleware.run_job = broken
    status, _, body = call_app(middleware, job_request(auth))
    assert status == 500 and b'internal error' in body and b'Traceback' not in body
    assert b'internal detail' not in body


@pytest.mark.parametrize('path,content_type,kind', [
    ('/v1/AUTH_test', 'text/x-python', 'script'),
    ('/v1/AUTH_test', '', 'script'),
    ('/v1/AUTH_test/c/o', 'text/plain', 'script'),
    ('/v1/AUTH_test', 'application/json; charset=utf-8', 'job'),
])
def test_job_and_script_forms_reach_the_runner(path, content_type, kind):
    middleware, _, runner, auth = make()
    req = job_request(auth, body=b'#!file://python:python\n', path=path,
                      **{'Content-Type': content_type})
    assert call_app(middleware, req)[0] == 200
    (_, route, _), = runner.calls
    assert route.kind == kind
    assert auth.asked == [('POST', '/v1/AUTH_test')]


@pytest.mark.parametrize('path,content_type', [
    ('/v1/AUTH_test/c/o', 'application/json'), ('/v1/AUTH_test/c', 'text/plain')])
def test_wrong_paths_for_jobs_and_scripts_are_400(path, content_type):
    middleware, _, runner, auth = make()
    req = job_request(auth, path=path, **{'Content-Type': content_type})
    assert call_app(middleware, req)[0] == 400 and runner.calls == []


# What the fuzz found (issue 10): hostile text never becomes a 500, and every message can be
# encoded, answered and logged.

class RecordingLogger:
    """Records each call; :meth:`formatted` renders the messages as a log handler would."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        return lambda *args, **kwargs: self.calls.append((name, args))

    def formatted(self, level):
        return [args[0] % args[1:] for name, args in self.calls if name == level]


def real_filter(logger=None):
    """The filter with the real job runner (parsing happens before any Swift request)."""
    app = FakeSwift()
    middleware = proxy_middleware.ZerocloudProxy(app, ProxyConfig.from_conf({}),
                                                 logger or RecordingLogger())
    return middleware, app, FakeAuth((('POST', '/v1/AUTH_test'),))


@pytest.mark.parametrize('body, where', [
    (b'[{"\\ud800": 1, "name": "n", "exec": {"path": "swift://a/c/exe"}}]', b"[0]['\\ud800']"),
    (b'{"name": "n", "exec": {"path": "swift://a/c/exe", "env": {"\\udfff": "x"}}}',
     b"[0].exec.env['\\udfff']"),
    (b'[{"name": "n", "exec": {"path": "swift://a/c/exe"}, "devices": [{"name": "stdout", '
     b'"meta": {"k": "\\udc80"}}]}]', b'[0].devices[0].meta.k'),
])
def test_a_lone_surrogate_in_a_json_job_is_400_naming_the_place(body, where):
    middleware, app, auth = real_filter()
    status, headers, answer = call_app(middleware, job_request(auth, body=body))
    assert status == 400 and answer.startswith(where + b': ') and b'lone surrogate' in answer
    assert headers['Content-Type'] == 'text/plain; charset=utf-8'
    answer.decode('utf-8')
    assert app.calls == []


@pytest.mark.parametrize('path, content_type', [
    ('/v1/AUTH_test/c/%FF%FE', 'text/x-python'),      # was a 500 (quote of the object)
    ('/v1/AUTH_%FF/c/o', 'text/x-python'),              # was a 500 (the 403 message)
    ('/v1/AUTH_%FF', 'application/json'),
    ('/v1/AUTH_test/c/%ED%A0%80', 'text/x-python'),     # an encoded surrogate
    ('/v1/AUTH_test/%00/o', 'text/x-python'),
    ('/open/AUTH_test/c/%FF', ''),
])
def test_a_path_that_is_not_utf8_is_412_as_swift_answers_it(path, content_type):
    middleware, _, runner, auth = make()
    req = job_request(auth, body=b'#!file://python:python\n', path=path,
                      **{'Content-Type': content_type})
    status, _, body = call_app(middleware, req)
    assert status == 412 and b'not valid UTF-8' in body and runner.calls == []
    assert path.encode().upper() in body.upper()


def test_our_own_fault_with_unencodable_text_is_500_and_logged_encodably():
    logger = RecordingLogger()
    middleware, _, auth = real_filter(logger)

    def broken(services, req, route, body, payload=b'', image=None):
        raise ValueError('bad \ud800 text')
    middleware.run_job = broken
    status, _, body = call_app(middleware, job_request(auth))
    assert status == 500 and b'internal error' in body
    message, = logger.formatted('error')
    message.encode('utf-8')
    assert 'bad \\ud800 text' in message and 'Traceback' in message


@pytest.mark.parametrize('value, shown', [
    ('\xc3\xa9', "'\u00e9'"),                 # UTF-8 bytes of e-acute, as WSGI gives them
    ('\xff', "'\\udcff'"),                     # not UTF-8
    ('a' * 5000, "'" + 'a' * 76 + '...'),      # bounded
])
def test_an_unsupported_execute_value_is_shown_readably_and_bounded(value, shown):
    middleware, _, _, auth = make()
    req = job_request(auth)
    req.environ['HTTP_X_ZEROVM_EXECUTE'] = value
    status, _, body = call_app(middleware, req)
    assert status == 400 and body.decode('utf-8').startswith(
        'X-Zerovm-Execute: unsupported value %s (expected 1.0)' % shown)


@pytest.mark.parametrize('content_type', [None, '', 'text/plain'])
@pytest.mark.parametrize('body', [JOB, b'\n  ' + JOB, b'{"name": "a"}'])
def test_a_json_job_without_its_content_type_is_told_so(content_type, body):
    middleware, app, auth = real_filter()
    req = job_request(auth, body=body)
    if content_type is None:
        del req.headers['Content-Type']
    else:
        req.headers['Content-Type'] = content_type
    status, _, answer = call_app(middleware, req)
    assert status == 400 and b'Content-Type: application/json' in answer
    assert app.calls == []


def test_a_script_posted_to_a_container_names_the_path():
    middleware, _, runner, auth = make()
    req = job_request(auth, path='/v1/AUTH_test/c', **{'Content-Type': 'text/plain'})
    status, _, body = call_app(middleware, req)
    assert status == 400 and b'not to a container (/v1/AUTH_test/c)' in body


@pytest.mark.parametrize('devices', [
    [{'name': 'stdin', 'path': 'swift://~/c'}],                       # was a 400 from a server
    [{'name': 'stdin', 'path': 'swift://~/c/o'}, {'name': 'input', 'path': 'swift://~/c'}],
])                                                                    # was a 500 (KeyError)
def test_a_container_as_input_is_not_yet_supported_naming_it(devices):
    middleware, app, auth = real_filter()
    job = [{'name': 'n', 'exec': {'path': 'swift://a/c/exe'}, 'devices': devices}]
    status, _, body = call_app(middleware, job_request(auth, body=json.dumps(job).encode()))
    device = devices[-1]['name']
    assert status == 501 and ('a container as input (%s of n: swift://AUTH_test/c)' % device
                              ).encode() in body
    assert app.calls == []
