"""The job_chain filter over a fake downstream app: chaining, identity, bounds, options."""
import json

import pytest
from swift.common import swob
from swift.common.registry import get_swift_info
from swift.common.utils import get_logger

from tests.unit.fake_swift import FakeAuth, call_app
from zerocloud import chain

JOB_HEADERS = {'X-Zerovm-Execute': '1.0', 'Content-Type': 'application/json'}


def job_text(name):
    return json.dumps([{'name': name, 'exec': {'path': 'swift://~/c/exe'}}]).encode()


class Body:
    """An answer's app_iter that records whether it was closed."""

    def __init__(self, data):
        self.data = data
        self.closed = False

    def __iter__(self):
        yield self.data

    def close(self):
        self.closed = True


class Downstream:
    """The rest of the pipeline: records each request (environ and body read) and answers
    with the next of ``answers`` ``(status, headers, body bytes)``, the last one forever."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []
        self.bodies = []

    def __call__(self, env, start_response):
        self.calls.append((env, env['wsgi.input'].read()))
        status, headers, data = self.answers[min(len(self.calls), len(self.answers)) - 1]
        headers = dict(headers, **{'Content-Length': str(len(data))})
        start_response(status, list(headers.items()))
        body = Body(data)
        self.bodies.append(body)
        return body


class Clock:
    """A clock that advances ``step`` seconds each time it is read."""

    def __init__(self, step):
        self.now = 1000.0
        self.step = step

    def __call__(self):
        self.now += self.step
        return self.now


def make(downstream, conf=None, step=0.5):
    config = chain.ChainConfig.from_conf(conf or {})
    return chain.JobChain(downstream, config, get_logger({}), clock=Clock(step))


def caller_request(path='/v1/AUTH_test', body=b'[]', headers=None):
    req = swob.Request.blank(path, method='POST', body=body,
                             headers=dict(JOB_HEADERS, **(headers or {})))
    req.environ['swift.authorize'] = FakeAuth([('POST', '/v1/AUTH_test')])
    req.environ['REMOTE_USER'] = 'test,test:tester,AUTH_test'
    req.environ['eventlet.input'] = 'the client socket'
    req.environ['zerocloud.server_protocol'] = 'HTTP/1.1'
    return req


def test_other_requests_pass_through_without_chain_headers():
    downstream = Downstream(('200 OK', JOB_HEADERS, job_text('x')))
    req = swob.Request.blank('/v1/AUTH_test/c/o', method='PUT', body=b'data')
    status, headers, body = call_app(make(downstream), req)
    assert status == 200 and body == job_text('x')  # not ours: even a job answer
    assert chain.TOTAL_TIME_HEADER not in headers and len(downstream.calls) == 1


def test_an_answer_that_is_not_a_job_is_the_response_with_the_total_time():
    downstream = Downstream(('201 Created', {'X-Nexe-System': 'a'}, b'done'))
    status, headers, body = call_app(make(downstream, step=0.25), caller_request())
    assert (status, body, headers['X-Nexe-System']) == (201, b'done', 'a')
    assert headers['X-Chain-Total-Time'] == '0.250' and headers['X-Chain-Length'] == '1'


def test_three_jobs_chain_each_posted_as_the_caller_with_the_previous_answer():
    downstream = Downstream(('200 OK', JOB_HEADERS, job_text('second')),
                            ('200 OK', dict(JOB_HEADERS, **{'Content-Type':
                                                            'application/json; x=y'}),
                             job_text('third')),
                            ('302 Found', {'Location': '/x'}, b'end'))
    req = caller_request()
    status, headers, body = call_app(make(downstream, step=1.0), req)
    assert (status, body) == (302, b'end')
    assert headers['X-Chain-Length'] == '3' and headers['X-Chain-Total-Time'] == '3.000'
    first, second, third = downstream.calls
    assert first[1] == b'[]'
    assert second[1] == job_text('second') and third[1] == job_text('third')
    for env, _ in (second, third):
        sub = swob.Request(env)
        assert (sub.method, sub.path) == ('POST', '/v1/AUTH_test')
        assert sub.headers['X-Zerovm-Execute'] == '1.0'
        assert sub.headers['Content-Type'] == 'application/json'
        assert env['swift.authorize'] is req.environ['swift.authorize']
        assert env['REMOTE_USER'] == 'test,test:tester,AUTH_test'
        assert env['eventlet.input'] == 'the client socket'
        assert env['zerocloud.server_protocol'] == 'HTTP/1.1'
        assert env['swift.source'] == chain.SWIFT_SOURCE
    assert swob.Request(second[0]).content_length == len(job_text('second'))
    assert [b.closed for b in downstream.bodies] == [True, True, True]


def test_an_answer_without_content_length_is_sent_without_one():
    class Unsized(Downstream):
        def __call__(self, env, start_response):
            def without_length(status, headers, exc_info=None):
                return start_response(status, [h for h in headers if h[0] != 'Content-Length'])
            return super().__call__(env, without_length)
    downstream = Unsized(('200 OK', JOB_HEADERS, job_text('next')), ('200 OK', {}, b''))
    call_app(make(downstream), caller_request())
    env, body = downstream.calls[1]
    assert 'CONTENT_LENGTH' not in env and body == job_text('next')


def test_a_job_posted_to_an_object_chains_to_its_account():
    downstream = Downstream(('200 OK', JOB_HEADERS, job_text('next')), ('200 OK', {}, b''))
    call_app(make(downstream), caller_request('/v1/AUTH_t%C3%A9st/c/o', b'#!x'))
    assert swob.Request(downstream.calls[1][0]).path == '/v1/AUTH_t%C3%A9st'


@pytest.mark.parametrize('answer', [
    ('500 Internal Error', JOB_HEADERS),
    ('200 OK', {'Content-Type': 'application/json'}),
    ('200 OK', {'Content-Type': 'text/plain', 'X-Zerovm-Execute': '1.0'}),
])
def test_an_error_or_an_answer_without_both_headers_ends_the_chain(answer):
    downstream = Downstream(answer + (job_text('no'),))
    status, headers, body = call_app(make(downstream), caller_request())
    assert status == int(answer[0][:3]) and body == job_text('no')
    assert len(downstream.calls) == 1 and headers['X-Chain-Length'] == '1'


def test_a_chain_that_never_ends_stops_at_chain_max_length():
    downstream = Downstream(('200 OK', dict(JOB_HEADERS, **{'X-Nexe-System': 'loop'}),
                             job_text('again')))
    status, headers, body = call_app(make(downstream, {'chain_max_length': '4'}),
                                     caller_request())
    assert status == 508 and len(downstream.calls) == 4
    assert 'chain_max_length' in headers['X-Nexe-Error'] and b'4 jobs ran' in body
    assert headers['X-Nexe-System'] == 'loop' and headers['X-Chain-Length'] == '4'
    assert all(b.closed for b in downstream.bodies)


def test_a_chain_that_outlives_chain_timeout_stops_between_jobs():
    downstream = Downstream(('200 OK', JOB_HEADERS, job_text('again')))
    status, headers, body = call_app(make(downstream, {'chain_timeout': '20'}, step=8.0),
                                     caller_request())
    # the clock reads 8 s per look: after the 2nd job 16 s, after the 3rd 24 s
    assert status == 504 and len(downstream.calls) == 3
    assert 'chain_timeout' in headers['X-Nexe-Error']
    assert headers['X-Chain-Total-Time'] == '24.000'


def test_an_answer_that_fails_downstream_still_closes_the_previous_body():
    class Failing(Downstream):
        def __call__(self, env, start_response):
            if self.calls:
                raise RuntimeError('boom')
            return super().__call__(env, start_response)
    downstream = Failing(('200 OK', JOB_HEADERS, job_text('next')))
    with pytest.raises(RuntimeError):
        call_app(make(downstream), caller_request())
    assert downstream.bodies[0].closed


def test_options_are_typed_and_bad_values_name_the_option():
    assert chain.ChainConfig.from_conf({}) == chain.ChainConfig(20.0, 20)
    assert chain.ChainConfig.from_conf(
        {'chain_timeout': '2.5', 'chain_max_length': '3'}) == chain.ChainConfig(2.5, 3)
    for conf, name in (({'chain_timeout': 'soon'}, 'chain_timeout'),
                       ({'chain_timeout': '0'}, 'chain_timeout'),
                       ({'chain_max_length': '0'}, 'chain_max_length'),
                       ({'chain_max_length': 'many'}, 'chain_max_length')):
        with pytest.raises(ValueError, match=name):
            chain.filter_factory({}, **conf)


def test_filter_factory_advertises_the_options_in_info():
    make_filter = chain.filter_factory({}, chain_timeout='7', chain_max_length='5')
    assert isinstance(make_filter(Downstream()), chain.JobChain)
    info = get_swift_info()['zerocloud']
    assert info['chain_timeout_seconds'] == 7.0 and info['chain_max_length'] == 5
