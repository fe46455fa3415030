"""Scheduling with back-pressure on the default cluster (issue 16.1): a wildcard job of
1,000 sessions runs to its end on 4 object servers that take 10 sessions each (it was a 503
from 50 objects on), and a connected job larger than the free slots is a clear 503.
"""
import concurrent.futures
import json
import threading
import uuid

import pytest
import requests

OBJECTS = 1000
UPLOAD_THREADS = 8
JOB_REQUEST_TIMEOUT = 600   # a guard against a hang, not an expectation


def body_of(index):
    """A few bytes: ``index % 9 + 1`` x's and a newline."""
    return b'x' * (index % 9 + 1) + b'\n'


def counted(index):
    """What ``wc`` prints for :func:`body_of` ``(index)``: lines, words, bytes."""
    return '1 1 %d' % len(body_of(index))


@pytest.fixture(scope='module')
def many(cluster, c_program):
    """A container of :data:`OBJECTS` small objects and the static ``wc`` program."""
    container = 'zcscale-' + uuid.uuid4().hex
    conn = cluster.connection()
    conn.put_container(container)
    with open(c_program('sb_wc'), 'rb') as handle:
        conn.put_object(container, 'wc', handle.read(), content_type='application/x-nexe')
    local = threading.local()

    def upload(index):
        if not hasattr(local, 'conn'):
            local.conn = cluster.connection(retries=3)
        local.conn.put_object(container, 'obj-%04d' % index, body_of(index))
    with concurrent.futures.ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        list(pool.map(upload, range(OBJECTS)))
    return container


def post(cluster, job):
    url, token = cluster.auth()
    return requests.post(url, data=json.dumps(job), timeout=JOB_REQUEST_TIMEOUT, headers={
        'X-Auth-Token': token, 'X-Zerovm-Execute': '1.0', 'Content-Type': 'application/json'})


def test_a_thousand_object_wildcard_job_runs_every_session(cluster, many):
    job = [{'name': 'wc', 'exec': {'path': 'swift://~/%s/wc' % many},
            'devices': [{'name': 'stdin', 'path': 'swift://~/%s/obj-*' % many},
                        {'name': 'stdout'}]}]
    resp = post(cluster, job)
    assert resp.status_code == 200, (resp.headers.get('X-Nexe-Error'), resp.text[:500])
    assert 'X-Nexe-Error' not in resp.headers
    # beyond 100 instances the headers are summaries; the full report is a linked object
    assert resp.headers['X-Nexe-Summary'] == str(OBJECTS)
    assert resp.headers['X-Nexe-System'] == 'wc-1..wc-%d' % OBJECTS
    assert resp.headers['X-Nexe-Status'] == 'ok*%d' % OBJECTS
    assert resp.headers['X-Nexe-Retcode'] == '0*%d' % OBJECTS
    assert resp.headers['X-Nexe-Colocated'] == '1*%d' % OBJECTS   # each next to its object
    assert resp.text.splitlines() == [counted(index) for index in range(OBJECTS)]
    _, container, name = resp.headers['X-Nexe-Report'][len('swift://'):].split('/', 2)
    report = json.loads(cluster.connection().get_object(container, name)[1])
    assert [entry['name'] for entry in report['instances']] == [
        'wc-%d' % n for n in range(1, OBJECTS + 1)]
    assert len({entry['server'] for entry in report['instances']}) == 4   # every server


def test_a_connected_job_larger_than_the_free_slots_is_a_clear_503(cluster, many):
    exe = {'path': 'swift://~/%s/wc' % many}
    job = [{'name': 'map', 'exec': exe, 'count': 50, 'connect': ['reduce']},
           {'name': 'reduce', 'exec': exe, 'devices': [{'name': 'stdout'}]}]
    resp = post(cluster, job)
    assert resp.status_code == 503, resp.text
    assert 'a connected job needs 51 session slots at once; its 4 object server(s) have ' \
        in resp.text
    assert 'zerovm_server_slots = 10 each' in resp.text
    assert 'needs 51 session slots' in resp.headers['X-Nexe-Error']
