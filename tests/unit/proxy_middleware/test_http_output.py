"""message/http and message/cgi outputs: the head parser, the response and published objects."""
import pytest
from swift.common import swob
from swift.common.utils import get_logger

from tests.unit.fake_swift import FakeSwift
from tests.unit.proxy_middleware.test_publish import result_with, swift_with
from zerocloud import job as joblib
from zerocloud.proxy_middleware import http_output, publish
from zerocloud.proxy_middleware.http_output import CGI_TYPE, HTTP_TYPE, parse_head
from zerocloud.proxy_middleware.results import build_response
from zerocloud.proxy_middleware.spool import Spools


def test_a_status_line_and_fields_parse_and_the_head_size_is_where_the_body_starts():
    data = b'HTTP/1.1 201 Made It\r\nContent-Type: text/x-a\r\nX-Other:  v  \r\n\r\nbody'
    head = parse_head(data, HTTP_TYPE)
    assert (head.status, head.status_line) == (201, '201 Made It')
    assert head.fields == (('Content-Type', 'text/x-a'), ('X-Other', 'v'))
    assert data[head.size:] == b'body'


def test_bare_lf_lines_and_a_status_without_reason_take_the_standard_reason():
    head = parse_head(b'HTTP/1.0 404\nA: b\n\nrest', HTTP_TYPE)
    assert head.status_line == '404 Not Found' and head.size == len(b'HTTP/1.0 404\nA: b\n\n')


@pytest.mark.parametrize('data,status_line', [
    (b'Status: 201 Created\nContent-Type: text/plain\n\nx', '201 Created'),
    (b'Status: 418\n\n', "418 I'm a Teapot"),
    (b'Content-Type: text/plain\n\nx', '200 OK'),
    (b'Location: https://example.com/\n\n', '302 Found'),
    (b'Status: 303 See There\nLocation: /x\n\n', '303 See There'),
])
def test_cgi_status_comes_from_the_status_field_or_defaults(data, status_line):
    head = parse_head(data, CGI_TYPE)
    assert head.status_line == status_line
    assert all(name.lower() != 'status' for name, _ in head.fields)


@pytest.mark.parametrize('data,kind', [
    (b'no head at all, just text\n', HTTP_TYPE),
    (b'HTTP/1.1 200 OK\nContent-Type: text/plain\n', HTTP_TYPE),   # no blank line
    (b'HTTP/1.1 99 Tiny\n\n', HTTP_TYPE),
    (b'HTTP/1.1 600 Huge\n\n', HTTP_TYPE),
    (b'HTTP/1.1 2000 OK\n\n', HTTP_TYPE),
    (b'Status: 200 OK\n\n', HTTP_TYPE),                        # a CGI head as message/http
    (b'\nbody', CGI_TYPE),                                     # no field at all
    (b'Status: soon\n\n', CGI_TYPE),
    (b'Bad Name: v\n\n', CGI_TYPE),
    (b'A: v\n folded\n\n', CGI_TYPE),
    (b'A: nul\x00inside\n\n', CGI_TYPE),
    (b'A: cr\rinside\n\n', CGI_TYPE),
    (b'\x89PNG\r\n\x1a\n\x00\x00', HTTP_TYPE),
])
def test_garbage_is_not_a_head(data, kind):
    assert parse_head(data, kind) is None


def test_a_head_longer_than_64_kib_is_not_a_head():
    big = b'X-Object-Meta-A: ' + b'a' * http_output.MAX_HEAD_BYTES + b'\n\n'
    assert parse_head(b'Content-Type: text/plain\n' + big, CGI_TYPE) is None
    fits = b'A: ' + b'a' * (http_output.MAX_HEAD_BYTES - 5) + b'\n\n'
    assert len(fits) == http_output.MAX_HEAD_BYTES and parse_head(fits, CGI_TYPE)
    assert parse_head(b'A' + fits, CGI_TYPE) is None  # one byte more


