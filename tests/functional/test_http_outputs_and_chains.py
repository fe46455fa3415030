"""message/http and message/cgi outputs (S2.7) and job chaining (S1.7) on the real cluster.

Each program is a Python ``cat``: it copies an object (a prepared HTTP or CGI response) to
its stdout, so every test states the exact bytes a program answered with.
"""
import json
import uuid

import pytest
import requests

from tests.functional.mapreduce_support import python_node

CAT = b'import sys\nsys.stdout.buffer.write(sys.stdin.buffer.read())\n'
COUNT_STDIN = b'import sys\nprint("stdin bytes:", len(sys.stdin.buffer.read()))\n'
JOB_HEAD = b'Content-Type: application/json\r\nX-Zerovm-Execute: 1.0\r\n\r\n'


@pytest.fixture(scope='module')
def stage(cluster):
    conn = cluster.connection()
    container = 'zchttp-' + uuid.uuid4().hex
    conn.put_container(container)
    conn.put_object(container, 'cat.py', CAT)
    conn.put_object(container, 'count_stdin.py', COUNT_STDIN)
    return container


def post(cluster, job, user='test:tester'):
    """POST a job; redirects are answers here, not to be followed."""
    url, token = cluster.auth(user)
    return requests.post(url, data=json.dumps(job).encode(), timeout=120,
                         allow_redirects=False, headers={
                             'X-Auth-Token': token, 'X-Zerovm-Execute': '1.0',
                             'Content-Type': 'application/json'})


def cat_job(container, source, name='cat', **stdout):
    """A job that answers with the bytes of object ``source`` on its stdout."""
    return [python_node(name, container, 'cat.py', [
        {'name': 'stdin', 'path': 'swift://~/%s/%s' % (container, source)},
        dict({'name': 'stdout'}, **stdout)])]


def put(cluster, container, name, data):
    cluster.connection().put_object(container, name, data)
    return name


def test_message_http_sets_status_and_safe_headers_forbidden_ones_dropped(cluster, stage):
    source = put(cluster, stage, 'moved.http',
                 b'HTTP/1.1 302 Found\r\nLocation: https://example.com/there\r\n'
                 b'X-Nexe-Status: forged\r\nX-Backend-Zerocloud-Version: 9\r\n'
                 b'Set-Cookie: session=stolen\r\nContent-Length: 1000\r\n'
                 b'Content-Type: text/x-moved\r\nX-Object-Meta-Why: moved\r\n\r\n'
                 b'gone there\n')
    resp = post(cluster, cat_job(stage, source, content_type='message/http'))
    assert resp.status_code == 302, (resp.headers, resp.text)
    assert resp.headers['Location'] == 'https://example.com/there'
    assert resp.headers['Content-Type'] == 'text/x-moved'
    assert resp.headers['X-Object-Meta-Why'] == 'moved'
    assert resp.headers['X-Nexe-Status'] == 'ok' and resp.headers['X-Nexe-Retcode'] == '0'
    assert 'Set-Cookie' not in resp.headers
    assert not any(name.lower().startswith('x-backend') for name in resp.headers)
    assert resp.content == b'gone there\n'
    assert resp.headers['X-Chain-Length'] == '1'
    assert float(resp.headers['X-Chain-Total-Time']) > 0


def test_message_cgi_status_field_and_a_utf8_header_value(cluster, stage):
    disposition = 'attachment; filename="résumé-日本.txt"'.encode('utf-8')
    source = put(cluster, stage, 'made.cgi',
                 b'Status: 201 Created\nContent-Disposition: ' + disposition +
                 b'\nContent-Type: text/plain\n\nnew thing\n')
    resp = post(cluster, cat_job(stage, source, content_type='message/cgi'))
    assert resp.status_code == 201 and resp.reason == 'Created', resp.text
    assert resp.raw.headers['Content-Disposition'].encode('latin-1') == disposition
    assert resp.content == b'new thing\n'


def test_an_output_that_does_not_parse_is_kept_raw(cluster, stage):
    source = put(cluster, stage, 'garbage.http', b'HTTP/1.1 OK but not quite\n\nbody\n')
    resp = post(cluster, cat_job(stage, source, content_type='message/http'))
    assert resp.status_code == 200 and resp.headers['Content-Type'] == 'message/http'
    assert resp.content == b'HTTP/1.1 OK but not quite\n\nbody\n'


