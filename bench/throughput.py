"""Sessions per second with 8 concurrent clients, next to 8 concurrent unsandboxed runs.

Usage: python bench/throughput.py [--clients 8] [--jobs 20] [--rounds 3]
                                  [--storage-url URL --token T]

Without ``--storage-url`` it starts its own all-in-one cluster (zerocloud aio, stopped at the
end), as ``bench/job_latency.py`` does.  It uploads a 1 KiB object and a static ``cat``
(tests/programs/sb_cat.c, compiled here), warms up, then, ``--rounds`` times, in the same
run:

* ``--clients`` threads each POST ``--jobs`` trivial jobs (cat of that object to the
  response, one session each) one after the other: sessions per second = every job of
  every client / the round's wall time;
* ``--clients`` threads each ``subprocess.run`` the same binary ``--jobs`` times on the
  same 1 KiB (no sandbox, no Swift): runs per second;
* ``--clients`` threads each GET that object ``--jobs`` times through the same proxy: what
  the cluster serves without a session, so the jobs' rate can be read against Swift's own.

It prints the medians of the rounds, their ratio, and the load average (the figures are
only comparable on an otherwise idle machine).
"""
import argparse
import concurrent.futures
import os
import statistics
import subprocess
import tempfile
import time
import uuid

import requests

from job_latency import PROGRAMS, cluster_credentials, compile_static, job_request

SMALL = b'x' * 1024


def rate(clients, jobs, one_client):
    """Sessions per second when ``clients`` threads each run ``one_client(jobs)``."""
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        start = time.perf_counter()
        done = sum(pool.map(one_client, [jobs] * clients))
        return done / (time.perf_counter() - start)


def job_client(base, token, job):
    """A client: its own HTTP session, ``count`` jobs one after the other."""
    def run(count):
        session = requests.Session()
        for _ in range(count):
            job_request(session, base, token, job)
        return count
    return run


def get_client(base, token, path):
    """A client that GETs ``path`` ``count`` times over its own HTTP session."""
    def run(count):
        session = requests.Session()
        for _ in range(count):
            response = session.get('%s/%s' % (base, path), headers={'X-Auth-Token': token})
            response.raise_for_status()
            assert response.content == SMALL
        return count
    return run


def local_client(exe):
    """The baseline: ``count`` unsandboxed runs of ``exe`` on the same bytes."""
    def run(count):
        for _ in range(count):
            done = subprocess.run([exe], input=SMALL, capture_output=True, check=True)
            assert done.stdout == SMALL
        return count
    return run


def upload(url, token, exe):
    """A container with ``small`` and ``cat`` (``exe``); ``(base url, the path of small,
    the one-session job that cats it to stdout)``."""
    session, base, auth = requests.Session(), url.rstrip('/'), {'X-Auth-Token': token}
    container = 'bench-' + uuid.uuid4().hex
    session.put('%s/%s' % (base, container), headers=auth).raise_for_status()
    session.put('%s/%s/small' % (base, container), data=SMALL, headers=auth).raise_for_status()
    with open(exe, 'rb') as handle:
        session.put('%s/%s/cat' % (base, container), data=handle.read(),
                    headers=auth).raise_for_status()
    return base, container + '/small', [{'name': 'cat', 'exec': {'path': 'swift://~/%s/cat' % container},
                   'devices': [{'name': 'stdin', 'path': 'swift://~/%s/small' % container},
                               {'name': 'stdout'}]}]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--clients', type=int, default=8)
    parser.add_argument('--jobs', type=int, default=20, help='jobs per client per round')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--storage-url')
    parser.add_argument('--token')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as build, cluster_credentials(args) as (url, token):
        exe = compile_static(os.path.join(PROGRAMS, 'sb_cat.c'), build)
        base, small, job = upload(url, token, exe)
        jobs, local = job_client(base, token, job), local_client(exe)
        gets = get_client(base, token, small)
        rate(args.clients, 2, jobs)   # warm: executable cached, supervisors up
        job_rates, local_rates, get_rates = [], [], []
        for _ in range(args.rounds):
            job_rates.append(rate(args.clients, args.jobs, jobs))
            local_rates.append(rate(args.clients, args.jobs, local))
            get_rates.append(rate(args.clients, args.jobs, gets))
    job_median, local_median = statistics.median(job_rates), statistics.median(local_rates)
    get_median = statistics.median(get_rates)
    print('%d clients x %d jobs, %d rounds' % (args.clients, args.jobs, args.rounds))
    print('zerocloud jobs       %.1f sessions/s (median; rounds: %s)'
          % (job_median, ', '.join('%.1f' % r for r in job_rates)))
    print('subprocess.run       %.1f runs/s (median; rounds: %s)'
          % (local_median, ', '.join('%.1f' % r for r in local_rates)))
    print('GET of the object    %.1f requests/s (median; rounds: %s)'
          % (get_median, ', '.join('%.1f' % r for r in get_rates)))
    print('ratio jobs/subprocess %.3f' % (job_median / local_median))
    print('ratio jobs/GET        %.3f' % (job_median / get_median))
    print('load average         %s' % ' '.join('%.2f' % load for load in os.getloadavg()))


if __name__ == '__main__':
    main()
