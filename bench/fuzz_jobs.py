"""Long HTTP fuzz of job requests: hostile jobs, bodies, scripts and request forms.

Usage: python bench/fuzz_jobs.py [--count 100000] [--seed 0] [--timeout 30]
                                 [--storage-url URL --token T [--etc-dir DIR]]
                                 [--failures DIR] [--log FILE] [--keep-cluster]

The generator is the functional fuzz suite's (tests/functional/fuzz_support.py), run here
for many more inputs, seeded (the same ``--seed`` sends the same inputs).  Without
``--storage-url`` it starts its own all-in-one cluster (zerocloud aio, ports in 16000-17900,
devices on tmpfs, stopped at the end); with one, ``--etc-dir`` (the cluster's configuration
directory) lets it find the proxy and object servers to measure.  Ctrl-C (or SIGTERM) stops
it after the current request, with the summary and the cluster stopped.

Prints the counts by status, every answer >= 500 other than 501/503 and every 400 of ours
that does not say where the problem is (each input saved as JSON under ``--failures``),
dropped connections, hangs (no answer within ``--timeout``), the rate, and the proxy's and
object servers' open fds and RSS before (after 200 inputs of warm-up) and after (2 s after
the last input).  ``--log`` writes one line per answer (kind, method, ours, status, first
line of the body).
"""
import argparse
import collections
import contextlib
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time

import requests
from hypothesis import HealthCheck, Phase, given, seed, settings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from tests.functional import fuzz_support as fz  # noqa: E402

WARM_UP = 200
REPORT_EVERY = 2000
CHUNK = 1000
SHM = '/dev/shm'


@contextlib.contextmanager
def target(args):
    """Yield (storage url, token, etc dir or None): the given cluster or a fresh one."""
    if args.storage_url:
        yield args.storage_url, args.token, args.etc_dir
        return
    from zerocloud.aio import cluster as aio
    root = tempfile.mkdtemp(prefix='zc-fuzz-')
    # devices on tmpfs, as the functional tests': ext4's small xattrs make Swift answer 507
    # to a large Content-Type, and error-limit the node for a minute
    devices = tempfile.mkdtemp(prefix='zc-fuzz-', dir=SHM) if os.access(SHM, os.W_OK) else ''
    spec = aio.spec_with_free_ports(os.path.join(root, 'aio'), port_range=(16000, 17900),
                                    devices=devices)
    aio.start(spec)
    print('cluster: %s (logs in %s)' % (spec.proxy_url, spec.log_dir), flush=True)
    try:
        url, token = aio.get_token(spec, 'test', 'tester', 'testing')
        yield url, token, spec.etc_dir
    finally:
        if not args.keep_cluster:
            aio.stop(spec)
            if devices:
                shutil.rmtree(devices, ignore_errors=True)


class Tally:
    """What the answers were."""

    def __init__(self, failures_dir, log=None):
        self.log = open(log, 'w') if log else None
        self.statuses = collections.Counter()
        self.kinds = collections.Counter()
        self.failures_dir = failures_dir
        self.bad = []          # (problem, saved file)
        self.dropped = self.hangs = self.unlocated = self.count = 0
        self.started = time.monotonic()

    def record(self, case, outcome):
        self.count += 1
        self.kinds[case.kind] += 1
        self.statuses[outcome.status or outcome.error] += 1
        self.dropped += outcome.error == 'dropped'
        self.hangs += outcome.error == 'hang'
        if self.log:
            self.log.write(json.dumps([case.kind, case.method, fz.ours(case), outcome.status,
                                       outcome.text.split('\n')[0][:200]]) + '\n')
        problems = fz.check(case, outcome)
        self.unlocated += fz.unlocated(case, outcome)
        if problems:
            self.save(case, outcome, problems)

    def save(self, case, outcome, problems):
        os.makedirs(self.failures_dir, exist_ok=True)
        path = os.path.join(self.failures_dir, 'case-%06d.json' % self.count)
        with open(path, 'w') as handle:
            json.dump({'problems': problems, 'status': outcome.status,
                       'answer': outcome.text[:4000], 'case': case.describe()}, handle,
                      indent=1)
        self.bad.append((problems[0][:200], path))
        print('  !! %s -> %s' % (problems[0][:200], path), flush=True)

    @property
    def rate(self):
        return self.count / max(time.monotonic() - self.started, 1e-9)

    def progress(self):
        print('  %d inputs, %.1f/s, statuses %s' % (
            self.count, self.rate, dict(sorted(self.statuses.items(), key=str))), flush=True)


