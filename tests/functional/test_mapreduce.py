"""Connected jobs on the all-in-one cluster (issue 6): sessions wired by channels.

Programs are Python scripts run by the ``python`` system image; each reads its channels from
``/dev/in/*`` and writes ``/dev/out/*``.
"""
import uuid

import pytest

from tests.functional.test_jobs_checks import post_job

PRODUCER = b'''import os, sys
for name in sorted(os.listdir("/dev/out")):
    with open("/dev/out/" + name, "w") as out:
        out.write("%s says hello to %s\\n" % (os.environ["SCRIPT_NAME"], name))
'''
CONSUMER = b'''import os, sys
for name in sorted(os.listdir("/dev/in")):
    with open("/dev/in/" + name) as channel:
        sys.stdout.write("%s got: %s" % (os.environ["SCRIPT_NAME"], channel.read()))
'''


def python_node(name, container, script, devices=(), **extra):
    node = {'name': name, 'exec': {'path': 'file://python:python', 'args': '/dev/script'},
            'devices': [{'name': 'python'},
                        {'name': 'script', 'path': 'swift://~/%s/%s' % (container, script)}]
            + list(devices)}
    node.update(extra)
    return node


@pytest.fixture(scope='module')
def scripts(cluster):
    conn = cluster.connection()
    container = 'zcmesh-' + uuid.uuid4().hex
    conn.put_container(container)
    conn.put_object(container, 'producer.py', PRODUCER)
    conn.put_object(container, 'consumer.py', CONSUMER)
    return container


def test_two_sessions_connected_by_a_channel(cluster, scripts):
    job = [python_node('producer', scripts, 'producer.py', connect=['consumer']),
           python_node('consumer', scripts, 'consumer.py', [{'name': 'stdout'}])]
    resp = post_job(cluster, job)
    assert resp.status_code == 200, resp.text
    assert resp.headers['X-Nexe-System'] == 'producer,consumer'
    assert resp.headers['X-Nexe-Status'] == 'ok,ok', resp.headers
    assert resp.text == 'consumer got: producer says hello to consumer\n'


def test_a_zvm_url_connects_stdout_to_the_stdin_of_another_node(cluster, scripts):
    conn = cluster.connection()
    conn.put_object(scripts, 'upper.py',
                    b'import sys\nsys.stdout.write(sys.stdin.read().upper())\n')
    conn.put_object(scripts, 'say.py', b'print("piped through a channel")\n')
    job = [python_node('say', scripts, 'say.py', [{'name': 'stdout',
                                                   'path': 'zvm://upper:stdin'}]),
           python_node('upper', scripts, 'upper.py', [{'name': 'stdout'}])]
    resp = post_job(cluster, job)
    assert resp.status_code == 200, resp.text
    assert resp.headers['X-Nexe-Status'] == 'ok,ok', resp.headers
    assert resp.text == 'PIPED THROUGH A CHANNEL\n'
