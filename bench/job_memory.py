"""What a job of many instances costs the proxy: memory and time of plan, authorization,
scheduling and results, with a fake Swift and a fake dispatch (no object server).

Usage: .venv/bin/python bench/job_memory.py [--objects 100000] [--servers 4]
           [--session-seconds 0.001] [--busy 0.05]

One wildcard job over ``--objects`` listed objects (the sort job of Servlets.md: stdin from
``swift://~/data/*``, stdout to the response) goes through the real proxy filter
(:class:`zerocloud.proxy_middleware.ZerocloudProxy`: parse, expand, authorize every path,
schedule, verdict, response) over a fake Swift (listing pages, container info, HEAD of the
executable) and a fake ring of ``--servers`` object servers (3 primaries and a handoff per
object).  The one try of a session on a server (``Services.attempt``) is faked: it holds its
slot ``--session-seconds`` and answers "busy" with probability ``--busy``, else a result
without outputs.  Prints, in the same run, the proxy process's RSS growth for the plan
alone (:func:`zerocloud.job.expand`) and for the whole job, their per-instance figures,
the most sessions seen in flight per server (must not pass ``zerovm_server_slots``), the
busy answers retried, and the size of the response headers.
"""
import argparse
import gc
import json
import os
import random
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from swift.common import swob  # noqa: E402
from swift.common.utils import get_logger  # noqa: E402

from tests.unit.fake_swift import FakeAuth, FakeSwift  # noqa: E402
from zerocloud import green, job as joblib, proxy_middleware  # noqa: E402
from zerocloud.proxy_middleware import schedule  # noqa: E402
from zerocloud.proxy_middleware.config import ProxyConfig  # noqa: E402
from zerocloud.proxy_middleware.results import SessionResult  # noqa: E402
from zerocloud.report import Report  # noqa: E402

JOB = [{'name': 'sort', 'exec': {'path': 'swift://~/bin/sort'},
        'devices': [{'name': 'stdin', 'path': 'swift://~/data/*'}, {'name': 'stdout'}]}]
MIB = 1024 * 1024


def rss_bytes(field='VmRSS'):
    with open('/proc/self/status') as handle:
        for line in handle:
            if line.startswith(field + ':'):
                return int(line.split()[1]) * 1024
    return 0


def listing(names):
    """A container GET handler paging ``names`` as Swift does (limit, marker)."""
    def handler(req):
        limit, marker = int(req.params.get('limit', 10000)), req.params.get('marker', '')
        start = 0 if not marker else int(marker.rsplit('-', 1)[1]) + 1
        page = [{'name': name} for name in names[start:start + limit]]
        return 200, {'Content-Type': 'application/json'}, json.dumps(page).encode()
    return handler


def fake_swift(names):
    app = FakeSwift()
    app.register('HEAD', '/v1/AUTH_test', 204)
    app.register('HEAD', '/v1/AUTH_test/data', 204, {'X-Backend-Storage-Policy-Index': '0'})
    app.register('HEAD', '/v1/AUTH_test/bin', 204, {'X-Backend-Storage-Policy-Index': '0'})
    app.register('HEAD', '/v1/AUTH_test/bin/sort', 200, {'Etag': 'e' * 32,
                                                         'Content-Length': '1000'})
    app.handle('GET', '/v1/AUTH_test/data', listing(names))
    return app


class FakeRings:
    """``servers`` object servers; each object: 3 primaries, then one handoff."""

    def __init__(self, servers):
        self.nodes = [{'ip': '10.0.0.%d' % n, 'port': 6010, 'device': 'sdb1'}
                      for n in range(servers)]

    def candidates(self, policy_index, account, container=None, obj=None):
        first = hash(obj) % len(self.nodes)
        ring = self.nodes[first:] + self.nodes[:first]
        return 7, iter(ring[:3] + [dict(node, handoff_index=0) for node in ring[3:4]])


