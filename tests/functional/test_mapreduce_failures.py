"""Failures in connected jobs: the job ends within its timeout with a clear error, nothing is
left on any server (no session process, no listener, no connection), nothing is published."""
import uuid

import pytest
import swiftclient

from tests.functional.mapreduce_support import (post_job, python_node, server_sockets,
                                                wait_for_no_leftovers)

MAPPER = b'''import os, signal, sys
data = sys.stdin.read()
if "crash" in data:
    os.kill(os.getpid(), signal.SIGSEGV)
for name in sorted(os.listdir("/dev/out")):
    with open("/dev/out/" + name, "w") as out:
        out.write(data)
'''
READER = b'''import os, sys
total = 0
for name in sorted(os.listdir("/dev/in")):
    with open("/dev/in/" + name) as channel:
        total += len(channel.read())
print(total)
'''
# Never reads a byte, but ends only once its input has bytes waiting (poll says readable):
# otherwise it could end before the source's first byte arrived, and nothing would be unread.
NON_READER = b'''import os, select
channel = os.open("/dev/in/" + os.listdir("/dev/in")[0], os.O_RDONLY)
select.select([channel], [], [], 20)
print("not reading")
'''
FLOODER = b'''import os
with open("/dev/out/" + os.listdir("/dev/out")[0], "wb") as out:
    for _ in range(64):
        out.write(b"x" * (1 << 20))
'''
SLEEPER = b'''import time
time.sleep(3600)
'''


@pytest.fixture(scope='module')
def stage(cluster):
    conn = cluster.connection()
    container = 'zcfail-' + uuid.uuid4().hex
    conn.put_container(container)
    for name, body in (('mapper.py', MAPPER), ('reader.py', READER),
                       ('non_reader.py', NON_READER), ('flooder.py', FLOODER),
                       ('sleeper.py', SLEEPER)):
        conn.put_object(container, name, body)
    for index, text in enumerate(['alpha beta\n', 'crash here\n', 'gamma\n'], 1):
        conn.put_object(container, 'in/part-%d.txt' % index, text.encode())
    return container


def map_reduce(stage, mapper, reducer, marker, reducers=2, inputs='in/*', extra_reduce=()):
    output = {'name': 'stdout', 'path': 'swift://~/%s/out/result-*' % stage}
    return [python_node('map', stage, mapper, [{'name': 'stdin', 'path': 'swift://~/%s/%s'
                                                % (stage, inputs)}], args=marker,
                        connect=['reduce']),
            python_node('reduce', stage, reducer, [output] + list(extra_reduce), args=marker,
                        count=reducers)]


def published(cluster, stage):
    _headers, listing = cluster.connection().get_container(stage, prefix='out/')
    return [entry['name'] for entry in listing]


def run_failing(cluster, job, marker):
    baseline = server_sockets(cluster)
    resp = post_job(cluster, job)
    pids, sockets = wait_for_no_leftovers(cluster, baseline, marker.encode())
    assert pids == [], 'session processes left: %s' % pids
    assert sockets is None, 'sockets left (now, before): %s' % (sockets,)
    return resp


def test_a_crashing_mapper_fails_the_job_and_names_itself(cluster, stage):
    marker = 'marker-' + uuid.uuid4().hex
    resp = run_failing(cluster, map_reduce(stage, 'mapper.py', 'reader.py', marker),
                                marker)
    assert resp.status_code == 200, resp.text
    assert resp.headers['X-Nexe-System'] == 'map-1,map-2,map-3,reduce-1,reduce-2'
    statuses = resp.headers['X-Nexe-Status'].split(',')
    assert 'SIGSEGV' in statuses[1], statuses
    assert resp.headers['X-Nexe-Error'].startswith('map-2 failed: '), resp.headers
    assert 'SIGSEGV' in resp.headers['X-Nexe-Error']
    assert published(cluster, stage) == []


