"""Benchmark: start-to-healthy time and memory of the default all-in-one cluster.

Starts the default cluster (4 nodes, 3 replicas) with zerocloud's filters and, as the baseline
measured in the same run, the same cluster without them, alternately, ``--runs`` times each
(default 3), each in a fresh temporary directory on free ports.  Prints per-run figures, the
medians and the ratios with/without:

    start   seconds from `start` until every server answers /healthcheck and the test
            accounts exist
    rss     total resident memory (sum of VmRSS) of the cluster's processes and every
            process in their process groups (children a middleware started included)

    .venv/bin/python bench/aio.py [--runs N] [--nodes N] [--replicas R]
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

from zerocloud.aio import cluster

MIB = 1024 * 1024


def group_rss_bytes(leader_pids):
    """Sum of VmRSS of every process whose process group is one of ``leader_pids``."""
    groups, total = set(leader_pids), 0
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            if os.getpgid(int(entry)) not in groups:
                continue
            with open('/proc/%s/status' % entry) as f:
                for line in f:
                    if line.startswith('VmRSS:'):
                        total += int(line.split()[1]) * 1024
        except (OSError, ProcessLookupError):
            continue
    return total


def measure(zerocloud, nodes, replicas):
    """Start one cluster, return (seconds to healthy, rss bytes, process count); stop it."""
    root = tempfile.mkdtemp(prefix='zerocloud-bench-aio-')
    try:
        spec = cluster.spec_with_free_ports(root, nodes=nodes, replicas=replicas,
                                            zerocloud=zerocloud)
        began = time.monotonic()
        cluster.start(spec)
        seconds = time.monotonic() - began
        time.sleep(1.0)  # let lazy imports and first requests settle before sampling memory
        pids = cluster.running(spec).values()
        rss = group_rss_bytes(pids)
        count = len(pids)
        cluster.stop(spec)
        return seconds, rss, count
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--nodes', type=int, default=4)
    parser.add_argument('--replicas', type=int, default=3)
    args = parser.parse_args(argv)
    results = {True: [], False: []}
    for run in range(args.runs):
        for zerocloud in (True, False):
            seconds, rss, count = measure(zerocloud, args.nodes, args.replicas)
            results[zerocloud].append((seconds, rss))
            print('run %d %-22s start %5.2f s  rss %6.0f MiB  (%d processes)'
                  % (run + 1, 'with zerocloud' if zerocloud else 'without (baseline)',
                     seconds, rss / MIB, count), flush=True)
    medians = {}
    for zerocloud, rows in results.items():
        medians[zerocloud] = (statistics.median(r[0] for r in rows),
                              statistics.median(r[1] for r in rows))
    print('median with zerocloud:    start %.2f s, rss %.0f MiB'
          % (medians[True][0], medians[True][1] / MIB))
    print('median without (baseline): start %.2f s, rss %.0f MiB'
          % (medians[False][0], medians[False][1] / MIB))
    print('ratio with/without:       start %.2fx, rss %.2fx'
          % (medians[True][0] / medians[False][0], medians[True][1] / medians[False][1]))
    return 0


if __name__ == '__main__':
    sys.exit(main())
