"""Two-way exchange between the instances of a connected job (issue 11): closing
``/dev/out/<peer>`` delivers end-of-file to that peer at once, so instances that first send to
and then read from each other finish, across servers and on one server."""
import uuid

import pytest

from tests.functional.mapreduce_support import post_job, python_node

# Send my name to every peer, close, then read every peer's stream to its end.
EXCHANGE = b'''import os, sys
me = os.environ["SCRIPT_NAME"]  # the instance name (S6)
for name in sorted(os.listdir("/dev/out")):
    with open("/dev/out/" + name, "w") as out:
        out.write("from %s to %s\\n" % (me, name))
got = []
for name in sorted(os.listdir("/dev/in")):
    with open("/dev/in/" + name) as channel:
        got.append(channel.read())
sys.stdout.write("".join(got))
'''


@pytest.fixture(scope='module')
def stage(cluster):
    conn = cluster.connection()
    container = 'zctwoway-' + uuid.uuid4().hex
    conn.put_container(container)
    conn.put_object(container, 'exchange.py', EXCHANGE)
    return container


@pytest.mark.parametrize('count', [2, 4])
def test_a_full_mesh_exchanges_and_ends(cluster, stage, count):
    job = [python_node('peer', stage, 'exchange.py', [{'name': 'stdout'}], count=count,
                       connect=['peer'])]
    resp = post_job(cluster, job)
    assert resp.status_code == 200, resp.text
    assert resp.headers['X-Nexe-Status'] == ','.join(['ok'] * count), resp.headers
    names = ['peer-%d' % n for n in range(1, count + 1)]
    expected = ''.join('from %s to %s\n' % (src, dst) for dst in names for src in names
                       if src != dst)
    assert resp.text == expected


CRASH_THEN = b'''import os, signal, sys, time
if os.environ["SCRIPT_NAME"] == "peer-1":
    time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGSEGV)
time.sleep(3600)   # busy elsewhere, never touching its channels
'''


def test_a_failure_stops_busy_peers_of_a_connected_job_at_once(cluster, stage):
    from tests.functional.test_session_path import gone
    marker = 'marker-' + uuid.uuid4().hex
    cluster.connection().put_object(stage, 'crash_then.py', CRASH_THEN)
    job = [python_node('peer', stage, 'crash_then.py', [{'name': 'stdout'}], count=3,
                       connect=['peer'], args=marker)]
    resp = post_job(cluster, job)
    assert resp.status_code == 200
    assert resp.headers['X-Nexe-Error'].startswith('peer-1 failed: killed by signal SIGSEGV')
    assert gone(marker), 'a busy peer outlived its cancelled job'


def test_a_zvm_path_to_a_custom_device_reaches_that_device(cluster, stage):
    conn = cluster.connection()
    conn.put_object(stage, 'say.py', b'print("hello over a custom device")\n')
    conn.put_object(stage, 'hear.py', b'import sys\nsys.stdout.write(open("/dev/mydev").read())\n')
    job = [python_node('say', stage, 'say.py', [{'name': 'stdout', 'path': 'zvm://hear:mydev'}]),
           python_node('hear', stage, 'hear.py', [{'name': 'stdout'}])]
    resp = post_job(cluster, job)
    assert resp.status_code == 200 and resp.headers['X-Nexe-Status'] == 'ok,ok', resp.headers
    assert resp.text == 'hello over a custom device\n'


def test_instances_with_one_location_share_a_server(cluster, stage):
    cluster.connection().put_object(stage, 'hello.py', b'print("hi")\n')
    job = [python_node('h', stage, 'hello.py', [{'name': 'stdout'}], count=4,
                       location='together')]
    resp = post_job(cluster, job)
    assert resp.status_code == 200 and resp.headers['X-Nexe-Status'] == 'ok,ok,ok,ok'
    assert len(set(resp.headers['X-Nexe-Node'].split(','))) == 1, resp.headers['X-Nexe-Node']
