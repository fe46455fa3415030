"""The zerocloud demo: an all-in-one Swift cluster, a sample corpus, a map-reduce word count.

    python examples/demo.py [--dir DIR] [--port P] [--objects N] [--size BYTES] [--lang python|c]
                            [--keep]

1. starts the all-in-one cluster in DIR (default $ZEROCLOUD_AIO_DIR or ./var/aio, proxy on
   port 8080), or reuses the one already running there;
2. uploads a deterministic sample corpus of text objects (examples/wordcount/corpus.py) into
   the container ``corpus`` of the account ``test`` (user test:tester), and the word-count
   programs of examples/wordcount into ``apps/wordcount/`` (Python scripts, or static C
   executables built here with gcc);
3. POSTs examples/wordcount/<lang>/job.json to the account: one mapper next to each corpus
   object, three reducers fed by every mapper, one merge; the response body is the top 20
   words and the whole table is stored as ``results/wordcount.tsv``.  A corpus of more
   objects than the cluster has session slots (40) runs in waves, its shuffle spooled on
   the object servers (``make demo ARGS='--objects 2000 --size 2048'``);
4. prints where each instance ran and the top words, and checks them (and the stored table)
   against a direct count of the same corpus;
5. stops the cluster if this demo started it, unless ``--keep`` is given.
"""
import argparse
import concurrent.futures
import os
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, 'wordcount'))

import corpus  # noqa: E402  (examples/wordcount/corpus.py)
import local  # noqa: E402  (examples/wordcount/local.py)
import reference  # noqa: E402  (examples/wordcount/reference.py)
import requests  # noqa: E402
import swiftclient.client  # noqa: E402

from zerocloud.aio import cluster  # noqa: E402
from zerocloud.aio.spec import ClusterSpec  # noqa: E402

CONTAINER = 'corpus'
TOP = 10
UPLOAD_THREADS = 8
JOB_TIMEOUT = 1800   # seconds: a guard for thousands of objects, not an expectation
ROLES = ('mapper', 'reducer', 'merge')


class DemoError(Exception):
    """The job did not run as it should; the message says why."""


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--dir', default=os.environ.get('ZEROCLOUD_AIO_DIR')
                        or os.path.join('var', 'aio'))
    parser.add_argument('--port', type=int, default=None,
                        help='proxy port (default: the one recorded in DIR, else 8080)')
    parser.add_argument('--objects', type=int, default=4, help='corpus objects (default 4)')
    parser.add_argument('--size', type=int, default=256 * 1024,
                        help='bytes per object (default 256 KiB)')
    parser.add_argument('--lang', choices=('python', 'c'), default='python',
                        help='run the Python or the C word count (default python)')
    parser.add_argument('--keep', action='store_true', help='leave the cluster running')
    return parser.parse_args(argv)


def ensure_cluster(args):
    """Start (or reuse) the cluster; return (spec, started_here)."""
    recorded = cluster.recorded_spec(args.dir)
    fields = dict(recorded.topology()) if recorded else {}
    if args.port is not None:
        fields['port'] = args.port
    spec = ClusterSpec(root=args.dir, **fields)
    began = time.monotonic()
    summary = cluster.start(spec)
    if summary['already_running']:
        print('cluster: reusing the cluster running in %s' % spec.root)
    else:
        print('cluster: started in %.1f s in %s (zerocloud filters: %s)'
              % (time.monotonic() - began, spec.root,
                 ' '.join(summary['zerocloud_filters']) or 'none'))
    print('cluster: proxy %s, auth %s, user test:tester/testing' % (spec.proxy_url,
                                                                    spec.auth_url))
    return spec, not summary['already_running']


def upload_corpus(conn, objects, size, scratch):
    """Write the sample corpus into ``scratch`` (kept for the direct count) and upload it;
    return the local paths."""
    paths = corpus.write_corpus(scratch, objects, size)
    conn.put_container(CONTAINER)
    local_conn = threading.local()

    def put(path):
        if not hasattr(local_conn, 'conn'):
            local_conn.conn = swiftclient.client.Connection(
                preauthurl=conn.url, preauthtoken=conn.token, retries=3)
        with open(path, 'rb') as f:
            local_conn.conn.put_object(CONTAINER, os.path.basename(path), f,
                                       content_type='text/plain')
    with concurrent.futures.ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        list(pool.map(put, paths))
    total = sum(os.path.getsize(path) for path in paths)
    print('corpus: %d objects, %d bytes in swift://test/%s' % (len(paths), total, CONTAINER))
    return paths


