"""Proxy memory and throughput of large job outputs vs a plain PUT and GET of the same size.

Usage::

    python bench/proxy_stream.py [--mib 1024] [--runs 3] [--job-timeout 120]
                                 [--storage-url URL --token T [--proxy-pid PID]]

What it measures, in the same run and through the same proxy, for ``--mib`` MiB of data:

(a) ``job->object``: a job whose stdout has a ``swift://~/<cont>/out.bin`` path; the program
    writes the data to stdout, the proxy publishes it with a PUT;
(b) ``job->response``: the same job with a path-less stdout; the data comes back in the HTTP
    response body;
(c) ``plain PUT``: a PUT of an object of the same size (the baseline of (a));
(d) ``plain GET``: a GET of that object (the baseline of (b)).

For each request it samples the proxy server's VmRSS (``/proc/<pid>/status``) every 20 ms in a
thread, and also resets and reads the kernel's peak (``VmHWM``, reset with ``clear_refs``), so
a spike between two samples is not missed.  "growth" is the peak RSS during the request minus
the RSS just before it.  MiB/s is the data size over the wall time of the request (for (a):
the POST until the response is read; the published object is then checked with a HEAD,
untimed).  Each run does (c), (d), (a), (b) in that order; the table shows medians over
``--runs`` runs, ``growth/data`` (growth over the data size) and the ratios of time and of
growth against the baseline ((a) vs (c), (b) vs (d)); a baseline growth under 1 MiB counts as
1 MiB in the ratio.

The client never holds the data: the PUT body is a generator, GETs and the job response are
read with ``iter_content`` and compared chunk by chunk with the expected pattern (a period of
1048573 bytes from a 32-bit LCG, written by a static C program compiled here with gcc); the
plain PUT and the published object are checked by length and ETag (MD5 computed once, before
timing).  The program is ``gen <bytes>``: it writes exactly that many bytes to stdout.

Goal (issue 9): the proxy's memory per job must not grow with the data size: (a) and (b)
should show a growth close to that of their plain baselines (a few MiB, independent of
``--mib``).  Before the fix the proxy holds every output in memory (the whole body is joined
before the response, and a published output is PUT from one bytes object), so expect a
growth of about the data size or more.

Without ``--storage-url`` it starts its own all-in-one cluster (zerocloud aio, stopped at the
end, with a watchdog if this process dies), configured so that the limits allow the data:
``zerovm_maxoutput`` of the proxy and object filters is max(1 GiB, data size) and
``zerovm_timeout`` is ``--job-timeout`` seconds (default 120; the stock 10 s can be given to
check that the default configuration copes).  With ``--storage-url`` the proxy's pid is the
process(es) listening on the URL's port on this machine (all of them summed when the proxy
runs workers), or ``--proxy-pid``; that cluster's own limits apply.
"""
import argparse
import contextlib
import hashlib
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from job_latency import compile_static  # noqa: E402

MiB = 1 << 20
GiB = 1 << 30
PERIOD = 1048573  # prime: the pattern's phase drifts across 1 MiB chunks
CHUNK = MiB
SAMPLE_SECONDS = 0.02
TIMEOUT = (10, 900)  # connect, read (requests)

GEN_SOURCE = r'''
#include <stdlib.h>
#include <unistd.h>
#define PERIOD 1048573
static unsigned char buf[2 * PERIOD];
int main(int argc, char **argv) {
    long long left = argc > 1 ? atoll(argv[1]) : 0, done = 0;
    unsigned int x = 1;
    for (long i = 0; i < PERIOD; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = buf[i + PERIOD] = (unsigned char)(x >> 24);
    }
    while (left > 0) {
        size_t want = left < PERIOD ? (size_t)left : PERIOD;
        ssize_t put = write(1, buf + done % PERIOD, want);
        if (put <= 0) return 1;
        left -= put; done += put;
    }
    return 0;
}
'''


def pattern():
    """Two periods of the generator's bytes (any window of <= PERIOD bytes is a slice)."""
    out, x = bytearray(PERIOD), 1
    for i in range(PERIOD):
        x = (x * 1103515245 + 12345) & 0xffffffff
        out[i] = x >> 24
    return bytes(out) * 2


def body_chunks(ref, total):
    """The first ``total`` bytes of the pattern, in chunks of at most PERIOD bytes."""
    done = 0
    while done < total:
        size = min(total - done, PERIOD)
        phase = done % PERIOD
        yield ref[phase:phase + size]
        done += size