def measure(etc_dir):
    """{'proxy': (fds, rss KiB), 'object': (fds, rss KiB)} or None without an etc dir."""
    if not etc_dir:
        return None
    return {kind: fz.usage(fz.server_pids(etc_dir, kind)) for kind in ('proxy', 'object')}


def run(args, url, token, etc_dir, tally):
    """Fuzz in chunks of :data:`CHUNK` inputs (one seeded hypothesis run each), so that
    SIGINT/SIGTERM stop it between two requests and the cluster is still stopped."""
    session = requests.Session()
    fz.stage(url, token)
    before, stop = {}, []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.append(True))

    def fuzz(case):
        if stop:
            return      # hypothesis does not stop on KeyboardInterrupt: run out the chunk
        outcome = fz.send(session, url, token, case, args.timeout)
        tally.record(case, outcome)
        if tally.count == WARM_UP:
            before.update(usage=measure(etc_dir))
        if tally.count % REPORT_EVERY == 0:
            tally.progress()

    for chunk in range(0, args.count, CHUNK):
        if stop:
            break
        seed(args.seed * 1000003 + chunk)(settings(
            max_examples=min(CHUNK, args.count - chunk), database=None, deadline=None,
            phases=[Phase.generate], suppress_health_check=list(HealthCheck))(
                given(case=fz.cases())(fuzz)))()
    time.sleep(2)  # let the last sessions end and their sockets close
    return before.get('usage'), measure(etc_dir)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--count', type=int, default=100000)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--timeout', type=float, default=fz.TIMEOUT)
    parser.add_argument('--storage-url')
    parser.add_argument('--token')
    parser.add_argument('--etc-dir', help='the cluster configuration directory (to find '
                        'the proxy and object servers and measure their fds and RSS)')
    parser.add_argument('--failures', default='fuzz-failures')
    parser.add_argument('--keep-cluster', action='store_true')
    parser.add_argument('--log', help='write every answer (kind, status, first line) here')
    args = parser.parse_args()
    if args.storage_url and not args.token:
        parser.error('--storage-url needs --token')
    random.seed(args.seed)
    tally = Tally(args.failures, args.log)
    with target(args) as (url, token, etc_dir):
        before, after = run(args, url, token, etc_dir, tally)
    elapsed = time.monotonic() - tally.started
    print('\ninputs            %d in %.0f s (%.1f/s)' % (tally.count, elapsed, tally.rate))
    print('kinds             %s' % dict(tally.kinds))
    print('statuses          %s' % dict(sorted(tally.statuses.items(), key=str)))
    print('5xx (not 501/503) %d' % sum(n for s, n in tally.statuses.items()
                                       if isinstance(s, int) and s >= 500
                                       and s not in fz.ALLOWED_5XX))
    print('400 unlocated     %d' % tally.unlocated)
    print('dropped           %d' % tally.dropped)
    print('hangs             %d' % tally.hangs)
    for kind in ('proxy', 'object'):
        if before and after:
            print('%-6s fds %d -> %d, RSS %.1f -> %.1f MiB' % (
                kind, before[kind][0], after[kind][0], before[kind][1] / 1024,
                after[kind][1] / 1024))
    for problem, path in tally.bad[:50]:
        print('  %s: %s' % (path, problem))
    return 1 if tally.bad else 0


if __name__ == '__main__':
    sys.exit(main())
