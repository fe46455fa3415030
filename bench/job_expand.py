"""Benchmark: expand a wildcard job over 100,000 listed objects (target: well under 1 s).

Prints the median of several runs for the sort job of Servlets.md (stdin wildcard, stdout
taking the captured text, a path-less stderr) and, as a baseline measured in the same run,
the time to merely iterate the listing and regex-match every name.  CPU time is printed
next to wall time because the machine may be shared.

    .venv/bin/python bench/job_expand.py [--objects 100000] [--repeat 5]
"""
import argparse
import os
import re
import statistics
import time

from zerocloud.job import expand, parse_job

SORT_JOB = [{
    'name': 'sort',
    'exec': {'path': 'swift://~/exec/sort.nexe', 'args': '1048576'},
    'devices': [{'name': 'stdin', 'path': 'swift://~/data/binary*.data'},
                {'name': 'stdout', 'path': 'swift://~/data/sorted*.data'},
                {'name': 'stderr'}],
}]


def _time(function, repeat):
    """Median wall time and median CPU time of ``repeat`` calls, and the last result."""
    wall, cpu, result = [], [], None
    for _ in range(repeat):
        result = None   # free the previous plan outside the timed region
        start, start_cpu = time.perf_counter(), time.process_time()
        result = function()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--objects', type=int, default=100_000)
    parser.add_argument('--repeat', type=int, default=5)
    args = parser.parse_args()
    names = [f'binary_{i:07d}.data' for i in range(args.objects)]
    names += [f'other_{i}.txt' for i in range(args.objects // 10)]   # listed, not matching

    def list_objects(account, container, prefix):
        return names if container == 'data' else []

    job = parse_job(SORT_JOB)
    pattern = re.compile(r'binary(.*)\.data')
    baseline, baseline_cpu, _ = _time(lambda: sum(1 for n in names if pattern.fullmatch(n)),
                                      args.repeat)
    median, median_cpu, plan = _time(lambda: expand(job, account='AUTH_bench',
                                                    list_objects=list_objects,
                                                    max_instances=args.objects), args.repeat)
    assert len(plan.instances) == args.objects
    last = plan.instances[-1]
    print(f'load average:          {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs')
    print(f'listed objects:       {len(names)}')
    print(f'instances:            {len(plan.instances)} (last: {last.name} '
          f'{last.devices["stdin"].url} -> {last.devices["stdout"].url})')
    print(f'expand median:         {median:.3f} s wall, {median_cpu:.3f} s CPU '
          f'over {args.repeat} runs')
    print(f'baseline (match only): {baseline:.3f} s wall, {baseline_cpu:.3f} s CPU; '
          f'ratio expand/baseline {median_cpu / max(baseline_cpu, 1e-9):.1f} (CPU)')


if __name__ == '__main__':
    main()