def expected_md5(ref, total):
    digest = hashlib.md5()
    for chunk in body_chunks(ref, total):
        digest.update(chunk)
    return digest.hexdigest()


class Checker:
    """Compare a byte stream with the pattern as it arrives; count its bytes."""

    def __init__(self, ref):
        self.ref, self.count, self.mismatch = ref, 0, None

    def feed(self, chunk):
        pos = 0
        while pos < len(chunk):
            phase = self.count % PERIOD
            size = min(len(chunk) - pos, PERIOD)
            if self.mismatch is None and chunk[pos:pos + size] != self.ref[phase:phase + size]:
                self.mismatch = self.count
            pos += size
            self.count += size

    def problem(self, total):
        if self.count != total:
            return 'got %d bytes, expected %d' % (self.count, total)
        if self.mismatch is not None:
            return 'content differs from the pattern in the chunk at byte %d' % self.mismatch
        return None


# -- the proxy's memory -----------------------------------------------------------------------
def _status_kib(pid, field):
    try:
        handle = open('/proc/%d/status' % pid)
    except FileNotFoundError:
        return 0  # the process is gone (its failure shows in the request's error)
    with handle:
        for line in handle:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise RuntimeError('no %s in /proc/%d/status' % (field, pid))


class RssSampler:
    """Peak RSS (summed over ``pids``) while a request runs: sampled and kernel peak."""

    def __init__(self, pids):
        self.pids = pids

    def rss(self, field='VmRSS'):
        return sum(_status_kib(pid, field) for pid in self.pids) * 1024

    def _reset_hwm(self):
        try:
            for pid in self.pids:
                with open('/proc/%d/clear_refs' % pid, 'w') as handle:
                    handle.write('5')  # reset VmHWM to the current RSS (nothing else)
            return True
        except OSError:
            return False

    def _loop(self):
        while not self._done.wait(SAMPLE_SECONDS):
            self.peak = max(self.peak, self.rss())

    def __enter__(self):
        self.hwm_ok = self._reset_hwm()
        self.before = self.peak = self.rss()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()
        self.after = self.rss()
        self.peak = max(self.peak, self.after)
        if self.hwm_ok:
            self.peak = max(self.peak, self.rss('VmHWM'))
        self.growth = self.peak - self.before


def listening_pids(port):
    """Pids of the processes holding a TCP socket listening on ``port`` (IPv4/IPv6)."""
    inodes = set()
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(table) as handle:
                next(handle)
                for line in handle:
                    fields = line.split()
                    if fields[3] == '0A' and int(fields[1].rsplit(':', 1)[1], 16) == port:
                        inodes.add(fields[9])
        except OSError:
            continue
    pids = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            fds = os.listdir('/proc/%s/fd' % entry)
            links = {os.readlink('/proc/%s/fd/%s' % (entry, fd)) for fd in fds}
        except OSError:
            continue
        if any('socket:[%s]' % inode in links for inode in inodes):
            pids.append(int(entry))
    return sorted(pids)


# -- the cluster ------------------------------------------------------------------------------
@contextlib.contextmanager
def cluster(args):
    """Yield (storage url, token, proxy pids): given ones, or those of a fresh aio cluster."""
    if args.storage_url:
        if args.proxy_pid:
            pids = [args.proxy_pid]
        else:
            port = urllib.parse.urlsplit(args.storage_url).port or 80
            pids = listening_pids(port)
            if not pids:
                sys.exit('no process listens on port %d here: give --proxy-pid' % port)
        yield args.storage_url, args.token, pids
        return
    from zerocloud.aio import cluster as aio
    limit = str(max(GiB, args.mib * MiB))
    options = {'zerovm_maxoutput': limit, 'zerovm_timeout': str(args.job_timeout)}
    filters = {'proxy_middleware': options, 'object_middleware': options}
    with tempfile.TemporaryDirectory(prefix='zc-bench-') as root:
        started = time.perf_counter()
        spec = aio.start_with_free_ports(root, filter_options=filters, owner_pid=os.getpid())
        print('cluster started in %.1f s (proxy port %d, maxoutput %s, zerovm_timeout %s s)'
              % (time.perf_counter() - started, spec.port, limit, args.job_timeout), flush=True)
        try:
            url, token = aio.get_token(spec, 'test', 'tester', 'testing')
            yield url, token, [aio.running(spec)['proxy']]
        finally:
            aio.stop(spec)