class FakeServers:
    """``Services.attempt``: holds the slot a while, sometimes answers busy."""

    def __init__(self, slots, seconds, busy):
        self.slots = slots
        self.seconds = seconds
        self.busy = busy
        self.most = 0
        self.busy_answers = 0
        self.ran = 0

    def __call__(self, node, instance, target, session, parts, sent, timeouts, spools,
                 logger, tried):
        self.most = max(self.most, self.slots.in_flight(node))
        green.sleep(self.seconds)
        if random.random() < self.busy:
            self.busy_answers += 1
            return schedule.BUSY
        self.ran += 1
        return SessionResult(instance, schedule.server_key(node),
                             Report(status='ok', retcode=0), {})


def plan_growth(names):
    """RSS growth of the plan alone, and the plan (kept alive while measured)."""
    gc.collect()
    before = rss_bytes()
    job = joblib.parse_job(json.dumps(JOB).encode())
    plan = joblib.expand(job, account='AUTH_test', max_instances=len(names),
                         list_objects=lambda account, container, prefix: names)
    return rss_bytes() - before, plan


def run_job(names, args):
    config = ProxyConfig.from_conf({'zerovm_maxinstances': str(len(names))})
    middleware = proxy_middleware.ZerocloudProxy(fake_swift(names), config,
                                                 get_logger({}))
    middleware.services.rings = FakeRings(args.servers)
    servers = FakeServers(middleware.services.slots, args.session_seconds, args.busy)
    middleware.services.attempt = servers
    req = swob.Request.blank('/v1/AUTH_test', method='POST', body=json.dumps(JOB), headers={
        'X-Zerovm-Execute': '1.0', 'Content-Type': 'application/json'})
    req.environ['swift.authorize'] = FakeAuth((('POST', '/v1/AUTH_test'),
                                               ('GET', '/v1/AUTH_test/*')))
    req.environ['REMOTE_USER'] = 'test,test:tester,AUTH_test'
    resp = req.get_response(middleware)
    return resp, servers, config


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--objects', type=int, default=100000)
    parser.add_argument('--servers', type=int, default=4)
    parser.add_argument('--session-seconds', type=float, default=0.001)
    parser.add_argument('--busy', type=float, default=0.05)
    args = parser.parse_args()
    names = ['obj-%d' % n for n in range(args.objects)]
    start_rss = rss_bytes()
    plan_bytes, plan = plan_growth(names)
    del plan
    gc.collect()
    before = rss_bytes()
    began = time.perf_counter()
    resp, servers, config = run_job(names, args)
    seconds = time.perf_counter() - began
    peak = rss_bytes('VmHWM')
    header_bytes = sum(len(k) + len(v) for k, v in resp.headers.items())
    print('job over %d objects: %s, %d sessions ran, %.1f s (X-Nexe-Error: %s)'
          % (args.objects, resp.status, servers.ran, seconds,
             resp.headers.get('X-Nexe-Error')))
    print('  plan alone: +%.1f MiB (%.0f bytes/instance)'
          % (plan_bytes / MIB, plan_bytes / args.objects))
    print('  whole job, peak RSS over the start of the job: +%.1f MiB (%.0f bytes/instance);'
          ' process peak %.1f MiB (started at %.1f MiB)'
          % ((peak - before) / MIB, (peak - before) / args.objects, peak / MIB,
             start_rss / MIB))
    print('  most sessions in flight on one server: %d (zerovm_server_slots %d); busy '
          'answers retried: %d' % (servers.most, config.server_slots, servers.busy_answers))
    longest = max(resp.headers.items(), key=lambda item: len(item[1]))
    print('  response headers: %.1f KiB, the longest %s: %.1f KiB'
          % (header_bytes / 1024, longest[0], len(longest[1]) / 1024))
    return 0 if resp.status_int == 200 and servers.ran == args.objects else 1


if __name__ == '__main__':
    sys.exit(main())
