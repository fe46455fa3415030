"""The zerocloud demo: an all-in-one Swift cluster, a sample corpus, a word count.

    python examples/demo.py [--dir DIR] [--port P] [--objects N] [--size BYTES] [--keep]

1. starts the all-in-one cluster in DIR (default $ZEROCLOUD_AIO_DIR or ./var/aio, proxy on
   port 8080), or reuses the one already running there;
2. uploads a deterministic sample corpus of text objects (examples/wordcount/corpus.py) into
   the container ``corpus`` of the account ``test`` (user test:tester);
3. counts the words of the corpus and prints the top words.  Until the job path of the proxy
   middleware exists, the count is done the plain way: the objects are listed and downloaded,
   and counted on this machine (this is labelled in the output); the map-reduce job of
   examples/wordcount replaces it as soon as it runs through zerocloud;
4. stops the cluster if this demo started it, unless ``--keep`` is given.
"""
import argparse
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, 'wordcount'))

import corpus  # noqa: E402  (examples/wordcount/corpus.py)
import reference  # noqa: E402  (examples/wordcount/reference.py)
import swiftclient.client  # noqa: E402

from zerocloud.aio import cluster  # noqa: E402
from zerocloud.aio.spec import ClusterSpec  # noqa: E402

CONTAINER = 'corpus'
TOP = 10


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--dir', default=os.environ.get('ZEROCLOUD_AIO_DIR')
                        or os.path.join('var', 'aio'))
    parser.add_argument('--port', type=int, default=None,
                        help='proxy port (default: the one recorded in DIR, else 8080)')
    parser.add_argument('--objects', type=int, default=4, help='corpus objects (default 4)')
    parser.add_argument('--size', type=int, default=256 * 1024,
                        help='bytes per object (default 256 KiB)')
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


def upload_corpus(conn, objects, size):
    """Upload the sample corpus; return the object names."""
    conn.put_container(CONTAINER)
    words = corpus.vocabulary(20000)
    names = []
    for index in range(1, objects + 1):
        name = 'part-%04d.txt' % index
        conn.put_object(CONTAINER, name, corpus.generate_text(size, index, words=words),
                        content_type='text/plain')
        names.append(name)
    total = sum(int(o['bytes']) for o in conn.get_container(CONTAINER)[1] if o['name'] in names)
    print('corpus: %d objects, %d bytes in swift://test/%s' % (len(names), total, CONTAINER))
    return names


def count_without_zerocloud(conn, names):
    """Word count the plain way: download every object and count here.  -> Counter."""
    with tempfile.TemporaryDirectory(prefix='zerocloud-demo-') as scratch:
        paths = []
        for name in names:
            path = os.path.join(scratch, name)
            with open(path, 'wb') as f:
                f.write(conn.get_object(CONTAINER, name)[1])
            paths.append(path)
        return reference.count_words(paths)


def print_counts(counts, how):
    print('word count (%s):' % how)
    print('  %d words, %d distinct' % (sum(counts.values()), len(counts)))
    for word, count in reference.top_words(counts, TOP):
        print('  %-16s %d' % (word.decode('utf-8', 'replace'), count))


def main(argv=None):
    args = parse_args(argv)
    try:
        spec, started_here = ensure_cluster(args)
    except (ValueError, cluster.ClusterError) as exc:
        print('demo: cannot start the cluster: %s' % exc, file=sys.stderr)
        return 1
    try:
        conn = swiftclient.client.Connection(spec.auth_url, 'test:tester', 'testing')
        names = upload_corpus(conn, args.objects, args.size)
        counts = count_without_zerocloud(conn, names)
        print_counts(counts, 'NOT YET through zerocloud: objects downloaded and counted on '
                             'this machine')
    finally:
        if started_here and not args.keep:
            cluster.stop(spec)
            print('cluster: stopped (use --keep to leave it running)')
        elif args.keep:
            print('cluster: left running; stop it with: zerocloud aio stop --dir %s' % spec.root)
    return 0


if __name__ == '__main__':
    sys.exit(main())