# -- the cases --------------------------------------------------------------------------------
class Bench:
    def __init__(self, url, token, pids, ref, total):
        self.base, self.auth = url.rstrip('/'), {'X-Auth-Token': token}
        self.session, self.sampler = requests.Session(), RssSampler(pids)
        self.ref, self.total = ref, total
        self.container = 'bench-' + uuid.uuid4().hex
        self.md5 = None

    def url(self, name=''):
        return '%s/%s%s' % (self.base, self.container, '/' + name if name else '')

    def setup(self, exe):
        self.session.put(self.url(), headers=self.auth).raise_for_status()
        with open(exe, 'rb') as handle:
            self.session.put(self.url('gen'), data=handle.read(),
                             headers=self.auth).raise_for_status()
        self.md5 = expected_md5(self.ref, self.total)

    def cleanup(self):
        for name in ('big', 'out.bin', 'gen', ''):
            with contextlib.suppress(requests.RequestException):
                self.session.delete(self.url(name), headers=self.auth, timeout=TIMEOUT)

    def job(self, to_object, size):
        stdout = {'name': 'stdout'}
        if to_object:
            stdout['path'] = 'swift://~/%s/out.bin' % self.container
        return [{'name': 'gen', 'exec': {'path': 'swift://~/%s/gen' % self.container,
                                         'args': [str(size)]},
                 'devices': [stdout]}]

    def post_job(self, job, check_body=None):
        """POST ``job``; -> an error text or None.  The body is streamed into ``check_body``."""
        headers = dict(self.auth, **{'X-Zerovm-Execute': '1.0',
                                     'Content-Type': 'application/json'})
        with self.session.post(self.base, data=json.dumps(job), headers=headers,
                               stream=True, timeout=TIMEOUT) as resp:
            self.cdr = resp.headers.get('X-Nexe-Cdr-Line')
            status = resp.headers.get('X-Nexe-Status')
            if resp.status_code != 200 or status != 'ok':
                return 'HTTP %d, X-Nexe-Status %r, X-Nexe-Error %r, X-Nexe-Retcode %r, ' \
                       'X-Nexe-Cdr-Line %r, body %r' % (
                           resp.status_code, status, resp.headers.get('X-Nexe-Error'),
                           resp.headers.get('X-Nexe-Retcode'),
                           resp.headers.get('X-Nexe-Cdr-Line'), resp.raw.read(500))
            for chunk in resp.iter_content(CHUNK):
                if check_body:
                    check_body.feed(chunk)
        return None

    def plain_put(self):
        resp = self.session.put(self.url('big'), data=body_chunks(self.ref, self.total),
                                headers=self.auth, timeout=TIMEOUT)
        if resp.status_code != 201:
            return 'HTTP %d: %r' % (resp.status_code, resp.text[:500])
        if resp.headers.get('Etag', '').strip('"') != self.md5:
            return 'ETag %r, expected %s' % (resp.headers.get('Etag'), self.md5)
        return None

    def plain_get(self):
        checker = Checker(self.ref)
        with self.session.get(self.url('big'), headers=self.auth, stream=True,
                              timeout=TIMEOUT) as resp:
            if resp.status_code != 200:
                return 'HTTP %d: %r' % (resp.status_code, resp.raw.read(500))
            for chunk in resp.iter_content(CHUNK):
                checker.feed(chunk)
        return checker.problem(self.total)

    def job_to_object(self):
        return self.post_job(self.job(True, self.total))

    def check_published(self):
        resp = self.session.head(self.url('out.bin'), headers=self.auth, timeout=TIMEOUT)
        if resp.status_code != 200:
            return 'HEAD out.bin: HTTP %d' % resp.status_code
        length = int(resp.headers.get('Content-Length', -1))
        if length != self.total or resp.headers.get('Etag', '').strip('"') != self.md5:
            return 'published out.bin: %d bytes, ETag %r; expected %d bytes, ETag %s' % (
                length, resp.headers.get('Etag'), self.total, self.md5)
        return None

    def job_to_response(self):
        checker = Checker(self.ref)
        return self.post_job(self.job(False, self.total), checker) or \
            checker.problem(self.total)

    def measure(self, call, after=None):
        """-> dict(seconds, growth, before, peak, error)."""
        self.cdr = None
        with self.sampler as sample:
            start = time.perf_counter()
            try:
                error = call()
            except requests.RequestException as exc:
                error = '%s: %s' % (type(exc).__name__, exc)
            seconds = time.perf_counter() - start
        if not error and after:
            error = after()
        return {'seconds': seconds, 'growth': sample.growth, 'before': sample.before,
                'peak': sample.peak, 'cdr': self.cdr, 'error': error}


