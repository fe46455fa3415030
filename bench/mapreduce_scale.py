"""Map-reduce over thousands of small objects on the default cluster: cost per object and the
shuffle's spool traffic, against a client doing the same count, in the same run.

Usage: .venv/bin/python bench/mapreduce_scale.py [--objects 1000 [10000 ...]] [--bytes 1024]
           [--runs 3] [--threads 16] [--set SERVER:OPTION=VALUE ...]

Starts its own 4-node all-in-one cluster with the default options (10 session slots per
object server: 40 in all, so a word count over more objects runs in waves, its shuffle
spooled on the object servers).  For each ``--objects`` N it uploads N generated text objects
of ``--bytes`` bytes (examples/wordcount/corpus.py) and the C word count of
examples/wordcount, then times, interleaved, ``--runs`` times:

* **job**: one POST of examples/wordcount/c/job.json (a mapper next to each object, 3
  reducers, a merge); its table must equal a direct count of the corpus;
* **client**: what a client does without zerocloud: GET every object through the proxy
  (``--threads`` threads) and count the words in this process (the reference count).

Prints the medians, the cost per object of each and their ratio, the proxy's peak RSS, and
the shuffle's traffic from the object servers' logs (``<instance> shuffle: ...`` lines of
the last run): bytes spooled by the mappers, spool inputs the reducers read, and how many of
those were fetched from another server (bytes and count).
"""
import argparse
import collections
import os
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'examples', 'wordcount'))
import corpus  # noqa: E402  (examples/wordcount/corpus.py)
import local  # noqa: E402
import reference  # noqa: E402
from wildcard_scale import (in_threads, own_cluster, parse_sets, peak_rss_mib,  # noqa: E402
                            sessions_ok)

JOB = os.path.join(os.path.dirname(HERE), 'examples', 'wordcount', 'c', 'job.json')
SHUFFLE_LINE = re.compile(r'zerocloud: (\S+) shuffle: (\d+) input\(s\), (\d+) fetched '
                          r'\((\d+) bytes\), (\d+) bytes spooled')


def upload(base, auth, count, size, threads, scratch):
    """The corpus (``count`` objects) and the C programs; ``(container, paths, apps)``."""
    container = 'mr-%d-%s' % (count, uuid.uuid4().hex[:8])
    apps = container + '-apps'
    for name in (container, apps, container + '-results'):
        requests.put('%s/%s' % (base, name), headers=auth).raise_for_status()
    paths = corpus.write_corpus(os.path.join(scratch, container), count, size)

    def put(session, path):
        with open(path, 'rb') as handle:
            session.put('%s/%s/%s' % (base, container, os.path.basename(path)),
                        data=handle.read(), headers=auth).raise_for_status()
    in_threads(put, paths, threads)
    for role, path in local.build_c_programs(scratch).items():
        with open(path, 'rb') as handle:
            requests.put('%s/%s/%s' % (base, apps, role), data=handle.read(), headers=dict(
                auth, **{'Content-Type': 'application/x-nexe'})).raise_for_status()
    return container, paths, apps


def run_job(base, auth, container, apps):
    """POST the word count; ``(seconds, response)``."""
    with open(JOB) as handle:
        job = handle.read().replace('swift://~/corpus/', 'swift://~/%s/' % container)
    job = job.replace('swift://~/apps/wordcount/', 'swift://~/%s/' % apps)
    job = job.replace('swift://~/results/', 'swift://~/%s-results/' % container)
    began = time.perf_counter()
    resp = requests.post(base, data=job, timeout=7200, headers=dict(
        auth, **{'X-Zerovm-Execute': '1.0', 'Content-Type': 'application/json'}))
    return time.perf_counter() - began, resp


def run_client(base, auth, container, paths, threads):
    """GET every object and count its words here; ``(seconds, Counter)``."""
    counts, names = collections.Counter(), [os.path.basename(path) for path in paths]
    lock = threading.Lock()

    def get(session, name):
        resp = session.get('%s/%s/%s' % (base, container, name), headers=auth)
        resp.raise_for_status()
        words = collections.Counter(run.strip(b"'") for run in
                                    reference.RUN.findall(resp.content.lower()))
        with lock:
            counts.update(words)
    seconds = in_threads(get, names, threads)
    counts.pop(b'', None)
    return seconds, counts


