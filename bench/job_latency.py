"""Median latency of a trivial co-located job vs a plain GET of the same object, same proxy.

Usage: python bench/job_latency.py [--runs 30] [--storage-url URL --token T]

Without ``--storage-url`` it starts its own all-in-one cluster (zerocloud aio, stopped at the
end).  It uploads a 1 KiB object and a static ``cat`` program (tests/programs/sb_cat.c,
compiled here), warms the caches with one run, then times, in the same run, ``--runs`` plain
GETs and ``--runs`` jobs (cat of that object to the response) and prints the medians and
their ratio (goal: job / GET <= 2).
"""
import argparse
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAMS = os.path.join(os.path.dirname(HERE), 'tests', 'programs')


def compile_static(source, directory):
    """Compile a C file statically (gcc) into ``directory``; return the binary's path."""
    binary = os.path.join(directory, os.path.basename(source)[:-2])
    subprocess.run(['gcc', '-static', '-O2', '-o', binary, source], check=True)
    return binary


@contextlib.contextmanager
def cluster_credentials(args):
    """Yield (storage url, token): the given ones, or those of a fresh all-in-one cluster."""
    if args.storage_url:
        yield args.storage_url, args.token
        return
    from zerocloud.aio import cluster as aio
    from zerocloud.aio.spec import ClusterSpec
    with tempfile.TemporaryDirectory(prefix='zc-bench-') as root:
        for attempt in range(5):  # another cluster may hold the ports we picked
            spec = ClusterSpec(root=os.path.join(root, str(attempt)),
                               port=random.randrange(20000, 60000) // 100 * 100)
            try:
                aio.start(spec)
                break
            except aio.ClusterError:
                if attempt == 4:
                    raise
        try:
            yield aio.get_token(spec, 'test', 'tester', 'testing')
        finally:
            aio.stop(spec)


def measure(call, runs):
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def job_request(session, base, token, job):
    resp = session.post(base, data=json.dumps(job), headers={
        'X-Auth-Token': token, 'X-Zerovm-Execute': '1.0', 'Content-Type': 'application/json'},
        timeout=600)
    if resp.status_code != 200 or resp.headers.get('X-Nexe-Status') != 'ok':
        sys.exit('job failed: %s %s %s' % (resp.status_code, resp.headers, resp.text[:500]))
    return resp


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--runs', type=int, default=30)
    parser.add_argument('--storage-url')
    parser.add_argument('--token')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as build, cluster_credentials(args) as (url, token):
        exe = compile_static(os.path.join(PROGRAMS, 'sb_cat.c'), build)
        session, base = requests.Session(), url.rstrip('/')
        auth = {'X-Auth-Token': token}
        container = 'bench-' + uuid.uuid4().hex
        session.put('%s/%s' % (base, container), headers=auth).raise_for_status()
        session.put('%s/%s/small' % (base, container), data=b'x' * 1024,
                    headers=auth).raise_for_status()
        with open(exe, 'rb') as handle:
            session.put('%s/%s/cat' % (base, container), data=handle.read(),
                        headers=auth).raise_for_status()
        job = [{'name': 'cat', 'exec': {'path': 'swift://~/%s/cat' % container},
                'devices': [{'name': 'stdin', 'path': 'swift://~/%s/small' % container},
                            {'name': 'stdout'}]}]

        def get():
            session.get('%s/%s/small' % (base, container), headers=auth).raise_for_status()
        job_request(session, base, token, job)  # warm: executable cached, supervisor up
        get_median = measure(get, args.runs)
        job_median = measure(lambda: job_request(session, base, token, job), args.runs)
    print('plain GET median   %.2f ms' % (get_median * 1000))
    print('trivial job median %.2f ms' % (job_median * 1000))
    print('ratio job/GET      %.2f (goal <= 2)' % (job_median / get_median))


if __name__ == '__main__':
    main()
