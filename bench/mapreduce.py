"""Map-reduce on the cluster against a baseline timed in the same run, for two samples.

Usage: python bench/mapreduce.py [--sample wordcount|sort] [--objects N] [--mib S] [--runs 3]
                                 [--lang c|python] [--reducers 3] [--every 100]

Starts its own 4-node all-in-one cluster (3 replicas; object servers with a pool large
enough for every session of the job, a long timeout), uploads ``--objects`` generated
objects of ``--mib`` MiB and the example's programs, then times, interleaved:

``--sample wordcount`` (default; 64 objects x 16 MiB): examples/wordcount.

* **cluster**: one POST of examples/wordcount/<lang>/job.json (a mapper next to each
  object, ``--reducers`` reducers, a merge; channels between servers);
* **direct**: examples/wordcount/local.py ``--direct`` (the same programs as plain processes
  wired by FIFOs, all at once) over the objects' own ``.data`` files on the cluster's devices
  (one replica of each), without Swift or the sandbox.

Both must produce the same table.  One untimed run of each comes first, and its times are
printed: the cluster's first job also fetches, validates and caches the executables and
starts the supervisors (seconds; the first run was consistently the slowest by 1-2 s), the
direct one warms the page cache.  Prints the median of each over the timed runs and the
ratio cluster / direct (goals: <= 1.10 from 256 MiB of data on, i.e. overhead <= 10%; <= 3
below, where the fixed costs of a connected job are the figure, e.g. 8 x 1 MiB).

``--sample sort`` (8 objects x 4 MiB): examples/sort, the Servlets.md shape with the
mappers' exchange (``--every``: the mappers' sampling interval, 1 = every record crosses
the mesh).

* **cluster**: one POST of examples/sort/job.json (mappers exchanging samples in a mesh, 5
  reducers publishing one sorted range each, a manager writing the report);
* **client**: what a client does without zerocloud, in one process: GET every object
  through the proxy, sort all records, PUT them back as 5 ranges.

The concatenated ranges must equal the client's sort.  Prints the medians and the ratio
cluster / client (below 1: the job is faster than the client).
"""
import argparse
import importlib.util
import json
import os
import pickle
import random
import statistics
import sys
import tempfile
import time
import uuid

import requests
import swiftclient.client

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORDCOUNT = os.path.join(ROOT, 'examples', 'wordcount')
SORT = os.path.join(ROOT, 'examples', 'sort')
METADATA_XATTR = 'user.swift.metadata'
SORT_REDUCERS = 5
DEFAULT_SIZES = {'wordcount': (64, 16), 'sort': (8, 4)}   # objects, MiB


