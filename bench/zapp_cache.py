"""Benchmark: the image cache, a miss (unpack) against a hit, and reading a zapp stream.

Builds a gzip zapp of ``--mib`` MiB (default 8) in ``--files`` files (default 200; half
random bytes, half text), then, ``--runs`` times each (default 20), interleaved:

    read    read_zapp over the file (system map, spool to /dev/null, MD5): the proxy's pass
    miss    get_or_unpack of a new ETag into an empty cache (unpack + commit + eviction)
    hit     get_or_unpack of a cached ETag (open, flock, stat, utime) and release

Prints the medians and the ratio miss/hit.  The cache lives under $TMPDIR: a miss is
mostly file creation, so the file system decides (on this project's 2-vCPU VMs, 8 MiB in
200 files: ~70 ms on tmpfs, ~600 ms on the ext4 root under load; a hit ~0.05 ms).

    .venv/bin/python bench/zapp_cache.py [--mib N] [--files N] [--runs N]
"""
import argparse
import io
import os
import statistics
import sys
import tarfile
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from zerocloud.zapp import ImageCache, read_zapp  # noqa: E402

JOB = b'[{"name": "a", "exec": {"path": "file://image:bin/a"}}]'


def build_zapp(path, total_bytes, files):
    """A gzip zapp at ``path``: the map, then ``files`` files of ``total_bytes`` in all."""
    size = total_bytes // files
    members = [('boot/system.map', JOB)]
    for index in range(files):
        text = (b'line %06d\n' % index) * (size // 12)
        members.append(('data/%04d' % index, os.urandom(size) if index % 2 else text))
    with tarfile.open(path, 'w:gz', compresslevel=6) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def timed(function, *args):
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def read_once(path):
    with open(path, 'rb') as stream, open(os.devnull, 'wb') as spool:
        read_zapp(stream, spool=spool)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--mib', type=int, default=8)
    parser.add_argument('--files', type=int, default=200)
    parser.add_argument('--runs', type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        zapp = os.path.join(work, 'app.zapp')
        build_zapp(zapp, args.mib << 20, args.files)
        cache = ImageCache(os.path.join(work, 'cache'), max_bytes=(args.mib + 1) << 20)
        cache.get_or_unpack('warm', zapp).release()
        times = {'read': [], 'miss': [], 'hit': []}
        for run in range(args.runs):
            times['read'].append(timed(read_once, zapp))
            times['miss'].append(timed(lambda: cache.get_or_unpack('m%d' % run, zapp)
                                       .release()))
            times['hit'].append(timed(lambda: cache.get_or_unpack('m%d' % run, zapp)
                                      .release()))
        print('zapp: %d MiB in %d files, %d bytes gzip; %d runs'
              % (args.mib, args.files, os.path.getsize(zapp), args.runs))
        medians = {name: statistics.median(values) for name, values in times.items()}
        for name, value in medians.items():
            print('%-5s median %9.3f ms' % (name, value * 1000))
        print('miss/hit ratio: %.0fx' % (medians['miss'] / medians['hit']))


if __name__ == '__main__':
    main()
