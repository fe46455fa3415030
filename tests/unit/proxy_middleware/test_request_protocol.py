"""request_protocol: the request line's HTTP version, even under eventlet's fixed HTTP/1.0."""
from zerocloud.proxy_middleware.request import PROTOCOL_KEY, request_protocol


class FakeHandler:
    """Stands for eventlet.wsgi.HttpProtocol: the request line's version is on the handler."""

    def __init__(self, version):
        self.request_version = version

    def handle_one_response(self, environ):
        return request_protocol(environ)


def test_eventlet_handler_version_replaces_the_fixed_http_1_0():
    environ = {'SERVER_PROTOCOL': 'HTTP/1.0'}
    assert FakeHandler('HTTP/1.1').handle_one_response(environ) == 'HTTP/1.1'
    assert environ[PROTOCOL_KEY] == 'HTTP/1.1'
    assert environ['SERVER_PROTOCOL'] == 'HTTP/1.0', 'the rest of the pipeline sees it unchanged'


def test_a_real_http_1_0_request_stays_1_0():
    assert FakeHandler('HTTP/1.0').handle_one_response({'SERVER_PROTOCOL': 'HTTP/1.0'}) \
        == 'HTTP/1.0'


def test_another_servers_value_is_trusted():
    environ = {'SERVER_PROTOCOL': 'HTTP/2.0'}
    assert FakeHandler('HTTP/1.1').handle_one_response(environ) == 'HTTP/2.0'


def test_without_a_handler_the_environ_stands():
    assert request_protocol({'SERVER_PROTOCOL': 'HTTP/1.0'}) == 'HTTP/1.0'
    assert request_protocol({}) == 'HTTP/1.0'


def test_a_handler_version_that_is_not_a_version_is_ignored():
    environ = {'SERVER_PROTOCOL': 'HTTP/1.0'}
    assert FakeHandler('HTTP/1.1\r\nX: y').handle_one_response(environ) == 'HTTP/1.0'


def test_the_first_answer_is_kept():
    environ = {'SERVER_PROTOCOL': 'HTTP/1.0', PROTOCOL_KEY: 'HTTP/1.1'}
    assert request_protocol(environ) == 'HTTP/1.1'
