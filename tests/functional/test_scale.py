"""Scheduling with back-pressure on the default cluster (issue 16.1): a wildcard job of
1,000 sessions runs to its end on 4 object servers that take 10 sessions each (it was a 503
from 50 objects on), and a connected job larger than the free slots is a clear 503.
"""
import collections
import concurrent.futures
import json
import os
import threading
import time
import uuid

import pytest
import requests

from tests.functional import test_mapreduce_wordcount
from tests.functional.test_mapreduce_wordcount import wordcount_job
from tests.unit.examples.wordcount_support import load_example
from zerocloud.object_middleware.workdir import default_base
from zerocloud.shuffle import SPOOL_DIR

OBJECTS = 1000
UPLOAD_THREADS = 8
JOB_REQUEST_TIMEOUT = 600   # a guard against a hang, not an expectation
apps = test_mapreduce_wordcount.apps   # the fixture: the word count's programs


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


def spools_made_since(started):
    """Job spool directories made since ``started`` on the cluster's object servers (in
    their work directory base's ``shuffle``)."""
    shuffle_dir = os.path.join(default_base(), SPOOL_DIR)
    return [entry.name for entry in os.scandir(shuffle_dir)
            if entry.stat().st_ctime >= started] if os.path.isdir(shuffle_dir) else []


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


def test_a_thousand_object_map_reduce_runs_in_waves_and_equals_a_direct_count(
        cluster, many, apps):
    """The word count of examples/wordcount (C) over the 1,000 objects: 1,004 sessions on
    a cluster with 40 slots.  It runs in waves (mappers, then reducers fed by 1,000 spools
    each, then the merge) and its table equals a direct count."""
    conn = cluster.connection()
    results = 'zcscale-res-' + uuid.uuid4().hex
    conn.put_container(results)
    reference = load_example('reference')
    started = time.time()
    resp = post(cluster, wordcount_job('c', many, apps, results, 'obj-*'))
    assert resp.status_code == 200, (resp.headers.get('X-Nexe-Error'), resp.text[:500])
    assert 'X-Nexe-Error' not in resp.headers
    assert resp.headers['X-Nexe-Status'] == 'ok*%d' % (OBJECTS + 4)
    assert resp.headers['X-Nexe-Retcode'] == '0*%d' % (OBJECTS + 4)
    expected = collections.Counter(body_of(index).strip() for index in range(OBJECTS))
    _headers, table = conn.get_object(results, 'wordcount.tsv')
    assert reference.parse_table(table) == dict(expected)
    assert resp.content == reference.format_pairs(reference.top_words(expected, 20))
    proxy_log = open(os.path.join(cluster.spec.root, 'log', 'proxy-server.log')).read()
    assert 'runs in 3 waves: 503 Service Unavailable a connected job needs 1004 session ' \
        'slots at once' in proxy_log
    _, container, name = resp.headers['X-Nexe-Report'][len('swift://'):].split('/', 2)
    report = json.loads(conn.get_object(container, name)[1])
    reducers = [entry for entry in report['instances'] if entry['name'].startswith('reduce')]
    assert len(reducers) == 3, report['instances'][-5:]
    # every reducer read its 1,000 spools, bound files in its jail (local bytes); the
    # mappers wrote theirs
    assert all(entry['cdr']['rbytes'] > 0 for entry in reducers), reducers
    assert all(entry['cdr']['wbytes'] > 0 for entry in report['instances'][:OBJECTS])
    assert spools_made_since(started) == [], 'the spools are removed when the job ends'


def test_a_connected_job_with_a_cycle_larger_than_the_free_slots_is_a_clear_503(cluster,
                                                                                  many):
    """A mapper mesh (every mapper talks to every other) cannot run in waves."""
    exe = {'path': 'swift://~/%s/wc' % many}
    job = [{'name': 'map', 'exec': exe, 'count': 50, 'connect': ['map']}]
    resp = post(cluster, job)
    assert resp.status_code == 503, resp.text
    assert 'a connected job needs 50 session slots at once; its 4 object server(s) have ' \
        in resp.text
    assert 'zerovm_server_slots = 10 each' in resp.text
    assert 'needs 50 session slots' in resp.headers['X-Nexe-Error']


def test_two_big_jobs_at_once_both_finish(cluster, many, apps):
    """A 100-session wildcard job and a 104-session map-reduce, each larger than the
    cluster's 40 slots, sent together: both wait their turns and both finish right."""
    conn = cluster.connection()
    results = 'zcscale-res-' + uuid.uuid4().hex
    conn.put_container(results)
    wildcard = [{'name': 'wc', 'exec': {'path': 'swift://~/%s/wc' % many},
                 'devices': [{'name': 'stdin', 'path': 'swift://~/%s/obj-01*' % many},
                             {'name': 'stdout'}]}]
    mapreduce = wordcount_job('c', many, apps, results, 'obj-02*')
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        first, second = pool.map(lambda job: post(cluster, job), (wildcard, mapreduce))
    assert first.status_code == 200, first.text[:300]
    assert first.headers['X-Nexe-Status'] == ','.join(['ok'] * 100)   # 100: per instance
    assert first.text.splitlines() == [counted(index) for index in range(100, 200)]
    assert second.status_code == 200, (second.headers.get('X-Nexe-Error'), second.text[:300])
    assert second.headers['X-Nexe-Status'] == 'ok*104'
    expected = collections.Counter(body_of(index).strip() for index in range(200, 300))
    reference = load_example('reference')
    assert reference.parse_table(conn.get_object(results, 'wordcount.tsv')[1]) == \
        dict(expected)
