"""A spooled shuffle at full size (issue 16.2): hundreds of MiB go through the spools of a
job run in waves (its programs stored under a container name outside ASCII), and the object servers and the proxy
hold no more descriptors or memory afterwards than before (and stream while it runs)."""
import contextlib
import hashlib
import json
import time
import uuid

import pytest
import requests

from tests.functional.mapreduce_support import cluster_pids, python_node
from tests.functional.test_scale import spools_made_since
from tests.functional.test_session_path import PeakRss, fd_count, rss_bytes

MIB = 1 << 20
MAPPER_MIB = 160           # per mapper: 2 x 160 MiB through the spools
MAPPERS = ('map-1', 'map-2')    # instance names are [A-Za-z0-9_-] (the job language)
REDUCER = 'reduce'
MAPPER = b'''import hashlib, os, sys
block = hashlib.sha256(sys.argv[2].encode()).digest() * (1 << 15)     # 1 MiB
(target,) = os.listdir("/dev/out")
with open("/dev/out/" + target, "wb") as out:
    for _ in range(int(sys.argv[1])):
        out.write(block)
'''
READER = b'''import hashlib, os
for name in sorted(os.listdir("/dev/in")):
    digest, size = hashlib.sha256(), 0
    with open("/dev/in/" + name, "rb") as channel:
        while True:
            chunk = channel.read(1 << 20)
            if not chunk:
                break
            size += len(chunk)
            digest.update(chunk)
    print(name, size, digest.hexdigest())
'''
SETTLE_SECONDS = 30        # a guard for descriptors closed after the response, not a target
RSS_SLACK = 48 * MIB       # allocator noise; a held spool would be 160 MiB


def expected_line(mapper):
    block = hashlib.sha256(mapper.encode()).digest() * (1 << 15)
    digest = hashlib.sha256()
    for _ in range(MAPPER_MIB):
        digest.update(block)
    return '%s %d %s' % (mapper, MAPPER_MIB * MIB, digest.hexdigest())


@pytest.fixture(scope='module')
def waves_cluster(start_cluster):
    """A cluster whose proxy runs every connected job without cycles in waves."""
    return start_cluster('waves', filter_options={
        'proxy_middleware': {'zerovm_shuffle_spool': 'always'}})


def post_closing(url, token, job):
    """POST ``job`` on a connection closed after the answer (no keep-alive connection of
    this client is left holding a proxy fd: authenticate before counting, too)."""
    return requests.post(url, data=json.dumps(job), timeout=600, headers={
        'X-Auth-Token': token, 'X-Zerovm-Execute': '1.0', 'Connection': 'close',
        'Content-Type': 'application/json'})


def servers(cluster):
    return cluster_pids(cluster, 'object') + cluster_pids(cluster, 'proxy')


def settled_fds(pids, before):
    """Each server's fd count, waiting (bounded) for it to fall back to ``before``."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        now = {pid: fd_count(pid) for pid in pids}
        if all(now[pid] <= before[pid] for pid in pids) or time.monotonic() > deadline:
            return now
        time.sleep(0.2)


def test_hundreds_of_mib_through_spools_leave_no_fds_or_memory(waves_cluster):
    cluster = waves_cluster
    conn = cluster.connection()
    container = 'zcволны-' + uuid.uuid4().hex
    conn.put_container(container)
    conn.put_object(container, 'mapper.py', MAPPER)
    conn.put_object(container, 'reader.py', READER)
    job = [python_node(name, container, 'mapper.py', args='%d %s' % (MAPPER_MIB, name),
                       connect=[REDUCER]) for name in MAPPERS]
    job.append(python_node(REDUCER, container, 'reader.py', [{'name': 'stdout'}]))
    url, token = cluster.auth()
    post_closing(url, token, job)    # warm up: the servers' pools, caches and first connections
    pids = servers(cluster)
    fds_before = {pid: fd_count(pid) for pid in pids}
    rss_before = {pid: rss_bytes(pid) for pid in pids}
    started = time.time()
    with contextlib.ExitStack() as stack:
        samplers = [stack.enter_context(PeakRss(pid)) for pid in pids]
        resp = post_closing(url, token, job)
    assert resp.status_code == 200, resp.text
    assert resp.headers['X-Nexe-Status'] == 'ok,ok,ok', resp.headers
    assert resp.text.splitlines() == [expected_line(name) for name in MAPPERS]
    # the reducer read the spools as local files (bound), not from channels
    reducer_cdr = resp.headers['X-Nexe-Cdr-Line'].split(',')[3].split()
    assert int(reducer_cdr[4]) >= len(MAPPERS) * MAPPER_MIB * MIB, reducer_cdr   # rbytes
    assert int(reducer_cdr[8]) == 0, reducer_cdr                                 # nrbytes
    assert spools_made_since(started) == []      # the job's spools were removed
    for sampler in samplers:   # spools are streamed to files and over HTTP, never held
        assert sampler.growth < RSS_SLACK, (sampler.pid, sampler.growth)
    fds_after = settled_fds(pids, fds_before)   # (fewer: idle pooled connections closed)
    grown = {pid: (fds_before[pid], fds_after[pid]) for pid in pids
             if fds_after[pid] > fds_before[pid]}
    assert grown == {}, ['%s %s: %s' % (pid, open('/proc/%s/cmdline' % pid).read()[-40:], fds)
                         for pid, fds in grown.items()]
    for pid in pids:
        assert rss_bytes(pid) - rss_before[pid] < RSS_SLACK, pid
