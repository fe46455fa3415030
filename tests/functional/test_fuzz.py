"""Hostile requests against the real cluster (issue 10): every answer is clean.

Seeded (``derandomize``: the same inputs every run) and bounded (8,000 inputs, about 90 s
on two cores): hostile job bodies, random JSON and bytes, odd scripts, methods, paths and
headers (:mod:`tests.functional.fuzz_support`, shared with ``bench/fuzz_jobs.py``, which
runs the same generator for 100,000 inputs).  Every answer: no 5xx but 501 (not yet
supported) and 503 (no capacity), no dropped connection, no hang, every 400 of ours says
where the problem is.  Afterwards the proxy and the object servers hold no more fds and
memory than after the warm-up, within a small slack (a socket left to the garbage collector
shows only when no full collection ran in between: connected jobs get their own test).
"""
import json
import time

import pytest
import requests
from hypothesis import HealthCheck, given, settings

from tests.functional import fuzz_support as fz

EXAMPLES = 8000
WARM_UP = 300           # examples before the baseline is taken: pools, caches, supervisors
# fds a server kind may hold beyond its baseline after 8,000 requests: a per-request leak
# gives hundreds.  The 4 object servers together keep a few more (keep-alive connections
# from the proxy, native threads started by Swift's disk calls with their wake-up sockets,
# each server's work directory, lock, janitor pipe and supervisor made at its first session):
# measured +16..18 after the fuzz in a clean-clone run, stable afterwards.
FD_SLACK = {'proxy': 12, 'object': 32}
RSS_SLACK_KIB = 24 * 1024
SETTLE_SECONDS = 15
CONNECTED_JOBS = 40


class Target:
    """The cluster as the fuzz sees it, and what the fuzz has measured so far."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.url, self.token = cluster.auth()
        self.session = requests.Session()
        self.count = 0
        self.baseline = None

    def usage(self):
        return {kind: fz.usage(fz.server_pids(self.cluster.etc_dir, kind))
                for kind in ('proxy', 'object')}


def warm_every_object_server(target, objects=40):
    """Run one session next to each of ``objects`` small objects, so that every object
    server has made its work directory and started its sandbox supervisor (descriptors each
    keeps for life) before the fuzz's baseline: a server whose first session came after the
    baseline looked like a leak."""
    headers = {'X-Auth-Token': target.token}
    container = 'fuzz-warm'
    requests.put('%s/%s' % (target.url, container), headers=headers,
                 timeout=fz.TIMEOUT).raise_for_status()
    requests.put('%s/%s/count.py' % (target.url, container), headers=headers,
                 data=b'import sys\nprint(len(sys.stdin.read()))\n',
                 timeout=fz.TIMEOUT).raise_for_status()
    for index in range(objects):
        requests.put('%s/%s/w-%02d' % (target.url, container, index), headers=headers,
                     data=b'x' * index, timeout=fz.TIMEOUT).raise_for_status()
    job = [{'name': 'w', 'exec': {'path': 'file://python:python', 'args': '/dev/script'},
            'devices': [{'name': 'python'},
                        {'name': 'script', 'path': 'swift://~/%s/count.py' % container},
                        {'name': 'stdin', 'path': 'swift://~/%s/w-*' % container},
                        {'name': 'stdout'}]}]
    resp = requests.post(target.url, data=json.dumps(job), timeout=300, headers=dict(
        headers, **{'X-Zerovm-Execute': '1.0', 'Content-Type': 'application/json'}))
    assert resp.status_code == 200 and resp.headers['X-Nexe-Status'] == ','.join(
        ['ok'] * objects), (resp.status_code, resp.headers)
    assert len(set(resp.headers['X-Nexe-Node'].split(','))) == 4, resp.headers['X-Nexe-Node']


@pytest.fixture(scope='module')
def target(start_cluster):
    """A cluster of its own whose instance limit is 100: the fuzz's counts 100 and 101 probe
    that boundary, and a valid job of 10,000 instances is refused instead of running (this
    suite is about hostile input, not scale: the default limit is 100,000)."""
    cluster = start_cluster('fuzz', filter_options={
        'proxy_middleware': {'zerovm_maxinstances': '100'}})
    found = Target(cluster)
    fz.stage(found.url, found.token)
    warm_every_object_server(found)
    return found


@settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.large_base_example])
@given(case=fz.cases())
def test_hostile_requests_get_clean_answers(target, case):
    outcome = fz.send(target.session, target.url, target.token, case)
    target.count += 1
    if target.count == WARM_UP:
        target.baseline = target.usage()
    assert fz.check(case, outcome) == [], (case.describe(), outcome.status, outcome.text)


def test_the_fuzz_leaks_no_fds_or_memory(target):
    assert target.baseline is not None, 'the fuzz did not run past its warm-up'
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:   # sessions and connections of the last requests take a moment to end
        after = target.usage()
        grown = {kind: (after[kind][0] - target.baseline[kind][0],
                        after[kind][1] - target.baseline[kind][1]) for kind in after}
        if all(fds <= FD_SLACK[kind] and rss <= RSS_SLACK_KIB
               for kind, (fds, rss) in grown.items()):
            break
        assert time.monotonic() < deadline, ('fds and RSS KiB grew by %r (baseline %r)'
                                             % (grown, target.baseline))
        time.sleep(0.5)


def test_connected_jobs_leave_no_sockets_in_the_proxy(target):
    job = json.dumps(fz.templates()[4]).encode()   # connected; its sessions are rejected
    headers = {'X-Auth-Token': target.token, 'X-Zerovm-Execute': '1.0',
               'Content-Type': 'application/json'}
    proxy = fz.server_pids(target.cluster.etc_dir, 'proxy')
    before = fz.usage(proxy)[0]
    for _ in range(CONNECTED_JOBS):
        resp = target.session.post(target.url, data=job, headers=headers, timeout=fz.TIMEOUT)
        assert resp.status_code == 200 and 'cancelled' in resp.headers['X-Nexe-Status']
    deadline = time.monotonic() + 5
    while fz.usage(proxy)[0] - before > FD_SLACK['proxy'] // 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert fz.usage(proxy)[0] - before <= FD_SLACK['proxy'] // 2, 'the proxy kept %d more fds after ' \
        '%d connected jobs' % (fz.usage(proxy)[0] - before, CONNECTED_JOBS)