def test_a_reducer_that_never_reads_fails_the_job(cluster, stage):
    marker = 'marker-' + uuid.uuid4().hex
    job = map_reduce(stage, 'flooder.py', 'non_reader.py', marker, reducers=1,
                     inputs='in/part-1.txt')
    resp = run_failing(cluster, job, marker)
    assert resp.status_code == 200, resp.text
    statuses = resp.headers['X-Nexe-Status'].split(',')
    assert statuses[1] == 'ended without reading all of /dev/in/map (bytes its source ' \
                          'sent were left unread)', resp.headers
    assert resp.headers['X-Nexe-Retcode'].split(',')[0] != '0'   # its writes failed
    assert resp.headers['X-Nexe-Error'], resp.headers
    assert published(cluster, stage) == []


def test_a_hung_reducer_is_killed_at_the_timeout_and_cancels_the_job(cluster, stage):
    marker = 'marker-' + uuid.uuid4().hex
    job = map_reduce(stage, 'flooder.py', 'sleeper.py', marker, reducers=1,
                     inputs='in/part-1.txt')
    resp = run_failing(cluster, job, marker)
    assert resp.status_code == 200, resp.text
    assert 'X-Nexe-Error' in resp.headers, resp.headers
    assert all(status != 'ok' for status in resp.headers['X-Nexe-Status'].split(','))
    # the mapper, blocked writing to it, reaches the limit too: either may be first
    assert resp.headers['X-Nexe-Error'] in ('%s failed: timeout: wall-clock limit reached'
                                            % name for name in ('map', 'reduce-1'))
    assert published(cluster, stage) == []


def test_a_missing_input_is_a_404_naming_it_and_nothing_runs(cluster, stage):
    marker = 'marker-' + uuid.uuid4().hex
    job = [python_node('map', stage, 'mapper.py', [{'name': 'stdin', 'path': 'swift://~/%s/in/'
                                                     'part-1.txt' % stage}], args=marker,
                       connect=['reduce']),
           python_node('reduce', stage, 'reader.py',
                       [{'name': 'stdin', 'path': 'swift://~/%s/missing.txt' % stage},
                        {'name': 'stdout', 'path': 'swift://~/%s/out/never' % stage}],
                       args=marker)]
    resp = run_failing(cluster, job, marker)
    assert resp.status_code == 404, resp.text
    assert 'missing.txt' in resp.text
    assert resp.headers['X-Nexe-Error'].startswith('reduce failed: 404'), resp.headers
    assert published(cluster, stage) == []
    with pytest.raises(swiftclient.ClientException):
        cluster.connection().head_object(stage, 'out/never')


@pytest.fixture(scope='module')
def small_cluster(start_cluster):
    """A cluster whose object servers run one session each and queue none."""
    return start_cluster('one-slot', filter_options={
        'object_middleware': {'zerovm_maxpool': '1', 'zerovm_maxqueue': '0'}})


def test_a_job_that_cannot_be_placed_whole_is_a_503_and_releases_every_slot(small_cluster):
    cluster = small_cluster
    conn = cluster.connection()
    container = 'zcfull-' + uuid.uuid4().hex
    conn.put_container(container)
    conn.put_object(container, 'reader.py', READER)
    conn.put_object(container, 'mapper.py', MAPPER)
    conn.put_object(container, 'in.txt', b'alpha\n')
    marker = 'marker-' + uuid.uuid4().hex

    def job(readers):  # one writer and ``readers`` readers: readers + 1 sessions
        return [python_node('map', container, 'mapper.py', [
                    {'name': 'stdin', 'path': 'swift://~/%s/in.txt' % container}],
                    args=marker, connect=['reduce']),
                python_node('reduce', container, 'reader.py', [{'name': 'stdout'}],
                            args=marker, count=readers)]
    resp = run_failing(cluster, job(5), marker)   # 6 sessions, 4 slots
    assert resp.status_code == 503, resp.text
    assert 'failed: 503' in resp.headers['X-Nexe-Error'], resp.headers
    resp = run_failing(cluster, job(3), marker)  # 4 sessions fit: slots were freed
    assert resp.status_code == 200, resp.text
    assert resp.headers['X-Nexe-Status'] == 'ok,ok,ok,ok', resp.headers
    assert resp.text == '6\n6\n6\n'
