"""Median latency of a trivial co-located job vs a plain GET of the same object, same proxy.

Usage: python bench/job_latency.py [--runs 30] [--python [--imports]] [--gap-ms MS]
                                   [--set SERVER:OPTION=VALUE ...]
                                   [--storage-url URL --token T]

Without ``--storage-url`` it starts its own all-in-one cluster (zerocloud aio, stopped at the
end; ``--set`` options as for ``zerocloud aio --set``, e.g.
``--set object:zerovm_python_prestart=2``).  It uploads a 1 KiB object and a static ``cat``
program (tests/programs/sb_cat.c, compiled here; with ``--python`` a Python script doing the
same, run by the ``python`` image), warms the caches with one run, then times, in the same
run, ``--runs`` plain GETs and ``--runs`` jobs (cat of that object to the response) and
prints the medians and their ratio (goals: job / GET <= 1.5 for C, <= 2.5 for Python).  With its own cluster it also prints the CPU time the
proxy and the object servers spent per GET and per job (from ``/proc``): a figure that a
busy machine disturbs much less than wall time.

``--imports`` (with ``--python``): the script first imports the 20 stdlib modules a
pre-started interpreter has imported (``zerocloud.sandbox.prestart.DEFAULT_IMPORTS``), as
scripts that do real work do.  ``--gap-ms``: idle time before each timed call (a server
that is not saturated; pre-started interpreters are made only when the sandbox is idle).
E.g. ``--python --imports --gap-ms 300`` once as is and once with
``--set object:zerovm_python_prestart=2`` shows what pre-start saves.
"""
import argparse
import contextlib
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAMS = os.path.join(os.path.dirname(HERE), 'tests', 'programs')
PYTHON_CAT = b'import sys\nsys.stdout.buffer.write(sys.stdin.buffer.read())\n'


def compile_static(source, directory):
    """Compile a C file statically (gcc) into ``directory``; return the binary's path."""
    binary = os.path.join(directory, os.path.basename(source)[:-2])
    subprocess.run(['gcc', '-static', '-O2', '-o', binary, source], check=True)
    return binary


@contextlib.contextmanager
def cluster_credentials(args):
    """Yield (storage url, token): the given ones, or those of a fresh all-in-one cluster."""
    with cluster(args) as (url, token, _run_dir):
        yield url, token


@contextlib.contextmanager
def cluster(args):
    """Yield (storage url, token, run directory): the given ones (run directory None), or
    those of a fresh all-in-one cluster."""
    if args.storage_url:
        yield args.storage_url, args.token, None
        return
    from zerocloud.aio import cluster as aio
    with tempfile.TemporaryDirectory(prefix='zc-bench-') as root:
        spec = aio.start_with_free_ports(root, owner_pid=os.getpid(), filter_options=parse_sets(
            getattr(args, 'settings', ())))
        try:
            yield aio.get_token(spec, 'test', 'tester', 'testing') + (spec.run_dir,)
        finally:
            aio.stop(spec)


def parse_sets(values):
    """``['proxy:opt=v', ...]`` -> ``{'proxy_middleware': {'opt': 'v'}, ...}``."""
    servers = {'proxy': 'proxy_middleware', 'object': 'object_middleware',
               'chain': 'job_chain'}
    options = {}
    for value in values:
        server, _, setting = value.partition(':')
        name, _, option_value = setting.partition('=')
        options.setdefault(servers[server], {})[name] = option_value
    return options


def measure(call, runs, run_dir=None, gap_seconds=0.0):
    """``(median seconds, {server kind: CPU seconds per call})`` of ``runs`` calls, each
    after ``gap_seconds`` of idle time; the CPU of the cluster's proxy and object servers
    when ``run_dir`` names their pid files."""
    samples, before = [], cpu_seconds(run_dir)
    for _ in range(runs):
        time.sleep(gap_seconds)
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    after = cpu_seconds(run_dir)
    return statistics.median(samples), {kind: (after[kind] - before[kind]) / runs
                                        for kind in after}


def cpu_seconds(run_dir):
    """CPU seconds (user + system) used so far by the proxy and by all the object servers
    of a cluster whose pid files are in ``run_dir`` ({} without one)."""
    if run_dir is None:
        return {}
    tick = os.sysconf('SC_CLK_TCK')
    used = {}
    for kind, pattern in (('proxy', 'proxy.pid'), ('object servers', 'object-*.pid')):
        used[kind] = 0.0
        for pid_file in glob.glob(os.path.join(run_dir, pattern)):
            with open(pid_file) as handle:
                pid = handle.read().split()[0]
            with open('/proc/%s/stat' % pid) as handle:
                fields = handle.read().rsplit(')', 1)[1].split()
            used[kind] += (int(fields[11]) + int(fields[12])) / tick
    return used


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
    parser.add_argument('--python', action='store_true')
    parser.add_argument('--imports', action='store_true',
                        help='with --python: the script imports the 20 default modules first')
    parser.add_argument('--gap-ms', type=float, default=0.0,
                        help='idle time before each timed call')
    parser.add_argument('--set', action='append', default=[], dest='settings')
    args = parser.parse_args()
    script = PYTHON_CAT
    if args.imports:
        from zerocloud.sandbox.prestart import DEFAULT_IMPORTS
        script = ('import %s\n' % ', '.join(DEFAULT_IMPORTS)).encode() + PYTHON_CAT
    gap = args.gap_ms / 1000.0
    with tempfile.TemporaryDirectory() as build, cluster(args) as (url, token, run_dir):
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
        session.put('%s/%s/cat.py' % (base, container), data=script,
                    headers=auth).raise_for_status()
        devices = [{'name': 'stdin', 'path': 'swift://~/%s/small' % container},
                   {'name': 'stdout'}]
        job = [{'name': 'cat', 'exec': {'path': 'swift://~/%s/cat' % container},
                'devices': devices}]
        if args.python:
            job = [{'name': 'cat', 'exec': {'path': 'file://python:python',
                                            'args': '/dev/script'},
                    'devices': devices + [{'name': 'python'}, {'name': 'script', 'path':
                                           'swift://~/%s/cat.py' % container}]}]

        def get():
            session.get('%s/%s/small' % (base, container), headers=auth).raise_for_status()
        job_request(session, base, token, job)  # warm: executable cached, supervisor up
        get_median, get_cpu = measure(get, args.runs, run_dir, gap)
        job_median, job_cpu = measure(lambda: job_request(session, base, token, job),
                                      args.runs, run_dir, gap)
    print('plain GET median   %.2f ms' % (get_median * 1000))
    print('trivial %s job median %.2f ms' % (
        ('Python (20 imports)' if args.imports else 'Python') if args.python else 'C',
        job_median * 1000))
    print('ratio job/GET      %.2f (goal <= %s)' % (job_median / get_median,
                                                    '2.5' if args.python else '1.5'))
    for kind in get_cpu:
        print('%s CPU per GET %.2f ms, per job %.2f ms' % (kind, get_cpu[kind] * 1000,
                                                          job_cpu[kind] * 1000))
    print('load average       %s' % ' '.join('%.2f' % load for load in os.getloadavg()))


if __name__ == '__main__':
    main()