def test_a_published_cgi_output_gets_its_type_and_meta(cluster, stage):
    source = put(cluster, stage, 'page.cgi',
                 b'Status: 404\r\nContent-Type: text/html; charset=utf-8\r\n'
                 b'X-Object-Meta-Author: the program\r\nX-Nexe-Error: forged\r\n\r\n<p>hi</p>')
    out = 'swift://~/%s/page.html' % stage
    resp = post(cluster, cat_job(stage, source, path=out, content_type='message/cgi',
                                 meta={'Kept': 'device meta'}))
    assert resp.status_code == 200 and 'X-Nexe-Error' not in resp.headers, resp.headers
    headers, body = cluster.connection().get_object(stage, 'page.html')
    assert body == b'<p>hi</p>'
    assert headers['content-type'] == 'text/html; charset=utf-8'
    assert headers['x-object-meta-author'] == 'the program'
    assert headers['x-object-meta-kept'] == 'device meta'


def job_answer(job):
    """A CGI answer that asks job_chain to run ``job`` next."""
    return JOB_HEAD + json.dumps(job).encode()


def test_a_three_job_chain_ends_with_the_last_plain_answer(cluster, stage):
    third = [python_node('third', stage, 'count_stdin.py',
                         [{'name': 'stdin'}, {'name': 'stdout'}])]
    put(cluster, stage, 'to-third.cgi', job_answer(third))
    second = cat_job(stage, 'to-third.cgi', name='second', content_type='message/cgi')
    put(cluster, stage, 'to-second.cgi', job_answer(second))
    resp = post(cluster, cat_job(stage, 'to-second.cgi', name='first',
                                 content_type='message/cgi'))
    assert resp.status_code == 200, (resp.headers, resp.text)
    assert resp.headers['X-Nexe-System'] == 'third'
    assert resp.content == b'stdin bytes: 0\n'  # the caller's body was the first job
    assert resp.headers['X-Chain-Length'] == '3'
    assert float(resp.headers['X-Chain-Total-Time']) > 0


def test_a_chain_that_loops_forever_stops_with_an_error(cluster, stage):
    loop = cat_job(stage, 'loop.cgi', name='loop', content_type='message/cgi')
    put(cluster, stage, 'loop.cgi', job_answer(loop))
    resp = post(cluster, loop)
    # 508 after chain_max_length (20) jobs, or 504 if chain_timeout (20 s) came first
    assert resp.status_code in (504, 508), (resp.status_code, resp.headers)
    assert resp.headers['X-Nexe-Error'].startswith('job chain stopped')
    assert resp.headers['X-Nexe-System'] == 'loop'
    assert 1 < int(resp.headers['X-Chain-Length']) <= 20


def test_a_job_answer_larger_than_zerovm_maxconfig_is_413(cluster, stage):
    put(cluster, stage, 'huge.cgi', JOB_HEAD + b'[' + b' ' * 70000 + b']')
    resp = post(cluster, cat_job(stage, 'huge.cgi', content_type='message/cgi'))
    assert resp.status_code == 413 and 'zerovm_maxconfig' in resp.text, resp.text
    assert resp.headers['X-Chain-Length'] == '2'


def test_a_chained_job_is_authorized_as_the_caller(cluster, stage):
    other_url, _ = cluster.auth('test2:tester2')
    other = cluster.connection('test2:tester2')
    private = 'private-' + uuid.uuid4().hex
    other.put_container(private)
    other.put_object(private, 'secret', b'not for test:tester\n')
    theft = [python_node('thief', stage, 'cat.py', [
        {'name': 'stdin', 'path': 'swift://%s/%s/secret' % (
            other_url.rstrip('/').rsplit('/', 1)[1], private)},
        {'name': 'stdout'}])]
    put(cluster, stage, 'steal.cgi', job_answer(theft))
    chain = cat_job(stage, 'steal.cgi', name='innocent', content_type='message/cgi')
    resp = post(cluster, chain)
    assert resp.status_code == 403, (resp.status_code, resp.text)
    assert '%s/secret' % private in resp.text and resp.headers['X-Chain-Length'] == '2'
    assert b'not for test:tester' not in resp.content
    other.post_container(private, {'X-Container-Read': 'test:tester'})  # the control
    resp = post(cluster, chain)
    assert resp.status_code == 200 and resp.content == b'not for test:tester\n', resp.text


def test_info_advertises_the_chain_options(cluster):
    info = requests.get(cluster.proxy_url + '/info', timeout=30).json()['zerocloud']
    assert info['chain_timeout_seconds'] == 20.0 and info['chain_max_length'] == 20
