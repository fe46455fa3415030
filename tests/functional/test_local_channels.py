"""Channels between sessions on one host are Unix stream connections (issue 11): a connected
job whose two instances run on two different object servers of the all-in-one cluster (one
kernel: one host) exchanges both ways, each end seeing end-of-file when its peer closes, and
every channel was wired over Unix, not TCP (the object servers' log lines say so)."""
import json
import subprocess
import sys
import time
import uuid

from tests.functional.mapreduce_support import post_job, python_node
from tests.functional.test_jobs_run import log_lines

# Send my stdin to my peer, close (the peer sees end-of-file), then read the peer's to its end.
SWAP = b'''import os, sys
me = os.environ["SCRIPT_NAME"]
(peer,) = os.listdir("/dev/out")
with open("/dev/out/" + peer, "w") as out:
    out.write("%s sends %s" % (me, sys.stdin.read()))
with open("/dev/in/" + peer) as channel:
    sys.stdout.write("%s got: %s" % (me, channel.read()))
'''
LOG_WAIT_SECONDS = 10.0


def first_nodes(cluster, account, container, names):
    """{object name: 'ip:port' of its first primary object server} from the cluster's ring
    (asked in a separate process, as tests.functional.test_jobs_run.object_nodes does)."""
    script = ('import sys, json; from swift.common.utils import set_swift_dir; '
              'set_swift_dir(sys.argv[1]); from swift.common.ring import Ring; '
              'ring = Ring(sys.argv[1], ring_name="object"); '
              'print(json.dumps({o: "%s:%s" % (lambda n: (n["ip"], n["port"]))('
              'ring.get_nodes(sys.argv[2], sys.argv[3], o)[1][0]) for o in sys.argv[4:]}))')
    output = subprocess.run([sys.executable, '-c', script, cluster.etc_dir, account,
                             container] + list(names), check=True,
                            capture_output=True).stdout
    return json.loads(output)


def wired_lines(cluster, instance):
    """The object servers' 'channels wired' lines of ``instance`` (logs arrive over UDP:
    waited for, a bounded while)."""
    wanted = 'zerocloud: %s channels wired: ' % instance
    deadline = time.monotonic() + LOG_WAIT_SECONDS
    while True:
        lines = [line for line in log_lines(cluster, 'object') if wanted in line]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def test_two_instances_on_two_servers_swap_streams_over_unix_channels(cluster):
    conn = cluster.connection()
    url, _ = cluster.auth()
    account = url.rstrip('/').rsplit('/', 1)[1]
    container = 'zclocal-' + uuid.uuid4().hex
    conn.put_container(container)
    conn.put_object(container, 'swap.py', SWAP)
    candidates = ['in-%d' % n for n in range(40)]
    nodes = first_nodes(cluster, account, container, candidates)
    first = candidates[0]
    second = next(name for name in candidates if nodes[name] != nodes[first])
    for name in (first, second):
        conn.put_object(container, name, ('%s\n' % name).encode())
    tag = uuid.uuid4().hex[:8]
    a, b = 'a' + tag, 'b' + tag
    job = [python_node(a, container, 'swap.py', [
               {'name': 'stdin', 'path': 'swift://~/%s/%s' % (container, first)},
               {'name': 'stdout'}], connect=[b]),
           python_node(b, container, 'swap.py', [
               {'name': 'stdin', 'path': 'swift://~/%s/%s' % (container, second)},
               {'name': 'stdout'}], connect=[a])]
    resp = post_job(cluster, job)
    assert resp.status_code == 200, resp.text
    assert resp.headers['X-Nexe-Status'] == 'ok,ok', resp.headers
    assert resp.text == '%s got: %s sends %s\n%s got: %s sends %s\n' % (a, b, second,
                                                                      b, a, first)
    ran_on = resp.headers['X-Nexe-Node'].split(',')
    assert ran_on == [nodes[first], nodes[second]] and ran_on[0] != ran_on[1]
    for instance in (a, b):
        lines = wired_lines(cluster, instance)
        assert len(lines) == 1, lines
        assert lines[0].rstrip().endswith('channels wired: 2 unix, 0 tcp'), lines
