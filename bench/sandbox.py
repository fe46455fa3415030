"""Benchmark the sandbox against the same work done without it, measured in the same run.

    python bench/sandbox.py [--runs 100] [--python-runs 30] [--gib 1.0] [--skip-throughput]
                            [--python-prestart 2] [--python-gap-ms 100]

Prints, for the same binaries:

1. warm session start of a trivial static program (musl and glibc builds of
   tests/programs/hello.c) through the supervisor vs ``subprocess.run`` unsandboxed:
   median and p99, and the ratio of medians (target <= 2); twice: back-to-back (the warm
   pool's refill, ~2 ms of CPU per session in the jail factory and the new jail, competes
   with the next runs on 2 cores) and with ``--gap-ms`` of idle time before each pair
   (a server that is not saturated: the refill happens in between).  Then the same warm
   starts through a supervisor whose jails are set up by the Python
   stage (``--python-jail-stage``) instead of the compiled launcher, interleaved with the
   launcher's, ``--gap-ms`` apart: what the launcher saves;
2. a Python script importing 20 stdlib modules and reading its input, as a session of the
   ``python`` image vs ``python3 -I script`` unsandboxed (target <= 1x), through a
   supervisor with ``--python-prestart`` jails (:mod:`zerocloud.sandbox.prestart`, their
   interpreter started and the default imports done; target <= 0.25x) and without, same
   run, interleaved, with ``--python-gap-ms`` of idle time before each triple (the
   pre-started jail used by a session is replaced in between: ~60 ms of CPU);
3. stdin channel throughput from a local file (a static reader program) vs
   ``cat file > /dev/null`` (target >= 95%);
4. stdout through a pipe channel (pumped by the supervisor), in GiB/s;
5. warm hello sessions run while another session's new executable (~5 million
   instructions: seconds of validation in a child) is being validated, vs the same number
   of hello sessions right after: how many ran during the validations (a supervisor that
   waited for the validation ran none) and their median vs after (on 2 cores the
   validation child takes one: some slow-down is CPU, not waiting).

Runs are interleaved (sandboxed, then baseline) so machine noise hits both alike.  Keep it
bounded: the defaults finish in well under three minutes on 2 cores.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

from tests.conftest import build_c_program  # noqa: E402
from zerocloud.sandbox import (ChannelSpec, Limits, SessionSpec,  # noqa: E402
                               SupervisorClient, start_supervisor)
from zerocloud.sandbox.images import python_interpreter  # noqa: E402

GIB = 1 << 30
READER_C = r'''
#include <unistd.h>
#include <stdio.h>
static char buf[1 << 20];
int main(void) { long long n = 0; ssize_t got;
  while ((got = read(0, buf, sizeof buf)) > 0) n += got;
  printf("%lld\n", n); return got < 0; }
'''
WRITER_C = r'''
#include <stdlib.h>
#include <unistd.h>
static char buf[1 << 20];
int main(int argc, char **argv) { long long left = atoll(argv[1]);
  while (left > 0) { ssize_t put = write(1, buf, left < (long long)sizeof buf ? left : sizeof buf);
    if (put <= 0) return 1; left -= put; } return 0; }
'''
BIG_C = r'''
#include <stdio.h>
__attribute__((used, noinline)) static void padding(void) {   /* never called */
    __asm__ volatile(".rept 5000000\n\tadd %%rax, %%rbx\n\t.endr" ::: "rax", "rbx");
}
int main(void) { puts("big %d"); return 0; }
'''
IMPORTS_SCRIPT = '''
import sys, os, re, json, collections, itertools, functools, math, string, struct
import datetime, hashlib, base64, random, heapq, bisect, csv, io, textwrap, statistics
with open(sys.argv[1], 'rb') as f:
    data = f.read()
print(len(data), hashlib.sha256(data).hexdigest()[:8])
'''


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def line(label, sandboxed, baseline, target):
    ms = lambda v: v * 1000  # noqa: E731
    print('%-40s sandbox median %7.2f ms p99 %7.2f ms | baseline median %7.2f ms p99 %7.2f '
          'ms | ratio %.2f (target %s)' % (
              label, ms(statistics.median(sandboxed)), ms(percentile(sandboxed, 0.99)),
              ms(statistics.median(baseline)), ms(percentile(baseline, 0.99)),
              statistics.median(sandboxed) / statistics.median(baseline), target))


def compile_c(source, workdir, name):
    path = os.path.join(workdir, name + '.c')
    with open(path, 'w') as f:
        f.write(source)
    target = os.path.join(workdir, name)
    subprocess.run(['gcc', '-static', '-O2', '-o', target, path], check=True)
    return target


def timed(function):
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def bench_start(client, runs, workdir, gap_seconds=0.0):
    devnull = os.open(os.devnull, os.O_WRONLY)
    label = 'back-to-back' if not gap_seconds else '%g ms apart' % (gap_seconds * 1000)
    out = os.open(os.path.join(workdir, 'out'), os.O_RDWR | os.O_CREAT | os.O_TRUNC)
    for libc in ('musl', 'glibc'):
        program = build_c_program('hello', libc=libc)
        spec = SessionSpec(program=program, argv=['hello'],
                           channels=[ChannelSpec('stdout', 'w', 'file')])
        client.run(spec, [out])                         # validation into the cache
        sandboxed, baseline = [], []
        for _ in range(runs):
            time.sleep(gap_seconds)
            seconds, report = timed(lambda: client.run(spec, [out]))
            assert report.ok, report
            sandboxed.append(seconds)
            time.sleep(gap_seconds)
            seconds, _ = timed(lambda: subprocess.run([program], stdout=devnull))
            baseline.append(seconds)
        line('start hello (%s, %s)' % (libc, label), sandboxed, baseline, '<= 2')
    os.close(devnull)
    os.close(out)


def bench_launcher_gain(compiled, python_stage, runs, workdir, gap_seconds):
    """Warm hello starts through a supervisor whose jails use the compiled launcher and
    one whose jails use the Python stage (``--python-jail-stage``), interleaved, each after
    ``gap_seconds`` of idle time (so that neither pays for the other's pool refill): what
    the launcher saves (ratio Python stage / launcher)."""
    out = os.open(os.path.join(workdir, 'out-stages'), os.O_RDWR | os.O_CREAT | os.O_TRUNC)
    for libc in ('musl', 'glibc'):
        spec = SessionSpec(program=build_c_program('hello', libc=libc), argv=['hello'],
                           channels=[ChannelSpec('stdout', 'w', 'file')])
        for client in (compiled, python_stage):
            client.run(spec, [out])                     # validation into each cache
        launched, staged = [], []
        for _ in range(runs):
            for client, samples in ((compiled, launched), (python_stage, staged)):
                time.sleep(gap_seconds)
                seconds, report = timed(lambda: client.run(spec, [out]))
                assert report.ok, report
                samples.append(seconds)
        line('hello (%s): Python stage vs launcher' % libc, staged, launched, 'reported')
    os.close(out)


def bench_python(clients, runs, workdir, gap_seconds):
    script = os.path.join(workdir, 'imports20.py')
    data = os.path.join(workdir, 'input.bin')
    with open(script, 'w') as f:
        f.write(IMPORTS_SCRIPT)
    with open(data, 'wb') as f:
        f.write(os.urandom(1 << 20))
    out = os.open(os.path.join(workdir, 'py-out'), os.O_RDWR | os.O_CREAT | os.O_TRUNC)
    spec = SessionSpec(program='file://python:python', argv=['python', '/dev/script',
                                                            '/dev/input'],
                       channels=[ChannelSpec('script', 'r'), ChannelSpec('input', 'r'),
                                 ChannelSpec('stdout', 'w')])
    python3 = python_interpreter()      # the very binary the python image runs (no shim)
    sandboxed = {name: [] for name in clients}
    baseline = []
    for _ in range(runs):
        for name, client in clients.items():
            time.sleep(gap_seconds)
            fds = [os.open(script, os.O_RDONLY), os.open(data, os.O_RDONLY), out]
            seconds, report = timed(lambda: client.run(spec, fds))
            assert report.ok, report
            sandboxed[name].append(seconds)
            for fd in fds[:2]:
                os.close(fd)
        time.sleep(gap_seconds)
        seconds, _ = timed(lambda: subprocess.run([python3, '-I', script, data],
                                                  stdout=subprocess.DEVNULL, check=True))
        baseline.append(seconds)
    for name, times in sandboxed.items():
        line('python, 20 stdlib imports, %s' % name, times, baseline,
             '<= 0.25' if name == 'pre-started' else '<= 1')
    os.close(out)


def bench_throughput(client, gib, workdir):
    size = int(gib * GIB)
    path = os.path.join(workdir, 'big.bin')
    chunk = os.urandom(1 << 20)
    with open(path, 'wb') as f:
        for _ in range(size // len(chunk)):
            f.write(chunk)
    reader = compile_c(READER_C, workdir, 'reader')
    writer = compile_c(WRITER_C, workdir, 'writer')
    limits = Limits(wall_seconds=120, cpu_seconds=120, max_input_bytes=size + 1,
                    max_output_bytes=size + 1)
    spec = SessionSpec(program=reader, argv=['reader'], limits=limits,
                       channels=[ChannelSpec('stdin', 'r'), ChannelSpec('stdout', 'w')])
    out = os.open(os.path.join(workdir, 'count'), os.O_RDWR | os.O_CREAT | os.O_TRUNC)
    subprocess.run(['cat', path], stdout=subprocess.DEVNULL)       # warm the page cache
    for program in (reader, writer):                               # validate once (cached)
        client.run(SessionSpec(program=program, argv=['warm', '0']), [])
    fd = os.open(path, os.O_RDONLY)
    sandbox_s, report = timed(lambda: client.run(spec, [fd, out]))
    assert report.ok, report
    os.close(fd)
    with open(path, 'rb') as source:
        cat_s, _ = timed(lambda: subprocess.run(['cat'], stdin=source,
                                                stdout=subprocess.DEVNULL))
    print('%-40s sandbox %.2f GiB/s | cat > /dev/null %.2f GiB/s | ratio %.0f%% (target >= 95%%)'
          % ('stdin from a %.1f GiB file' % gib, gib / sandbox_s, gib / cat_s,
             100 * cat_s / sandbox_s))
    read_end, write_end = os.pipe()
    counted = []
    drain = threading.Thread(target=lambda: counted.append(_drain(read_end)))
    drain.start()
    spec = SessionSpec(program=writer, argv=['writer', str(size)], limits=limits,
                       channels=[ChannelSpec('stdout', 'w', 'pipe')])
    pipe_s, report = timed(lambda: client.run(spec, [write_end]))
    os.close(write_end)
    drain.join()
    assert report.ok and counted[0] == size, (report, counted)
    print('%-40s %.2f GiB/s' % ('stdout through a pipe channel', gib / pipe_s))
    os.close(out)


def bench_start_during_validation(handle, client, workdir, rounds):
    """Hello sessions while a new big executable is validated, then as many without."""
    hello = build_c_program('hello', libc='musl')
    out = os.open(os.path.join(workdir, 'out-v'), os.O_RDWR | os.O_CREAT | os.O_TRUNC)
    spec = SessionSpec(program=hello, argv=['hello'],
                       channels=[ChannelSpec('stdout', 'w', 'file')])
    client.run(spec, [out])
    during, after, validating = [], [], []
    for index in range(rounds):       # new contents each round: validated anew
        big = compile_c(BIG_C.replace('%d', str(index)), workdir, 'big%d' % index)
        slow = []
        thread = threading.Thread(target=lambda: slow.append(client.run(
            SessionSpec(program=big, argv=['big']), [])))
        thread.start()
        deadline = time.monotonic() + 30
        while not _validating(handle.pid) and time.monotonic() < deadline:
            time.sleep(0.001)
        count, started = 0, time.perf_counter()
        while _validating(handle.pid):
            seconds, report = timed(lambda: client.run(spec, [out]))
            assert report.ok, report
            during.append(seconds)
            count += 1
        validating.append(time.perf_counter() - started)
        thread.join()
        assert slow and slow[0].ok, slow
        for _ in range(count):
            seconds, report = timed(lambda: client.run(spec, [out]))
            after.append(seconds)
    os.close(out)
    ms = statistics.median
    print('%-40s %d sessions in %.1f s of validation (target > 0), median %7.2f ms | right '
          'after: median %7.2f ms | ratio %.2f' % (
              'start hello while another validates', len(during), sum(validating),
              ms(during) * 1000, ms(after) * 1000, ms(during) / ms(after)))


def _validating(supervisor_pid):
    """True while the supervisor has a validation child (``zc-offload``)."""
    for entry in os.listdir('/proc'):
        try:
            with open('/proc/%s/stat' % entry) as f:
                name, _, rest = f.read().partition(') ')
        except (OSError, ValueError):
            continue
        if name.endswith('(zc-offload') and int(rest.split()[1]) == supervisor_pid:
            return True
    return False


def _drain(fd):
    total = 0
    while True:
        data = os.read(fd, 1 << 20)
        if not data:
            os.close(fd)
            return total
        total += len(data)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=100)
    parser.add_argument('--python-runs', type=int, default=30)
    parser.add_argument('--gib', type=float, default=1.0)
    parser.add_argument('--skip-throughput', action='store_true')
    parser.add_argument('--validation-rounds', type=int, default=2,
                        help='big executables validated while hello sessions run (0: skip)')
    parser.add_argument('--gap-ms', type=float, default=20.0,
                        help='idle time before each run of the second start series')
    parser.add_argument('--python-gap-ms', type=float, default=100.0,
                        help='idle time before each run of the python series')
    parser.add_argument('--python-prestart', type=int, default=2, metavar='N',
                        help='pre-started python jails of the second supervisor')
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix='bench-sandbox-')
    handle = start_supervisor(os.path.join(workdir, 'sandbox.sock'))
    prestarted = start_supervisor(os.path.join(workdir, 'prestart.sock'), options=[
        '--python-prestart', str(args.python_prestart)])
    python_stage = start_supervisor(os.path.join(workdir, 'stage.sock'),
                                    options=['--python-jail-stage'])
    try:
        client = SupervisorClient(handle.socket_path)
        bench_start(client, args.runs, workdir)
        bench_start(client, args.runs, workdir, args.gap_ms / 1000)
        bench_launcher_gain(client, SupervisorClient(python_stage.socket_path), args.runs,
                            workdir, args.gap_ms / 1000)
        bench_python({'normal start': client,
                      'pre-started': SupervisorClient(prestarted.socket_path)},
                     args.python_runs, workdir, args.python_gap_ms / 1000)
        if args.validation_rounds:
            bench_start_during_validation(handle, client, workdir, args.validation_rounds)
        if not args.skip_throughput:
            bench_throughput(client, args.gib, workdir)
    finally:
        python_stage.stop()
        prestarted.stop()
        handle.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    main()
