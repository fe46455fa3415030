"""Channel throughput between two sessions against a plain socket copy, measured in the same run.

    python bench/channels.py [--mib 1024] [--runs 5]

Two real sandboxed sessions (the ``python`` system image) run through one sandbox
supervisor, wired as a connected job's sessions are on an object server: a
:class:`~zerocloud.proxy_middleware.rendezvous.JobRendezvous` and two
:class:`~zerocloud.object_middleware.mesh.Mesh` objects in this process.  The source writes
``--mib`` MiB to ``/dev/out/dst`` in 1 MiB writes and closes it; the destination reads
``/dev/in/src`` to end-of-file and prints the byte count and the seconds from its first byte
to end-of-file.  Each byte crosses FIFO -> supervisor pump -> socket -> supervisor pump ->
FIFO.  Measured, interleaved in every run:

``session unix``   the channel as wired between two sessions on one host (Unix stream)
``session tcp``    the same with the source's host identity forced elsewhere (TCP over
                   loopback, as between two hosts)
``plain unix``     the same bytes copied through a socketpair by two threads of this process
``plain tcp``      the same through a loopback TCP connection

MiB/s is the data over the destination's first-byte-to-EOF time (sessions) or over the copy
(plain); ``with start`` adds the sessions' start and end (wall time of both sessions, from
sending their requests to the supervisor until both reports are back).  The table shows
medians over ``--runs`` runs and the ratios of each session transport to its plain copy.  On
a shared 2-core machine the figures are noisy; the ratios of one run are what matter.
"""
import argparse
import logging
import os
import socket
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

import eventlet  # noqa: E402

from zerocloud.object_middleware.mesh import Mesh  # noqa: E402
from zerocloud.proxy_middleware.rendezvous import JobRendezvous  # noqa: E402
from zerocloud.sandbox import (ChannelSpec, Limits, SessionSpec,  # noqa: E402
                               SupervisorClient, start_supervisor)
from zerocloud.sandbox.fdpass import raise_open_files_limit  # noqa: E402

MIB = 1 << 20
LOG = logging.getLogger('bench-channels')
SOURCE = b'''import os, sys
left = int(sys.argv[1])
buf = bytes(1 << 20)
fd = os.open("/dev/out/dst", os.O_WRONLY)
while left:
    left -= os.write(fd, buf[:min(left, len(buf))])
os.close(fd)
'''
DESTINATION = b'''import os, sys, time
fd = os.open("/dev/in/src", os.O_RDONLY)
buf = bytearray(1 << 20)
total = os.readv(fd, [buf])
started = time.monotonic()
while True:
    got = os.readv(fd, [buf])
    if not got:
        break
    total += got
print(total, time.monotonic() - started)
'''


class Bench:
    """One supervisor and the two scripts, for every run."""

    def __init__(self, work_dir, size):
        self.size = size
        self.scripts = {}
        for name, text in (('source', SOURCE), ('destination', DESTINATION)):
            path = os.path.join(work_dir, name + '.py')
            with open(path, 'wb') as f:
                f.write(text)
            self.scripts[name] = path
        self.supervisor = start_supervisor(os.path.join(work_dir, 'sandbox.sock'))
        self.limits = Limits(wall_seconds=300, cpu_seconds=300, max_output_bytes=size,
                             max_input_bytes=size)

    def sessions(self, force_tcp):
        """Run source and destination once; ``(MiB/s first byte to EOF, MiB/s with start,
        transport)``."""
        with JobRendezvous(['src', 'dst'], '127.0.0.1', 10, LOG) as rendezvous:
            source = Mesh(rendezvous.mesh('src', (), (('out/dst', 'dst'),)), '127.0.0.1', LOG,
                          host_id='elsewhere:0' if force_tcp else None)
            destination = Mesh(rendezvous.mesh('dst', (('in/src', 'src'),), ()), '127.0.0.1',
                               LOG)
            try:
                wired = [eventlet.spawn(mesh.connect) for mesh in (source, destination)]
                out_fd, in_fd = wired[0].wait()['out/dst'], wired[1].wait()['in/src']
                started = time.monotonic()
                printed, reports = self._run_both(out_fd, in_fd)
                wall = time.monotonic() - started
            finally:
                source.close()
                destination.close()
        for report in reports:
            if not report.ok or report.retcode:
                raise RuntimeError('a session failed: %s' % (report,))
        count, seconds = printed.split()
        if int(count) != self.size:
            raise RuntimeError('the destination read %s of %d bytes' % (count, self.size))
        return (self.size / MIB / float(seconds), self.size / MIB / wall,
                source.transports['out/dst'])

    def _run_both(self, out_fd, in_fd):
        """Both sessions at once (two threads waiting on the supervisor)."""
        read_end, write_end = os.pipe()
        script_fds = [os.open(self.scripts[name], os.O_RDONLY)
                      for name in ('source', 'destination')]
        specs = [
            (SessionSpec(program='file://python:python',
                         argv=['src', '/dev/script', str(self.size)], limits=self.limits,
                         channels=(ChannelSpec('script'), ChannelSpec('out/dst', 'w',
                                                                      'socket'))),
             [script_fds[0], out_fd]),
            (SessionSpec(program='file://python:python', argv=['dst', '/dev/script'],
                         limits=self.limits,
                         channels=(ChannelSpec('script'), ChannelSpec('in/src', 'r', 'socket'),
                                   ChannelSpec('stdout', 'w', 'pipe'))),
             [script_fds[1], in_fd, write_end])]
        reports = [None, None]

        def run(index):
            spec, fds = specs[index]
            reports[index] = SupervisorClient(self.supervisor.socket_path).run(spec, fds)
        threads = [threading.Thread(target=run, args=(index,)) for index in (0, 1)]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            for fd in script_fds + [write_end]:
                os.close(fd)
        with os.fdopen(read_end, 'rb') as f:
            return f.read().decode(), reports

    def close(self):
        self.supervisor.stop()