def shuffle_traffic(log_dir, offsets):
    """Sums of the ``shuffle:`` lines logged since ``offsets`` (``{file: size}``)."""
    totals = collections.Counter()
    for name in os.listdir(log_dir):
        if not name.startswith('object-server'):
            continue
        with open(os.path.join(log_dir, name), errors='replace') as handle:
            handle.seek(offsets.get(name, 0))
            for match in SHUFFLE_LINE.finditer(handle.read()):
                _name, inputs, fetched, fetched_bytes, spooled = match.groups()
                totals['inputs'] += int(inputs)
                totals['fetched'] += int(fetched)
                totals['fetched_bytes'] += int(fetched_bytes)
                totals['spooled_bytes'] += int(spooled)
    return totals


def log_sizes(log_dir):
    return {name: os.path.getsize(os.path.join(log_dir, name)) for name in os.listdir(log_dir)}


def fresh_auth(base):
    """A new token (uploading 10,000 objects outlasts tempauth's token)."""
    root = base.split('/v1/', 1)[0]
    resp = requests.get(root + '/auth/v1.0', headers={'X-Auth-User': 'test:tester',
                                                      'X-Auth-Key': 'testing'})
    resp.raise_for_status()
    return {'X-Auth-Token': resp.headers['X-Auth-Token']}


def bench_size(base, log_dir, proxy_pid, count, args, scratch):
    container, paths, apps = upload(base, fresh_auth(base), count, args.bytes, args.threads,
                                    scratch)
    expected = reference.count_words(paths)
    job_times, client_times, ok = [], [], True
    for run in range(args.runs):
        auth = fresh_auth(base)
        offsets = log_sizes(log_dir)
        seconds, resp = run_job(base, auth, container, apps)
        table = requests.get('%s/%s-results/wordcount.tsv' % (base, container), headers=auth)
        right = resp.status_code == 200 and sessions_ok(resp.headers) == count + 4 and \
            reference.parse_table(table.content) == dict(expected)
        if not right:
            print('objects %d: job %s, %d sessions ok, X-Nexe-Error %s' % (
                count, resp.status_code, sessions_ok(resp.headers),
                resp.headers.get('X-Nexe-Error', resp.text[:300])))
            ok = False
            break
        job_times.append(seconds)
        client_seconds, counts = run_client(base, auth, container, paths, args.threads)
        assert counts == expected, 'the client count differs from the reference'
        client_times.append(client_seconds)
        print('  run %d: job %.2f s, client %.2f s' % (run + 1, seconds, client_seconds),
              flush=True)
    if not job_times:
        return False
    time.sleep(1)   # the servers' last log lines
    traffic = shuffle_traffic(log_dir, offsets)
    job, client = statistics.median(job_times), statistics.median(client_times)
    print('objects %d x %d bytes (%d runs, load %s): job %.2f s = %.2f ms/object; client '
          'GET+count %.2f s = %.2f ms/object; ratio %.2f'
          % (count, args.bytes, len(job_times), '%.1f' % os.getloadavg()[0], job,
             job * 1000 / count, client, client * 1000 / count, job / client))
    print('  shuffle: %d bytes spooled by the mappers (%.0f per object); the reducers read '
          '%d spools, %d fetched from another server (%d bytes, %.0f%%); proxy peak RSS %s MiB'
          % (traffic['spooled_bytes'], traffic['spooled_bytes'] / count, traffic['inputs'],
             traffic['fetched'], traffic['fetched_bytes'],
             100.0 * traffic['fetched'] / max(1, traffic['inputs']), peak_rss_mib(proxy_pid)))
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--objects', type=int, nargs='+', default=[1000])
    parser.add_argument('--bytes', type=int, default=1024)
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--threads', type=int, default=16)
    parser.add_argument('--set', action='append', default=[], dest='settings')
    args = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory() as scratch, \
            own_cluster(parse_sets(args.settings)) as (url, _token, proxy_pid, log_dir):
        for count in args.objects:
            ok = bench_size(url.rstrip('/'), log_dir, proxy_pid, count, args,
                            scratch) and ok
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
