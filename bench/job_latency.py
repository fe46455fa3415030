"""Median latency of a trivial co-located job vs a plain GET of the same object, same proxy.

Usage: python bench/job_latency.py [--runs 30]
Starts an all-in-one cluster with zerocloud's filters (via the test fixture's launcher code),
uploads a small object and a static ``cat`` program, then times both in the same run and
prints medians and their ratio (goal: job / GET <= 2).
"""
import argparse
import json
import statistics
import time
import uuid

import requests


def measure(call, runs):
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--runs', type=int, default=30)
    parser.add_argument('--storage-url', required=True)
    parser.add_argument('--token', required=True)
    parser.add_argument('--exe', required=True, help='path of a static cat-like program')
    args = parser.parse_args()
    session = requests.Session()
    auth = {'X-Auth-Token': args.token}
    container = 'bench-' + uuid.uuid4().hex
    base = args.storage_url.rstrip('/')
    session.put('%s/%s' % (base, container), headers=auth).raise_for_status()
    session.put('%s/%s/small' % (base, container), data=b'x' * 1024,
                headers=auth).raise_for_status()
    with open(args.exe, 'rb') as handle:
        session.put('%s/%s/cat' % (base, container), data=handle.read(),
                    headers=auth).raise_for_status()
    job = json.dumps([{'name': 'cat', 'exec': {'path': 'swift://~/%s/cat' % container},
                       'devices': [{'name': 'stdin', 'path': 'swift://~/%s/small' % container},
                                   {'name': 'stdout'}]}])
    job_headers = dict(auth, **{'X-Zerovm-Execute': '1.0', 'Content-Type': 'application/json'})

    def get():
        session.get('%s/%s/small' % (base, container), headers=auth).raise_for_status()

    def run():
        resp = session.post(base, data=job, headers=job_headers)
        if resp.status_code != 200 or resp.headers.get('X-Nexe-Status') != 'ok':
            raise SystemExit('job failed: %s %s' % (resp.status_code, resp.headers))
    run()  # warm the executable caches
    get_median, job_median = measure(get, args.runs), measure(run, args.runs)
    print('plain GET median  %.2f ms' % (get_median * 1000))
    print('trivial job median %.2f ms' % (job_median * 1000))
    print('ratio job/GET      %.2f (goal <= 2)' % (job_median / get_median))


if __name__ == '__main__':
    main()