def load_example(name, directory=WORDCOUNT):
    """Module ``<directory>/<name>.py`` of an example."""
    spec = importlib.util.spec_from_file_location(
        os.path.basename(directory) + '_' + name, os.path.join(directory, name + '.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def start_cluster(root, sessions):
    """A started 4-node cluster whose servers can run every session of the job at once."""
    from zerocloud.aio import cluster as aio
    from zerocloud.aio.spec import ClusterSpec
    options = {'object_middleware': {'zerovm_maxpool': str(sessions + 8),
                                     'zerovm_timeout': '600'},
               'proxy_middleware': {'zerovm_timeout': '600',
                                    'zerovm_maxinstances': str(sessions + 8),
                                    'zerovm_rendezvous_timeout': '120'}}
    for attempt in range(5):  # another cluster may hold the ports we picked
        spec = ClusterSpec(root=os.path.join(root, str(attempt)), filter_options=options,
                           port=random.randrange(20000, 60000) // 100 * 100)
        try:
            aio.start(spec)
            return aio, spec
        except aio.ClusterError:
            if attempt == 4:
                raise


def upload(conn, corpus_paths, lang, reducers, work):
    """Upload corpus and programs; return the job (JSON-able) and the results container."""
    tag = uuid.uuid4().hex[:8]
    corpus, apps, results = 'corpus-' + tag, 'apps-' + tag, 'results-' + tag
    for container in (corpus, apps, results):
        conn.put_container(container)
    for path in corpus_paths:
        with open(path, 'rb') as handle:
            conn.put_object(corpus, os.path.basename(path), handle, content_type='text/plain')
    local = load_example('local')
    if lang == 'c':
        programs = local.build_c_programs(work)
    else:
        programs = {role: os.path.join(WORDCOUNT, 'python', role + '.py')
                    for role in ('mapper', 'reducer', 'merge')}
    for role, path in programs.items():
        name = role if lang == 'c' else role + '.py'
        with open(path, 'rb') as handle:
            conn.put_object(apps, name, handle.read(), content_type='application/x-nexe')
    with open(os.path.join(WORDCOUNT, lang, 'job.json')) as handle:
        text = handle.read()
    text = text.replace('swift://~/corpus/', 'swift://~/%s/' % corpus)
    text = text.replace('swift://~/apps/wordcount/', 'swift://~/%s/' % apps)
    text = text.replace('swift://~/results/', 'swift://~/%s/' % results)
    job = json.loads(text)
    for node in job:
        if node['name'] == 'reduce':
            node['count'] = reducers
    return job, corpus, results


def data_files(devices_dir, account, container, names):
    """One ``.data`` file per object, found by the object name in its Swift metadata."""
    wanted = {'/%s/%s/%s' % (account, container, name): name for name in names}
    found = {}
    for directory, _subdirs, files in os.walk(devices_dir):
        for file_name in files:
            if not file_name.endswith('.data'):
                continue
            path = os.path.join(directory, file_name)
            metadata = pickle.loads(read_metadata(path))
            name = metadata.get('name') or metadata.get(b'name')
            name = name.decode() if isinstance(name, bytes) else name
            if name in wanted and wanted[name] not in found:
                found[wanted[name]] = path
    missing = sorted(set(names) - set(found))
    if missing:
        sys.exit('data files not found for %s' % ', '.join(missing[:5]))
    return [found[name] for name in names]


def read_metadata(path):
    """Swift's pickled metadata, stored over one or more numbered xattrs."""
    pieces, index = [], 0
    while True:
        key = METADATA_XATTR + (':%d' % index if index else '')
        try:
            pieces.append(os.getxattr(path, key))
        except OSError:
            return b''.join(pieces)
        index += 1


def run_cluster_job(url, token, job):
    started = time.perf_counter()
    resp = requests.post(url, data=json.dumps(job), timeout=1200, headers={
        'X-Auth-Token': token, 'X-Zerovm-Execute': '1.0', 'Content-Type': 'application/json'})
    seconds = time.perf_counter() - started
    statuses = set(resp.headers.get('X-Nexe-Status', '').split(','))
    if resp.status_code != 200 or statuses != {'ok'}:
        sys.exit('job failed: %s %s %s' % (resp.status_code, resp.headers.get('X-Nexe-Error'),
                                           resp.text[:300]))
    return seconds


def bench_wordcount(args, spec, conn, root):
    """Time the word count job and the same programs run directly: two lists of seconds."""
    corpus_module = load_example('corpus')
    local = load_example('local')
    paths = corpus_module.write_corpus(os.path.join(root, 'corpus'), args.objects,
                                       int(args.mib * (1 << 20)))
    job, corpus, results = upload(conn, paths, args.lang, args.reducers, root)
    names = [os.path.basename(path) for path in paths]
    files = data_files(spec.devices, conn.url.rsplit('/', 1)[1], corpus, names)
    first = run_cluster_job(conn.url, conn.token, job)
    warm = local.run_wordcount(files, lang=args.lang, reducers=args.reducers, top=20,
                               direct=True, timeout=1200,
                               work_dir=os.path.join(root, 'direct-warm-up'))
    print('untimed first run: cluster %.2f s (executables fetched, validated, cached; '
          'supervisors started), direct %.2f s' % (first, warm.seconds), flush=True)
    cluster_times, direct_times = [], []
    for run in range(args.runs):
        cluster_times.append(run_cluster_job(conn.url, conn.token, job))
        result = local.run_wordcount(files, lang=args.lang, reducers=args.reducers,
                                     top=20, direct=True, timeout=1200,
                                     work_dir=os.path.join(root, 'direct-%d' % run))
        direct_times.append(result.seconds)
        print('run %d: cluster %.2f s, direct %.2f s' % (
            run + 1, cluster_times[-1], direct_times[-1]), flush=True)
    table = conn.get_object(results, 'wordcount.tsv')[1]
    if _table(table) != result.table:
        sys.exit('the cluster and direct tables differ')
    print('word count over %d objects x %g MiB (%s, %d reducers), medians of %d runs:'
          % (args.objects, args.mib, args.lang, args.reducers, args.runs))
    return ('cluster job', cluster_times), ('direct on files', direct_times)


def bench_sort(args, _spec, conn, _root):
    """Time the mesh sort job and a client's download-sort-upload: two lists of seconds."""
    records = load_example('records', SORT)
    program = load_example('sort', SORT)
    tag = uuid.uuid4().hex[:8]
    inputs, apps, results = 'records-' + tag, 'apps-' + tag, 'sorted-' + tag
    for container in (inputs, apps, results):
        conn.put_container(container)
    names = ['part-%04d.txt' % index for index in range(1, args.objects + 1)]
    for index, name in enumerate(names, 1):
        conn.put_object(inputs, name, records.generate(int(args.mib * (1 << 20)), index))
    with open(os.path.join(SORT, 'sort.py'), 'rb') as handle:
        conn.put_object(apps, 'sort/sort.py', handle.read())
    job = records.job(inputs, apps, results, every=args.every)
    cluster_times, client_times = [], []
    for run in range(args.runs):
        cluster_times.append(run_cluster_job(conn.url, conn.token, job))
        seconds, expected = sort_on_client(conn, program, inputs, names, results)
        client_times.append(seconds)
        print('run %d: cluster %.2f s, client %.2f s' % (
            run + 1, cluster_times[-1], client_times[-1]), flush=True)
    published = b''.join(conn.get_object(results, 'reducer-%d.txt' % index)[1]
                         for index in range(1, SORT_REDUCERS + 1))
    if published != expected:
        sys.exit("the cluster's ranges differ from the client's sort")
    print('mesh sort over %d objects x %g MiB (every %d-th record exchanged, %d reducers), '
          'medians of %d runs:' % (args.objects, args.mib, args.every, SORT_REDUCERS,
                                   args.runs))
    return ('cluster job', cluster_times), ('client GET+sort+PUT', client_times)


def sort_on_client(conn, program, inputs, names, results):
    """Download, sort and upload as ranges in one process; ``(seconds, sorted bytes)``."""
    started = time.perf_counter()
    everything = sorted(record for name in names
                        for record in program.split_records(conn.get_object(inputs, name)[1]))
    size = -(-len(everything) // SORT_REDUCERS)
    for index in range(SORT_REDUCERS):
        conn.put_object(results, 'client-%d.txt' % (index + 1),
                        program.join_records(everything[index * size:(index + 1) * size]))
    return time.perf_counter() - started, program.join_records(everything)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sample', choices=('wordcount', 'sort'), default='wordcount')
    parser.add_argument('--objects', type=int, help='64 (wordcount), 8 (sort)')
    parser.add_argument('--mib', type=float, help='MiB per object: 16 (wordcount), 4 (sort)')
    parser.add_argument('--lang', choices=('c', 'python'), default='c', help='wordcount')
    parser.add_argument('--reducers', type=int, default=3, help='wordcount')
    parser.add_argument('--every', type=int, default=100, help='sort: sampling interval')
    parser.add_argument('--runs', type=int, default=3)
    args = parser.parse_args()
    objects, mib = DEFAULT_SIZES[args.sample]
    args.objects, args.mib = args.objects or objects, args.mib or mib
    reducers = args.reducers if args.sample == 'wordcount' else SORT_REDUCERS
    with tempfile.TemporaryDirectory(prefix='zc-bench-mr-') as root:
        print('%s: %d objects of %g MiB...' % (args.sample, args.objects, args.mib), flush=True)
        aio, spec = start_cluster(os.path.join(root, 'cluster'), args.objects + reducers + 1)
        try:
            url, token = aio.get_token(spec, 'test', 'tester', 'testing')
            conn = swiftclient.client.Connection(preauthurl=url, preauthtoken=token)
            bench = bench_wordcount if args.sample == 'wordcount' else bench_sort
            (name, times), (baseline_name, baseline_times) = bench(args, spec, conn, root)
        finally:
            aio.stop(spec)
    median, baseline = statistics.median(times), statistics.median(baseline_times)
    print('  %-20s %.2f s' % (name, median))
    print('  %-20s %.2f s' % (baseline_name, baseline))
    print('  ratio %.2f (%s / %s)%s' % (median / baseline, name, baseline_name,
                                       wordcount_goal(args) if args.sample == 'wordcount'
                                       else ''))


def wordcount_goal(args):
    """The goal the ratio is held to (issue 15): <= 1.10 for data big enough that the
    job's fixed costs vanish (the default 64 x 16 MiB), <= 3 for small data (8 x 1 MiB),
    where they are the figure."""
    if args.objects * args.mib >= 256:
        return ' (goal <= 1.10)'
    return ' (goal <= 3: small data, the fixed costs of a connected job)'


def _table(data):
    table = {}
    for line in data.splitlines():
        word, _tab, count = line.partition(b'\t')
        table[word] = int(count)
    return table


if __name__ == '__main__':
    main()
