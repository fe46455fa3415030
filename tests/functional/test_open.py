"""GET /open/ (SPEC S1.5) on the real all-in-one cluster: x-nexe objects run directly, other
objects through the handler template registered for their Content-Type.

The stage is a public (``.r:*``) container of AUTH_test holding ``sb_args`` (prints its argv
and environment, NUL-separated), a CSV object and the handler's Python program; the
template lives in AUTH_test's private ``.zvm`` container under a content type unique to
this module.
"""
import json
import uuid

import pytest
import requests

from tests.functional.mapreduce_support import python_node

HEAD_PY = b'''import os, sys
lines = os.environ["LINES"]
sys.stdout.write("LINES=%r\\n" % lines)
data = sys.stdin.read().splitlines(True)
sys.stdout.write("".join(data[:int(lines)] if lines.isdigit() else data))
'''
CSV = b'name,qty\napple,3\npear,5\nplum,7\n'


@pytest.fixture(scope='module')
def stage(cluster, c_program):
    conn = cluster.connection()
    container = 'zcopen-' + uuid.uuid4().hex
    conn.put_container(container, headers={'X-Container-Read': '.r:*'})
    with open(c_program('sb_args'), 'rb') as handle:
        conn.put_object(container, 'sb_args', handle.read(), content_type='application/x-nexe')
    csv_type = 'text/x-zc-%s' % uuid.uuid4().hex[:12]
    conn.put_object(container, 'fruit.csv', CSV, content_type=csv_type)
    conn.put_object(container, 'head.py', HEAD_PY)
    conn.put_container('.zvm')
    template = [python_node('head', container, 'head.py', [
        {'name': 'stdin', 'path': '{.object_path}'}, {'name': 'stdout'}],
        args='{.unused=}')]
    template[0]['exec']['env'] = {'LINES': '{.lines=2}'}
    conn.put_object('.zvm', csv_type + '/config', json.dumps(template).encode(),
                    content_type='application/json')
    private = 'zcopen-private-' + uuid.uuid4().hex
    conn.put_container(private)
    conn.put_object(private, 'fruit.csv', CSV, content_type=csv_type)
    return {'container': container, 'private': private, 'csv_type': csv_type}


def open_url(cluster, container, obj, query=''):
    url, _ = cluster.auth()
    account = url.rsplit('/', 1)[1]
    return '%s/open/%s/%s/%s%s' % (cluster.proxy_url, account, container, obj, query)


def argv_and_env(body):
    """``(argv list, env dict)`` of sb_args's output."""
    argv, _, env = body.partition(b'::env::\0')
    return ([arg.decode() for arg in argv.split(b'\0')[:-1]],
            dict(item.decode().split('=', 1) for item in env.split(b'\0')[:-1]))


def test_an_anonymous_get_of_a_public_nexe_runs_it_with_args_and_cgi_env(cluster, stage):
    url = open_url(cluster, stage['container'], 'sb_args',
                   '?args=one%20%22two%20three%22&content_type=application/x-zc&x=1')
    resp = requests.get(url, timeout=60)
    assert resp.status_code == 200, (resp.headers, resp.text)
    assert resp.headers['Content-Type'] == 'application/x-zc'
    assert resp.headers['X-Nexe-System'] == 'open' and resp.headers['X-Nexe-Retcode'] == '0'
    argv, env = argv_and_env(resp.content)
    assert argv == ['open', 'one', 'two three']
    assert env['REQUEST_METHOD'] == 'GET'
    assert env['QUERY_STRING'] == 'args=one%20%22two%20three%22&content_type=application/x-zc&x=1'
    assert env['PATH_INFO'] == '/open/%s/%s/sb_args' % (url.split('/')[4], stage['container'])


def test_a_data_object_runs_its_content_types_handler_with_query_variables(cluster, stage):
    resp = requests.get(open_url(cluster, stage['container'], 'fruit.csv', '?lines=1'),
                        timeout=60)
    assert resp.status_code == 200, (resp.headers, resp.text)
    assert resp.headers['X-Nexe-System'] == 'head'
    assert resp.content == b"LINES='1'\nname,qty\n"
    resp = requests.get(open_url(cluster, stage['container'], 'fruit.csv'), timeout=60)
    assert resp.content == b"LINES='2'\nname,qty\napple,3\n"   # the template's default


def test_a_query_value_with_quotes_cannot_change_the_jobs_structure(cluster, stage):
    evil = '1"}, "devices": [], "x": {"y": "'
    resp = requests.get(open_url(cluster, stage['container'], 'fruit.csv'),
                        params={'lines': evil}, timeout=60)
    assert resp.status_code == 200, (resp.headers, resp.text)
    assert resp.headers['X-Nexe-System'] == 'head'
    assert resp.content == ('LINES=%r\n' % evil).encode() + CSV   # one value, every line


