"""Large objects (SLO, DLO) as inputs: a job reads the object's content, never its manifest
(issue 11).  The co-located server finds a manifest and asks for the object's stream; a
remote large object is read through the proxy's GET."""
import json
import uuid

import pytest

from tests.functional.mapreduce_support import post_job, python_node

CAT = b'import sys\nsys.stdout.buffer.write(sys.stdin.buffer.read())\n'
INPUT = b'import sys\nsys.stdout.buffer.write(open("/dev/input", "rb").read())\n'
SEGMENTS = [bytes([65 + n]) * (1 << 20) for n in range(3)]  # three 1 MiB segments


@pytest.fixture(scope='module')
def stage(cluster):
    conn = cluster.connection()
    container = 'zclarge-' + uuid.uuid4().hex
    conn.put_container(container)
    conn.put_object(container, 'cat.py', CAT)
    conn.put_object(container, 'input.py', INPUT)
    conn.put_object(container, 'small.txt', b'small\n')
    manifest = []
    for index, data in enumerate(SEGMENTS):
        name = 'seg/%d' % index
        etag = conn.put_object(container, name, data)
        manifest.append({'path': '/%s/%s' % (container, name), 'etag': etag,
                         'size_bytes': len(data)})
    conn.put_object(container, 'slo', json.dumps(manifest),
                    query_string='multipart-manifest=put')
    conn.put_object(container, 'dlo', b'', headers={'X-Object-Manifest': container + '/seg/'})
    return container


@pytest.mark.parametrize('name', ['slo', 'dlo'])
def test_a_large_object_as_stdin_is_its_content(cluster, stage, name):
    job = [python_node('c', stage, 'cat.py', [
        {'name': 'stdin', 'path': 'swift://~/%s/%s' % (stage, name)}, {'name': 'stdout'}])]
    resp = post_job(cluster, job)
    assert resp.status_code == 200 and resp.headers['X-Nexe-Status'] == 'ok', resp.headers
    assert resp.content == b''.join(SEGMENTS)
    assert resp.headers['X-Nexe-Colocated'] == '0'  # its bytes came through the proxy


@pytest.mark.parametrize('name', ['slo', 'dlo'])
def test_a_remote_large_object_is_its_content(cluster, stage, name):
    job = [python_node('c', stage, 'input.py', [
        {'name': 'stdin', 'path': 'swift://~/%s/small.txt' % stage},
        {'name': 'input', 'path': 'swift://~/%s/%s' % (stage, name)}, {'name': 'stdout'}])]
    resp = post_job(cluster, job)
    assert resp.status_code == 200 and resp.headers['X-Nexe-Status'] == 'ok', resp.headers
    assert resp.content == b''.join(SEGMENTS)


def test_a_plain_object_still_runs_next_to_its_file(cluster, stage):
    job = [python_node('c', stage, 'cat.py', [
        {'name': 'stdin', 'path': 'swift://~/%s/small.txt' % stage}, {'name': 'stdout'}])]
    resp = post_job(cluster, job)
    assert resp.content == b'small\n' and resp.headers['X-Nexe-Colocated'] == '1'


def test_an_erasure_coded_object_is_its_content(cluster, stage):
    conn = cluster.connection()
    container = 'zcec-' + uuid.uuid4().hex
    conn.put_container(container, headers={'X-Storage-Policy': 'ec'})
    data = b'erasure coded line\n' * 100000
    conn.put_object(container, 'data', data)
    job = [python_node('c', stage, 'cat.py', [
        {'name': 'stdin', 'path': 'swift://~/%s/data' % container}, {'name': 'stdout'}])]
    resp = post_job(cluster, job)
    assert resp.status_code == 200 and resp.headers['X-Nexe-Status'] == 'ok', resp.headers
    assert resp.content == data and resp.headers['X-Nexe-Colocated'] == '0'


@pytest.fixture(scope='module')
def encrypted(start_cluster):
    """A cluster whose proxy stores every object encrypted (Swift's keymaster+encryption)."""
    return start_cluster('encrypted', encryption=True)


def test_an_encrypted_object_is_its_plaintext(encrypted):
    conn = encrypted.connection()
    container = 'zcenc-' + uuid.uuid4().hex
    conn.put_container(container)
    conn.put_object(container, 'cat.py', CAT)
    conn.put_object(container, 'secret.txt', b'plain words\n' * 1000)
    job = [python_node('c', container, 'cat.py', [
        {'name': 'stdin', 'path': 'swift://~/%s/secret.txt' % container}, {'name': 'stdout'}])]
    resp = post_job(encrypted, job)
    assert resp.status_code == 200 and resp.headers['X-Nexe-Status'] == 'ok', resp.headers
    assert resp.content == b'plain words\n' * 1000 and resp.headers['X-Nexe-Colocated'] == '0'
