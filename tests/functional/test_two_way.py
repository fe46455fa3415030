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