def test_too_many_fields_is_not_a_head():
    fields = b''.join(b'X-Object-Meta-F%d: v\n' % n for n in range(65))
    assert parse_head(fields + b'\n', CGI_TYPE) is None
    assert parse_head(fields[fields.index(b'X-Object-Meta-F1:'):] + b'\n', CGI_TYPE)


def test_only_safe_fields_reach_the_response_first_of_each_name():
    head = parse_head(b'Status: 201\nContent-Type: a/b\nX-Nexe-Status: forged\n'
                      b'X-Backend-Zerocloud-Version: 9\nSet-Cookie: s=1\nConnection: close\n'
                      b'Transfer-Encoding: chunked\nContent-Length: 9\nWWW-Authenticate: x\n'
                      b'X-Auth-Token: t\nLocation: /there\nCache-Control: max-age=5\n'
                      b'content-disposition: inline\nX-Object-Meta-Color: red\n'
                      b'x-object-meta-color: blue\nX-Zerovm-Execute: 1.0\nX-Empty:\n'
                      b'Location:\n\n', CGI_TYPE)
    assert http_output.response_fields(head) == [
        ('Content-Type', 'a/b'), ('Location', '/there'), ('Cache-Control', 'max-age=5'),
        ('content-disposition', 'inline'), ('X-Object-Meta-Color', 'red'),
        ('X-Zerovm-Execute', '1.0')]


def test_objects_take_content_type_and_meta_from_the_head_utf8_kept():
    head = parse_head('Content-Type: text/x-é\nX-Object-Meta-Name: Ωmega\nX-Object-Meta-Bad:'
                      ' \xff\nX-Other: no\n\n'.encode('utf-8').replace(b'\xc3\xbf', b'\xff'),
                      CGI_TYPE)
    content_type, meta = http_output.object_fields(head)
    assert content_type == 'text/x-é'
    assert meta == {'Name': 'Ωmega', 'Bad': '\udcff'}
    assert swob.str_to_wsgi(meta['Bad']) == '\xff'  # sent back as the very byte


def spools_with(data):
    spools = Spools(1 << 20)
    spool = spools.new('t')
    spool.write(data)
    return spools, spool


def test_output_part_streams_the_body_only_and_raw_when_not_parsed():
    spools, spool = spools_with(b'HTTP/1.1 200 OK\nContent-Type: a/b\n\nthe body')
    part = http_output.OutputPart.of(spool, 'message/http; charset=utf-8')
    assert (part.content_type, part.size) == ('a/b', 8)
    assert b''.join(spool.chunks(part.offset)) == b'the body'
    raw = http_output.OutputPart.of(spool, 'message/http', parse=False)
    assert (raw.head, raw.offset, raw.content_type) == (None, 0, 'message/http')
    plain = http_output.OutputPart.of(spool, 'text/plain')
    assert plain.head is None and plain.size == spool.size
    spools.close()


def instance_with(*devices):
    job = joblib.parse_job([{'name': 'w', 'exec': {'path': 'file://python:python'},
                             'devices': [{'name': 'python'}] + list(devices)}])
    return joblib.expand(job, account='AUTH_test', list_objects=None).instances[0]


def response_for(outputs, devices, **kwargs):
    spools = Spools(1 << 20)
    result = result_with(instance_with(*devices), spools, **outputs)
    resp = build_response([result], spools, **kwargs)
    return resp, b''.join(resp.app_iter)


def test_a_pathless_message_http_output_sets_status_and_safe_headers():
    resp, body = response_for(
        {'stdout': b'HTTP/1.1 302 Found\r\nLocation: http://x/y\r\nX-Nexe-Retcode: 99\r\n'
                   b'Content-Type: text/html\r\n\r\n<a>moved</a>'},
        [{'name': 'stdout', 'content_type': 'message/http'}])
    assert resp.status == '302 Found' and resp.headers['Location'] == 'http://x/y'
    assert resp.headers['X-Nexe-Retcode'] == '0' and resp.content_type == 'text/html'
    assert body == b'<a>moved</a>' and resp.content_length == len(body)


