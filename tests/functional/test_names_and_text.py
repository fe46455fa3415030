"""Names and text outside ASCII, in every role (issue 10): co-located, remote, wildcard and
output objects, content types and error messages; never a 5xx or a dropped connection."""
import uuid

import pytest
import requests

from tests.functional.mapreduce_support import post_job, python_node

CAT = b'import sys\nsys.stdout.write(sys.stdin.read())\n'
INPUT = b'import sys\nsys.stdout.write(open("/dev/input").read())\n'


@pytest.fixture(scope='module')
def stage(cluster):
    conn = cluster.connection()
    container = 'zc-ñame-' + uuid.uuid4().hex
    conn.put_container(container)
    conn.put_object(container, 'cat.py', CAT)
    conn.put_object(container, 'input.py', INPUT)
    conn.put_object(container, 'üml.txt', b'umlaut\n')
    conn.put_object(container, 'é-1.txt', b'e one\n')
    conn.put_object(container, 'é-2.txt', b'e two\n')
    conn.put_object(container, '日本.txt', b'nihon\n')
    return container


def url(container, name):
    return 'swift://~/%s/%s' % (requests.utils.quote(container, safe=''),
                                requests.utils.quote(name, safe=''))


def cat(container, stdin, **stdout):
    return [python_node('c', container, 'cat.py',
                        [{'name': 'stdin', 'path': stdin}, dict({'name': 'stdout'}, **stdout)])]


@pytest.mark.parametrize('name, data', [('üml.txt', b'umlaut\n'), ('日本.txt', b'nihon\n')])
def test_a_co_located_object_with_a_non_ascii_name_runs(cluster, stage, name, data):
    resp = post_job(cluster, cat(stage, url(stage, name)))
    assert resp.status_code == 200 and resp.headers['X-Nexe-Status'] == 'ok', resp.text
    assert resp.content == data and resp.headers['X-Nexe-Colocated'] == '1'


def test_a_non_ascii_wildcard_expands(cluster, stage):
    resp = post_job(cluster, cat(stage, 'swift://~/%s/é-*' % stage))
    assert resp.status_code == 200, resp.text
    assert resp.headers['X-Nexe-System'] == 'c-1,c-2' and resp.content == b'e one\ne two\n'


def test_a_remote_input_with_a_non_ascii_name_is_read(cluster, stage):
    job = [python_node('r', stage, 'input.py', [
        {'name': 'stdin', 'path': url(stage, 'üml.txt')},
        {'name': 'input', 'path': url(stage, '日本.txt')}, {'name': 'stdout'}])]
    resp = post_job(cluster, job)
    assert resp.status_code == 200 and resp.content == b'nihon\n', resp.text


def test_an_output_with_a_non_ascii_name_and_type_is_published(cluster, stage):
    resp = post_job(cluster, cat(stage, url(stage, 'üml.txt'), path=url(stage, 'out-ö.txt'),
                                 content_type='text/plain; x=日', meta={'Note': 'grüß'}))
    assert resp.status_code == 200, resp.text
    headers, body = cluster.connection().get_object(stage, 'out-ö.txt')
    assert body == b'umlaut\n' and headers['content-type'] == 'text/plain; x=日'
    assert headers['x-object-meta-note'] == 'grüß'


def test_a_pathless_output_with_a_non_latin1_type_keeps_the_connection(cluster, stage):
    resp = post_job(cluster, cat(stage, url(stage, 'üml.txt'), content_type='text/x-日'))
    assert resp.status_code == 200 and resp.content == b'umlaut\n'
    assert resp.raw.headers['Content-Type'].encode('latin-1').decode('utf-8') == 'text/x-日'


def test_a_missing_non_ascii_object_is_404_naming_it_readably(cluster, stage):
    resp = post_job(cluster, cat(stage, url(stage, 'nichts-日.txt')))
    assert resp.status_code == 404
    assert resp.headers['Content-Type'] == 'text/plain; charset=utf-8'
    assert 'nichts-日.txt' in resp.text


def test_a_container_wildcard_expands_over_containers_and_objects(cluster, stage):
    conn = cluster.connection()
    prefix = 'zclogs-' + uuid.uuid4().hex[:8]
    for day in ('mon', 'tue'):
        conn.put_container('%s-%s' % (prefix, day))
        conn.put_object('%s-%s' % (prefix, day), 'a.log', ('%s a\n' % day).encode())
        conn.put_object('%s-%s' % (prefix, day), 'b.txt', b'not a log\n')
    resp = post_job(cluster, cat(stage, 'swift://~/%s-*/*.log' % prefix))
    assert resp.status_code == 200, resp.text
    assert resp.headers['X-Nexe-System'] == 'c-1,c-2' and resp.content == b'mon a\ntue a\n'
