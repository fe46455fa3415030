"""Operator metrics reach statsd from both filters on a real cluster (issue 14, item 6)."""
import socket
import time
import uuid

import pytest

from tests.functional.test_jobs_checks import post_job


@pytest.fixture(scope='module')
def statsd():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(('127.0.0.1', 0))
    sock.settimeout(0.2)
    yield sock
    sock.close()


@pytest.fixture(scope='module')
def metered(start_cluster, statsd, c_program):
    target = {'log_statsd_host': '127.0.0.1', 'log_statsd_port': str(statsd.getsockname()[1])}
    cluster = start_cluster('metrics', nodes=1, replicas=1, filter_options={
        'proxy_middleware': target, 'object_middleware': target})
    container = 'zcmetrics-' + uuid.uuid4().hex
    conn = cluster.connection()
    conn.put_container(container)
    conn.put_object(container, 'in.txt', b'counted bytes\n')
    with open(c_program('sb_cat'), 'rb') as handle:
        conn.put_object(container, 'cat', handle.read(), content_type='application/x-nexe')
    return cluster, container


def received(sock, wanted, seconds=10, times=None):
    """Datagrams until every name in ``wanted`` was seen (``times[name]`` times, else once;
    bounded): {name: [values]}."""
    seen = {}
    end = time.monotonic() + seconds
    while time.monotonic() < end and not all(
            len(seen.get(name, ())) >= (times or {}).get(name, 1) for name in wanted):
        try:
            data = sock.recv(65536).decode()
        except socket.timeout:
            continue
        for line in data.splitlines():
            name, _, value = line.partition(':')
            server, _, metric = name.partition('.')   # Swift prefixes the server's log_name
            seen.setdefault('%s.%s' % (server.rstrip('-0123456789'), metric), []).append(value)
    return seen


def test_a_job_is_counted_by_both_filters(metered, statsd):
    cluster, container = metered
    job = [{'name': 'cat', 'exec': {'path': 'swift://~/%s/cat' % container},
            'devices': [{'name': 'stdin', 'path': 'swift://~/%s/in.txt' % container},
                        {'name': 'stdout'}]}]
    for _ in range(2):          # the second run finds the executable cached (the first
        #                         carries it: the proxy does not know the server has it)
        resp = post_job(cluster, job)
        assert resp.status_code == 200 and resp.content == b'counted bytes\n', resp.text
    wanted = ('proxy-server.answers.200', 'proxy-server.job.timing',
              'object-server.sessions.ok', 'object-server.session.run.timing',
              'object-server.bytes.in', 'object-server.bytes.out',
              'object-server.cache.executable.hit')
    seen = received(statsd, wanted, times={'object-server.sessions.ok': 2})
    assert all(name in seen for name in wanted), sorted(seen)
    assert seen['object-server.sessions.ok'][:2] == ['1|c', '1|c']
    assert all(int(value.split('|')[0]) >= 14 for value in seen['object-server.bytes.in'])
    assert all(value.endswith('|c') for value in seen['object-server.bytes.out'])


def test_a_refused_job_is_counted_by_its_status(metered, statsd):
    cluster, _ = metered
    resp = post_job(cluster, [{'name': 'x', 'exec': {'path': 5}}])
    assert resp.status_code == 400
    assert 'proxy-server.answers.400' in received(statsd, ('proxy-server.answers.400',))