def upload_programs(conn, lang, scratch):
    """Upload the word-count programs of ``lang`` to ``apps/wordcount/``."""
    conn.put_container('apps')
    conn.put_container('results')
    if lang == 'python':
        sources = {role: os.path.join(HERE, 'wordcount', 'python', role + '.py')
                   for role in ROLES}
        names, content_type = {role: role + '.py' for role in ROLES}, 'text/x-python'
    else:
        sources = local.build_c_programs(scratch)
        names, content_type = {role: role for role in ROLES}, 'application/x-nexe'
    for role, path in sources.items():
        with open(path, 'rb') as f:
            conn.put_object('apps', 'wordcount/' + names[role], f.read(),
                            content_type=content_type)
    print('programs: %s word count uploaded to swift://test/apps/wordcount/' % lang)


def run_wordcount(conn, lang):
    """POST the example's job; return the response (raises on an HTTP error)."""
    with open(os.path.join(HERE, 'wordcount', lang, 'job.json'), 'rb') as f:
        job = f.read()
    began = time.monotonic()
    resp = requests.post(conn.url, data=job, timeout=JOB_TIMEOUT, headers={
        'X-Auth-Token': conn.token, 'X-Zerovm-Execute': '1.0',
        'Content-Type': 'application/json'})
    elapsed = time.monotonic() - began
    if resp.status_code != 200:
        raise DemoError('job failed: %d %s %s' % (resp.status_code, resp.reason,
                                                   resp.headers.get('X-Nexe-Error', '')))
    statuses = resp.headers['X-Nexe-Status'].split(',')
    if 'X-Nexe-Summary' in resp.headers:   # beyond 100 sessions: summaries and a report
        print('job: %s sessions in %.2f s; statuses %s; sessions per server %s'
              % (resp.headers['X-Nexe-Summary'], elapsed, ', '.join(statuses),
                 resp.headers.get('X-Nexe-Node', '').replace(',', ', ')))
        print('  full report: %s' % resp.headers.get('X-Nexe-Report'))
        statuses = [status.split('*')[0] for status in statuses]
    else:
        names = resp.headers['X-Nexe-System'].split(',')
        nodes = resp.headers.get('X-Nexe-Node', '').split(',')
        print('job: %d sessions in %.2f s' % (len(names), elapsed))
        for name, node, status in zip(names, nodes, statuses):
            print('  %-10s on %-18s %s' % (name, node, status))
    if any(status != 'ok' for status in statuses):
        raise DemoError('a session failed: %s' % resp.headers.get('X-Nexe-Error', ''))
    return resp


def check_results(conn, resp, counts):
    """Compare the job's top words and stored table with the direct count; True if equal."""
    top_ok = resp.content == reference.format_pairs(reference.top_words(counts, 20))
    table = reference.parse_table(conn.get_object('results', 'wordcount.tsv')[1])
    table_ok = table == dict(counts)
    print('check: top 20 %s the direct count; results/wordcount.tsv (%d words) %s it'
          % ('equals' if top_ok else 'DIFFERS FROM', len(table),
             'equals' if table_ok else 'DIFFERS FROM'))
    return top_ok and table_ok


def print_top(data):
    print('top words (through zerocloud):')
    for line in data.splitlines()[:TOP]:
        word, _tab, count = line.partition(b'\t')
        print('  %-16s %s' % (word.decode('utf-8', 'replace'), count.decode()))


def main(argv=None):
    args = parse_args(argv)
    try:
        spec, started_here = ensure_cluster(args)
    except (ValueError, cluster.ClusterError) as exc:
        print('demo: cannot start the cluster: %s' % exc, file=sys.stderr)
        return 1
    try:
        conn = swiftclient.client.Connection(spec.auth_url, 'test:tester', 'testing')
        conn.get_auth()
        with tempfile.TemporaryDirectory(prefix='zerocloud-demo-') as scratch:
            paths = upload_corpus(conn, args.objects, args.size, scratch)
            upload_programs(conn, args.lang, scratch)
            resp = run_wordcount(conn, args.lang)
            print_top(resp.content)
            ok = check_results(conn, resp, reference.count_words(paths))
    except (DemoError, local.WordCountError, OSError,
            swiftclient.client.ClientException, requests.RequestException) as exc:
        print('demo: %s' % exc, file=sys.stderr)
        ok = False
    finally:
        if started_here and not args.keep:
            cluster.stop(spec)
            print('cluster: stopped (use --keep to leave it running)')
        elif args.keep:
            print('cluster: left running; stop it with: zerocloud aio stop --dir %s' % spec.root)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