def test_range_applies_to_the_programs_output(cluster, stage):
    url = open_url(cluster, stage['container'], 'fruit.csv', '?lines=4')
    whole = requests.get(url, timeout=60).content
    resp = requests.get(url, headers={'Range': 'bytes=3-12'}, timeout=60)
    assert resp.status_code == 206, (resp.headers, resp.text)
    assert resp.content == whole[3:13]
    assert resp.headers['Content-Range'] == 'bytes 3-12/%d' % len(whole)
    resp = requests.get(url, headers={'Range': 'bytes=-5'}, timeout=60)
    assert resp.status_code == 206 and resp.content == whole[-5:]


def test_the_open_execute_header_on_a_v1_path_is_the_same(cluster, stage):
    url, token = cluster.auth()
    resp = requests.get('%s/%s/fruit.csv?lines=1' % (url, stage['container']), timeout=60,
                        headers={'X-Auth-Token': token, 'X-Zerovm-Execute': 'open/1.0'})
    assert resp.status_code == 200 and resp.content == b"LINES='1'\nname,qty\n", resp.text


def test_a_private_object_is_refused_to_anonymous_and_opened_for_its_owner(cluster, stage):
    url = open_url(cluster, stage['private'], 'fruit.csv', '?lines=1')
    assert requests.get(url, timeout=60).status_code == 401
    _, other = cluster.auth('test2:tester2')
    assert requests.get(url, headers={'X-Auth-Token': other}, timeout=60).status_code == 403
    _, token = cluster.auth()
    resp = requests.get(url, headers={'X-Auth-Token': token}, timeout=60)
    # the handler's program is in the public container; the data is the owner's
    assert resp.status_code == 200 and resp.content == b"LINES='1'\nname,qty\n", resp.text


def test_errors_name_what_is_wrong(cluster, stage):
    container = stage['container']
    resp = requests.put(open_url(cluster, container, 'fruit.csv'), data=b'x', timeout=60)
    assert resp.status_code == 405 and resp.headers['Allow'] == 'GET', resp.text
    cluster.connection().put_object(container, 'plain.bin', b'x',
                                    content_type='application/x-zc-nohandler')
    resp = requests.get(open_url(cluster, container, 'plain.bin'), timeout=60)
    assert resp.status_code == 404, resp.text
    assert '/.zvm/application/x-zc-nohandler/config does not exist' in resp.text
    resp = requests.get(open_url(cluster, container, 'missing'), timeout=60)
    assert resp.status_code == 404 and 'missing' in resp.text
    resp = requests.get(open_url(cluster, container, ''), timeout=60)
    assert resp.status_code == 400 and '/open/ requests name an object' in resp.text
    cluster.connection().put_object(container, 'app.tar', b'x' * 512,
                                    content_type='application/x-tar')
    resp = requests.get(open_url(cluster, container, 'app.tar'), timeout=60)
    assert resp.status_code == 400 and 'app.tar' in resp.text, resp.text  # not a zapp


def test_a_template_needs_its_variables_without_defaults(cluster, stage):
    conn = cluster.connection()
    kind = 'text/x-zc-strict-%s' % uuid.uuid4().hex[:8]
    conn.put_object(stage['container'], 'strict.txt', b'a\n', content_type=kind)
    template = [python_node('head', stage['container'], 'head.py', [
        {'name': 'stdin', 'path': '{.object_path}'}, {'name': 'stdout'}])]
    template[0]['exec']['env'] = {'LINES': '{.lines}'}
    conn.put_object('.zvm', kind + '/config', json.dumps(template).encode(),
                    content_type='application/json')
    resp = requests.get(open_url(cluster, stage['container'], 'strict.txt'), timeout=60)
    assert resp.status_code == 400 and 'query parameter(s) lines' in resp.text, resp.text
    resp = requests.get(open_url(cluster, stage['container'], 'strict.txt', '?lines=5'),
                        timeout=60)
    assert resp.status_code == 200 and resp.content == b"LINES='5'\na\n", resp.text


def test_a_template_is_kept_in_memcache(cluster, stage):
    conn = cluster.connection()
    kind = 'text/x-zc-cached-%s' % uuid.uuid4().hex[:8]
    conn.put_object(stage['container'], 'cached.txt', b'a\nb\n', content_type=kind)
    template = [python_node('head', stage['container'], 'head.py', [
        {'name': 'stdin', 'path': '{.object_path}'}, {'name': 'stdout'}])]
    template[0]['exec']['env'] = {'LINES': '1'}
    conn.put_object('.zvm', kind + '/config', json.dumps(template).encode(),
                    content_type='application/json')
    url = open_url(cluster, stage['container'], 'cached.txt')
    assert requests.get(url, timeout=60).content == b"LINES='1'\na\n"
    conn.delete_object('.zvm', kind + '/config')
    # within 60 s the cached template still answers
    assert requests.get(url, timeout=60).content == b"LINES='1'\na\n"
