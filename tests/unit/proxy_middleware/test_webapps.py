"""Pure parts of /open/, /api/, setuid and CORS: template variables, query parsing, endpoint
URLs, byte ranges of an output, the spooled request body, CORS headers."""
import io

import pytest
from swift.common import swob

from zerocloud.proxy_middleware import cors, payload, setuid, webapps

URL = 'swift://AUTH_a/c/data%20set.csv'


def test_template_variables_are_filled_in_values_only():
    template = [{'name': '{.name=keep}', 'exec': {'path': '{.object_path}',
                                                  'env': {'{.k}': '{.k} and {.d=x y}'}},
                 'count': 2, 'list': ['{.k}', 3, None]}]
    job = webapps.fill_template(template, {'k': 'v"}', 'object_path': 'forged'}, URL, 't/x')
    assert job == [{'name': 'keep', 'exec': {'path': URL, 'env': {'{.k}': 'v"} and x y'}},
                    'count': 2, 'list': ['v"}', 3, None]}]


def test_an_empty_default_is_allowed_a_missing_variable_is_named():
    assert webapps.fill_template(['{.a=}'], {}, URL, 't/x') == ['']
    with pytest.raises(swob.HTTPException) as raised:
        webapps.fill_template(['{.b} {.a}', '{.b}'], {}, URL, 'text/csv')
    assert raised.value.status_int == 400
    assert b'text/csv needs the query parameter(s) a, b' in raised.value.body


def test_query_params_take_the_first_value_and_refuse_bad_utf8():
    req = swob.Request.blank('/open/a/c/o?x=1&x=2&y=%C3%A9+z&empty')
    assert webapps.query_params(req) == {'x': '1', 'y': 'é z', 'empty': ''}
    with pytest.raises(swob.HTTPException) as raised:
        webapps.query_params(swob.Request.blank('/open/a/c/o?x=%FF'))
    assert raised.value.status_int == 400 and b'query string' in raised.value.body


@pytest.mark.parametrize('value, path', [
    ('swift://AUTH_a/c/app.json', '/AUTH_a/c/app.json'),
    ('swift://AUTH_a/c/dir/app%20x.json', '/AUTH_a/c/dir/app x.json'),
    ('swift://~/c/app.json', None), ('swift://AUTH_a/c', None), ('swift://AUTH_a/c/*', None),
    ('file://python:python', None), ('nonsense', None), ('', None), (None, None)])
def test_endpoint_paths_are_full_object_urls_only(value, path):
    assert setuid.endpoint_path(value) == path


def test_setuid_needs_the_acl_and_the_same_endpoint():
    req = swob.Request.blank('/api/AUTH_a/c/x')
    req.environ['swift.authorize'] = lambda probe: None if probe.acl == '.r:*' else \
        swob.HTTPForbidden()
    info = {'meta': {'zerovm-suid': '.r:*', 'rest-endpoint': 'swift://AUTH_a/c/app.json'}}
    assert setuid.admits(req, info, '/AUTH_a/c/o', '/AUTH_a/c/app.json')
    assert not setuid.admits(req, info, '/AUTH_a/c/o', '/AUTH_a/c/other.json')
    assert not setuid.admits(req, info, '/AUTH_a/c/o', None)
    info['meta']['zerovm-suid'] = 'AUTH_b'
    assert not setuid.admits(req, info, '/AUTH_a/c/o', '/AUTH_a/c/app.json')
    assert not setuid.admits(req, {'meta': {}}, '/AUTH_a/c/o', '/AUTH_a/c/app.json')


@pytest.mark.parametrize('start, end', [(0, 20), (3, 13), (9, 11), (19, 20), (0, 1)])
def test_a_range_of_the_output_spans_chunks_and_closes_the_body(start, end):
    closed = []

    class Body:
        def __init__(self):
            self.chunks = iter([b'0123456789', b'', b'abcdefghij'])

        def __iter__(self):
            return self.chunks

        def close(self):
            closed.append(True)
    piece = webapps.RangedBody(Body()).app_iter_range(start, end)
    assert b''.join(piece) == b'0123456789abcdefghij'[start:end] and closed


def test_the_body_spools_once_and_reads_again_and_again():
    body = b'x' * 100000 + b'end'
    req = swob.Request.blank('/api/a/c', environ={'REQUEST_METHOD': 'PUT',
                                                  'wsgi.input': io.BytesIO(body)})
    req.content_length = len(body)
    spooled = payload.spool_body(req, len(body))
    for _ in range(2):
        with spooled.open() as (length, chunks):
            assert length == len(body) and b''.join(chunks) == body
    spooled.close()


@pytest.mark.parametrize('length, data, status', [
    (11, b'x' * 11, 413), (None, b'x' * 11, 413), (5, b'abc', 400)])
def test_a_body_too_large_or_short_is_refused(length, data, status):
    req = swob.Request.blank('/api/a/c', environ={'REQUEST_METHOD': 'PUT',
                                                  'wsgi.input': io.BytesIO(data)})
    req.content_length = length
    with pytest.raises(swob.HTTPException) as raised:
        payload.spool_body(req, 10)
    assert raised.value.status_int == status


def test_cors_headers_follow_the_containers_settings():
    req = swob.Request.blank('/api/a/c', headers={'Origin': 'https://o.example'})
    info = {'allow_origin': 'https://o.example', 'expose_headers': 'X-Mine'}
    resp = cors.add_headers(req, swob.Response(headers={'X-Nexe-Status': 'ok'}), info)
    assert resp.headers['Access-Control-Allow-Origin'] == 'https://o.example'
    assert resp.headers['Vary'] == 'Origin'
    assert {'x-nexe-status', 'x-mine', 'etag'} <= set(
        resp.headers['Access-Control-Expose-Headers'].split(', '))
    resp = cors.add_headers(req, swob.Response(), {'allow_origin': '*'})
    assert resp.headers['Access-Control-Allow-Origin'] == '*' and 'Vary' not in resp.headers
    resp = cors.add_headers(req, swob.Response(), {'allow_origin': 'https://x.example'})
    assert 'Access-Control-Allow-Origin' not in resp.headers