def plain_copy(family, size):
    """MiB/s of ``size`` bytes from one thread to another over a fresh socket pair."""
    writer, reader = _pair(family)
    chunk = memoryview(bytes(MIB))

    def write():
        left = size
        while left:
            left -= writer.send(chunk[:min(left, MIB)])
        writer.shutdown(socket.SHUT_WR)
    thread = threading.Thread(target=write)
    buf = bytearray(MIB)
    started = time.monotonic()
    thread.start()
    total = 0
    while True:
        got = reader.recv_into(buf)
        if not got:
            break
        total += got
    seconds = time.monotonic() - started
    thread.join()
    writer.close()
    reader.close()
    if total != size:
        raise RuntimeError('the plain copy moved %d of %d bytes' % (total, size))
    return size / MIB / seconds


def _pair(family):
    if family == socket.AF_UNIX:
        return socket.socketpair()
    with socket.create_server(('127.0.0.1', 0)) as listener:
        writer = socket.create_connection(listener.getsockname())
        reader, _ = listener.accept()
    return writer, reader


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--mib', type=int, default=1024, help='MiB per transfer')
    parser.add_argument('--runs', type=int, default=5, help='interleaved runs')
    args = parser.parse_args(argv)
    raise_open_files_limit()
    size = args.mib * MIB
    results = {name: [] for name in ('session unix', 'session tcp', 'plain unix',
                                     'plain tcp')}
    with_start = {'session unix': [], 'session tcp': []}
    with tempfile.TemporaryDirectory(prefix='zc-bench-channels-') as work_dir:
        bench = Bench(work_dir, size)
        try:
            for run in range(args.runs):
                for name, force_tcp in (('session unix', False), ('session tcp', True)):
                    steady, started, transport = bench.sessions(force_tcp)
                    if transport != name.split()[1]:
                        raise RuntimeError('%s ran over %s' % (name, transport))
                    results[name].append(steady)
                    with_start[name].append(started)
                results['plain unix'].append(plain_copy(socket.AF_UNIX, size))
                results['plain tcp'].append(plain_copy(socket.AF_INET, size))
                print('run %d: %s' % (run + 1, ', '.join('%s %.0f' % (name, values[-1])
                                                         for name, values in results.items())),
                      flush=True)
        finally:
            bench.close()
    report(args, results, with_start)


def report(args, results, with_start):
    median = {name: statistics.median(values) for name, values in results.items()}
    print('\n%d MiB per transfer, median of %d runs (MiB/s)' % (args.mib, args.runs))
    for name in results:
        extra = ''
        if name in with_start:
            extra = '   (with session start: %.0f)' % statistics.median(with_start[name])
        print('  %-13s %8.0f%s' % (name, median[name], extra))
    print('ratios')
    for transport in ('unix', 'tcp'):
        print('  session %s / plain %s: %.2f' % (
            transport, transport, median['session ' + transport] / median['plain ' + transport]))
    print('  session unix / session tcp: %.2f'
          % (median['session unix'] / median['session tcp']))


if __name__ == '__main__':
    main()