def test_several_pathless_outputs_first_head_wins_every_head_is_removed():
    resp, body = response_for(
        {'stdout': b'plain ', 'stderr': b'Status: 201\nX-Object-Meta-A: 1\n\nfirst ',
         'output': b'Status: 404\nX-Object-Meta-B: 2\nContent-Type: x/y\n\nsecond'},
        [{'name': 'stdout', 'content_type': 'text/x-first'},
         {'name': 'stderr', 'content_type': 'message/cgi'},
         {'name': 'output', 'content_type': 'message/cgi'}])
    assert resp.status_int == 201 and body == b'plain first second'
    assert resp.headers['X-Object-Meta-A'] == '1' and 'X-Object-Meta-B' not in resp.headers
    assert resp.content_type == 'text/x-first'  # the first output's type


def test_a_failed_job_sends_its_output_raw():
    data = b'Status: 201\nContent-Type: a/b\n\nbody'
    resp, body = response_for({'stdout': data},
                              [{'name': 'stdout', 'content_type': 'message/cgi'}],
                              error='w failed: killed by signal SIGKILL')
    assert resp.status_int == 200 and body == data
    assert resp.content_type == 'message/cgi'


def test_a_no_content_status_sends_no_body_and_garbage_is_kept_raw():
    resp, body = response_for({'stdout': b'Status: 204\n\nignored'},
                              [{'name': 'stdout', 'content_type': 'message/cgi'}])
    assert resp.status_int == 204 and body == b'' and resp.content_length == 0
    resp, body = response_for({'stdout': b'just text'},
                              [{'name': 'stdout', 'content_type': 'message/http'}])
    assert resp.status_int == 200 and body == b'just text'


def test_non_latin1_header_values_pass_as_their_bytes_through_wsgi():
    value = 'attachment; filename="résumé-Ω.txt"'.encode('utf-8')
    resp, body = response_for(
        {'stdout': b'Status: 200\nContent-Disposition: ' + value + b'\n\nok'},
        [{'name': 'stdout', 'content_type': 'message/cgi'}])
    captured = {}
    iterator = resp(swob.Request.blank('/').environ,
                    lambda status, headers, exc=None: captured.update(headers))
    b''.join(iterator)
    assert captured['Content-Disposition'].encode('latin-1') == value


def cgi_page(min_size):
    instance = instance_with({'name': 'stdout', 'path': 'swift://AUTH_test/c/page',
                              'content_type': 'message/cgi', 'meta': {'Kept': 'k', 'A': 'x'},
                              'min_size': min_size})
    return result_with(instance, Spools(1 << 20), stdout=b'Status: 500\nContent-Type: '
                       b'text/html\nX-Object-Meta-A: from-head\n\n<p>')


def test_a_published_cgi_output_gets_type_and_meta_from_its_head_without_it():
    app = FakeSwift()
    app.register('PUT', '/v1/AUTH_test/c/page', 201)
    assert publish.outputs_to_publish([cgi_page(4)], 'd/d') == []  # 3 body bytes < 4
    outputs = publish.outputs_to_publish([cgi_page(3)], 'd/d')
    publish.publish_all(swift_with(app), outputs, get_logger({}))
    (put,) = app.calls
    assert put.body == b'<p>' and put.headers['Content-Type'] == 'text/html'
    assert put.headers['X-Object-Meta-A'] == 'from-head'
    assert put.headers['X-Object-Meta-Kept'] == 'k'


def test_a_published_output_that_does_not_parse_keeps_its_device_type():
    app = FakeSwift()
    app.register('PUT', '/v1/AUTH_test/c/raw', 201)
    instance = instance_with({'name': 'stdout', 'path': 'swift://AUTH_test/c/raw',
                              'content_type': 'message/http'})
    result = result_with(instance, Spools(100), stdout=b'HTTP/1.1 OK\n\nx')
    publish.publish_all(swift_with(app), publish.outputs_to_publish([result], 'd/d'),
                        get_logger({}))
    assert app.calls[0].body == b'HTTP/1.1 OK\n\nx'
    assert app.calls[0].headers['Content-Type'] == 'message/http'