CASES = (  # key, label, baseline key
    ('put', '(c) plain PUT', None),
    ('get', '(d) plain GET', None),
    ('obj', '(a) job->object', 'put'),
    ('resp', '(b) job->response', 'get'),
)


def print_table(results, total):
    mib = total / MiB
    medians = {}
    for key, _, _ in CASES:
        good = [r for r in results[key] if not r['error']]
        if good:
            medians[key] = (statistics.median(r['seconds'] for r in good),
                            statistics.median(r['growth'] for r in good))
    print()
    print('%-18s %4s %9s %8s %11s %7s %9s %11s' % (
        'case', 'ok', 'median s', 'MiB/s', 'growth MiB', 'gr/data', 'time/base',
        'growth/base'))
    for key, label, base in CASES:
        ok = '%d/%d' % (sum(1 for r in results[key] if not r['error']), len(results[key]))
        if key not in medians:
            print('%-18s %4s %9s' % (label, ok, 'failed'))
            continue
        seconds, growth = medians[key]
        line = '%-18s %4s %9.2f %8.1f %11.1f %7.2f' % (
            label, ok, seconds, mib / seconds, growth / MiB, growth / total)
        if base and base in medians:
            line += ' %9.2f %11.1f' % (seconds / medians[base][0],
                                       growth / max(medians[base][1], MiB))
        print(line)
    print()
    print('per run (seconds / growth MiB / RSS before MiB / peak MiB):')
    for key, label, _ in CASES:
        cells = []
        for r in results[key]:
            cell = '%.2f/%.0f/%.0f/%.0f' % (r['seconds'], r['growth'] / MiB,
                                            r['before'] / MiB, r['peak'] / MiB)
            cells.append(cell + (' FAILED' if r['error'] else ''))
        print('  %-18s %s' % (label, '  '.join(cells)))
    errors = [(label, r['error']) for key, label, _ in CASES for r in results[key]
              if r['error']]
    for label, error in errors:
        print('ERROR %s: %s' % (label, error))
    return not errors


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--mib', type=int, default=1024, help='data size in MiB (1024)')
    parser.add_argument('--runs', type=int, default=3, help='runs per case; medians (3)')
    parser.add_argument('--job-timeout', type=float, default=120.0,
                        help='zerovm_timeout of the cluster started here (120 s)')
    parser.add_argument('--storage-url')
    parser.add_argument('--token')
    parser.add_argument('--proxy-pid', type=int)
    args = parser.parse_args()
    if args.mib < 1 or args.runs < 1:
        parser.error('--mib and --runs must be positive')
    total = args.mib * MiB
    ref = pattern()
    with tempfile.TemporaryDirectory() as build, cluster(args) as (url, token, pids):
        source = os.path.join(build, 'gen.c')
        with open(source, 'w') as handle:
            handle.write(GEN_SOURCE)
        exe = compile_static(source, build)
        bench = Bench(url, token, pids, ref, total)
        bench.setup(exe)
        try:
            warm = bench.post_job(bench.job(False, MiB), Checker(ref))  # cache the executable
            if warm:
                sys.exit('warm-up job (1 MiB to the response) failed: %s' % warm)
            print('proxy pid(s) %s, RSS %.0f MiB after warm-up; %d MiB x %d runs'
                  % (','.join(map(str, pids)), bench.sampler.rss() / MiB, args.mib, args.runs),
                  flush=True)
            results = {key: [] for key, _, _ in CASES}
            calls = {'put': (bench.plain_put, None), 'get': (bench.plain_get, None),
                     'obj': (bench.job_to_object, bench.check_published),
                     'resp': (bench.job_to_response, None)}
            for run in range(args.runs):
                for key, label, _ in CASES:
                    result = bench.measure(*calls[key])
                    results[key].append(result)
                    print('run %d %-18s %7.2f s  growth %7.1f MiB  (RSS before %.0f, peak '
                          '%.0f MiB)%s%s'
                          % (run + 1, label, result['seconds'], result['growth'] / MiB,
                             result['before'] / MiB, result['peak'] / MiB,
                             '  CDR: %s' % result['cdr'] if result['cdr'] else '',
                             '  ERROR: ' + result['error'] if result['error'] else ''),
                          flush=True)
            print('proxy RSS at the end %.0f MiB' % (bench.sampler.rss() / MiB))
        finally:
            bench.cleanup()
    if not print_table(results, total):
        sys.exit(1)


if __name__ == '__main__':
    main()
