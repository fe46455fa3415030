"""A wildcard job over many small objects vs plain GETs of the same objects, same cluster.

Usage: .venv/bin/python bench/wildcard_scale.py [--objects 1000 [10000 ...]] [--threads 16]
           [--set SERVER:OPTION=VALUE ...] [--storage-url URL --token T [--proxy-pid PID]]

Without ``--storage-url`` it starts its own 4-node all-in-one cluster (devices on tmpfs when
/dev/shm exists; ``--set`` options as for ``zerocloud aio --set``), stopped at the end.  For
each ``--objects`` N it uploads N objects of a few bytes (``obj-<i>``: ``i % 9 + 1`` x's and a
newline) into a new container and the static ``wc`` program (tests/programs/sb_wc.c,
compiled here), then times, in the same run:

* **GET**: every object fetched once by ``--threads`` client threads (the baseline);
* **job**: one POST of a wildcard job running ``wc`` next to each object (stdin the object,
  stdout to the response).

It checks that every session ran (``X-Nexe-Status`` all ``ok``) and that every count is
right (line i is ``1 1 <i % 9 + 2>``), and prints per-object costs, their ratio, and the
proxy's peak RSS (``VmHWM``, own cluster or ``--proxy-pid``) and the size of the response
headers.  A failed job prints its status
and ``X-Nexe-Error``; the bench goes on with the next N.
"""
import argparse
import concurrent.futures
import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from job_latency import PROGRAMS, compile_static, parse_sets  # noqa: E402


def sessions_ok(headers):
    """How many sessions ended ``ok``: from the per-instance X-Nexe-Status, or from its
    summary (``ok*2499,...``) beyond 100 instances."""
    statuses = headers.get('X-Nexe-Status', '').split(',')
    if 'X-Nexe-Summary' not in headers:
        return sum(status == 'ok' for status in statuses)
    return sum(int(count) for value, _, count in (s.rpartition('*') for s in statuses)
               if value == 'ok')


def object_body(index):
    return b'x' * (index % 9 + 1) + b'\n'


def expected_line(index):
    return '1 1 %d' % len(object_body(index))


@contextlib.contextmanager
def own_cluster(filter_options):
    """Yield (storage url, token, proxy pid, log directory) of a fresh all-in-one
    cluster (devices on tmpfs when /dev/shm exists), stopped and removed afterwards."""
    from zerocloud.aio import cluster as aio
    root = tempfile.mkdtemp(prefix='zc-bench-scale-')
    devices = tempfile.mkdtemp(prefix='zc-bench-scale-', dir='/dev/shm') \
        if os.path.isdir('/dev/shm') else ''
    spec = None
    try:
        spec = aio.start_with_free_ports(root, filter_options=filter_options,
                                         devices=devices, owner_pid=os.getpid())
        url, token = aio.get_token(spec, 'test', 'tester', 'testing')
        yield url, token, aio.running(spec)['proxy'], spec.log_dir
    finally:
        if spec is not None:
            aio.stop(spec)
        shutil.rmtree(root, ignore_errors=True)
        if devices:
            shutil.rmtree(devices, ignore_errors=True)


def peak_rss_mib(pid):
    """VmHWM (peak resident set) of ``pid`` in MiB, or None."""
    try:
        with open('/proc/%s/status' % pid) as handle:
            for line in handle:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024
    except (OSError, TypeError):
        return None
    return None


def in_threads(function, items, threads):
    """``function(session, item)`` for every item, ``threads`` at a time (a requests
    Session per thread); wall seconds."""
    local = threading.local()

    def call(item):
        if not hasattr(local, 'session'):
            local.session = requests.Session()
        function(local.session, item)
    began = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(call, items))
    return time.perf_counter() - began


def run_size(base, token, exe_path, count, threads):
    """Upload ``count`` objects, time the GETs and the job; print one report block."""
    auth = {'X-Auth-Token': token}
    container = 'scale-%d-%s' % (count, uuid.uuid4().hex[:8])
    requests.put('%s/%s' % (base, container), headers=auth).raise_for_status()
    names = ['obj-%06d' % index for index in range(count)]

    def put(session, index):
        session.put('%s/%s/%s' % (base, container, names[index]), data=object_body(index),
                    headers=auth).raise_for_status()

    def get(session, name):
        session.get('%s/%s/%s' % (base, container, name), headers=auth).raise_for_status()
    with open(exe_path, 'rb') as handle:
        requests.put('%s/%s/wc' % (base, container), data=handle.read(),
                     headers=auth).raise_for_status()
    in_threads(put, range(count), threads)
    get_seconds = in_threads(get, names, threads)
    job = [{'name': 'wc', 'exec': {'path': 'swift://~/%s/wc' % container},
            'devices': [{'name': 'stdin', 'path': 'swift://~/%s/obj-*' % container},
                        {'name': 'stdout'}]}]
    began = time.perf_counter()
    resp = requests.post(base, data=json.dumps(job), timeout=3600, headers=dict(
        auth, **{'X-Zerovm-Execute': '1.0', 'Content-Type': 'application/json'}))
    job_seconds = time.perf_counter() - began
    ran = sessions_ok(resp.headers)
    lines = resp.text.splitlines() if resp.status_code == 200 else []
    right = sum(line == expected_line(index) for index, line in enumerate(lines))
    print('objects %d: job %s, %d/%d sessions ok, %d/%d counts right'
          % (count, resp.status_code, ran, count, right, count))
    if resp.status_code != 200 or ran != count:
        print('  X-Nexe-Error: %s' % resp.headers.get('X-Nexe-Error', resp.text[:300]))
    print('  GET (%d threads) %.2f s = %.2f ms/object; job %.2f s = %.2f ms/object; '
          'ratio %.1f' % (threads, get_seconds, get_seconds * 1000 / count, job_seconds,
                          job_seconds * 1000 / count, job_seconds / get_seconds))
    longest = max(resp.headers.items(), key=lambda item: len(item[1]))
    print('  response headers %d bytes, the longest %s: %d bytes'
          % (sum(len(k) + len(v) for k, v in resp.headers.items()), longest[0],
             len(longest[1])))
    return resp.status_code == 200 and ran == right == count


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--objects', type=int, nargs='+', default=[1000])
    parser.add_argument('--threads', type=int, default=16)
    parser.add_argument('--set', action='append', default=[], dest='settings')
    parser.add_argument('--storage-url')
    parser.add_argument('--token')
    parser.add_argument('--proxy-pid', type=int)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as build, contextlib.ExitStack() as stack:
        exe = compile_static(os.path.join(PROGRAMS, 'sb_wc.c'), build)
        if args.storage_url:
            url, token, proxy_pid = args.storage_url, args.token, args.proxy_pid
        else:
            url, token, proxy_pid, _logs = stack.enter_context(
                own_cluster(parse_sets(args.settings)))
        ok = True
        for count in args.objects:
            ok = run_size(url.rstrip('/'), token, exe, count, args.threads) and ok
            print('  proxy peak RSS so far: %s MiB' % peak_rss_mib(proxy_pid))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
