"""Reading a zapp from a stream in one pass (issue 12): map, spool, MD5, typed errors."""
import bz2
import gzip
import hashlib
import io
import lzma
import os
import subprocess
import sys
import tarfile
import textwrap

import pytest

from tests.unit.zapp.tars import (JOB, directory, member, regular, symlink, tar_bytes,
                                  zapp_bytes)
from zerocloud.zapp import (BadSystemMap, CorruptGzip, CorruptTar, MissingSystemMap,
                            UnsupportedCompression, ZappError, ZappTooLarge,
                            is_zapp_content_type, read_zapp)
from zerocloud.zapp.tarstream import MAX_EXTENDED_HEADER_BYTES


class ShortReads(io.RawIOBase):
    """A stream that returns at most ``step`` bytes per read, like a socket."""

    def __init__(self, data, step=1000):
        self.data = memoryview(data)
        self.step = step

    def readable(self):
        return True

    def read(self, size=-1):
        size = self.step if size < 0 else min(size, self.step)
        chunk, self.data = bytes(self.data[:size]), self.data[size:]
        return chunk


def error_of(data, **kwargs):
    with pytest.raises(ZappError) as caught:
        read_zapp(io.BytesIO(data), **kwargs)
    return caught.value


@pytest.mark.parametrize('compress', [False, True], ids=['plain', 'gzip'])
def test_map_found_and_whole_zapp_spooled_with_its_md5(compress):
    data = zapp_bytes(regular('bin/tool', b'x' * 300000), compress=compress)
    spool = io.BytesIO()
    head = read_zapp(ShortReads(data), spool=spool)
    assert head.system_map == JOB
    assert head.map_name == 'boot/system.map'
    assert head.compression == ('gzip' if compress else 'none')
    assert spool.getvalue() == data
    assert head.raw_bytes == len(data)
    assert head.md5 == hashlib.md5(data).hexdigest()
    assert head.members == 2


def test_map_found_mid_stream_between_members():
    data = tar_bytes(regular('a.bin', os.urandom(200000)), regular('./boot/system.map', JOB),
                     regular('z.bin', os.urandom(100000)))
    spool = io.BytesIO()
    head = read_zapp(io.BytesIO(data), spool=spool)
    assert head.system_map == JOB and head.members == 3
    assert spool.getvalue() == data


def test_cluster_map_is_taken_when_there_is_no_system_map():
    head = read_zapp(io.BytesIO(tar_bytes(regular('boot/cluster.map', b'[1]'))))
    assert (head.map_name, head.system_map) == ('boot/cluster.map', b'[1]')


def test_system_map_wins_over_cluster_map():
    data = tar_bytes(regular('boot/cluster.map', b'[1]'), regular('boot/system.map', JOB))
    assert read_zapp(io.BytesIO(data)).system_map == JOB


def test_gzip_is_recognised_by_magic_and_concatenated_members_accepted():
    data = tar_bytes(regular('boot/system.map', JOB))
    two_members = gzip.compress(data[:1024]) + gzip.compress(data[1024:])
    assert read_zapp(io.BytesIO(two_members)).system_map == JOB


def test_missing_map_is_a_400_naming_boot_system_map():
    err = error_of(tar_bytes(directory('boot'), regular('boot/other.map', JOB)))
    assert isinstance(err, MissingSystemMap) and err.status == 400
    assert 'boot/system.map' in str(err)


@pytest.mark.parametrize('damage', ['truncated', 'flipped', 'crc'])
def test_corrupt_gzip_is_a_400_saying_corrupt_gzip(damage):
    data = zapp_bytes(regular('data', os.urandom(50000)), compress=True)
    damaged = {'truncated': data[:len(data) // 2],
               'flipped': data[:200] + bytes(b ^ 0x55 for b in data[200:260]) + data[260:],
               'crc': data[:-8] + b'\0\0\0\0' + data[-4:]}[damage]
    err = error_of(damaged)
    assert isinstance(err, CorruptGzip) and err.status == 400
    assert str(err).startswith('corrupt gzip')


def test_data_after_the_gzip_stream_is_corrupt_gzip():
    err = error_of(zapp_bytes(compress=True) + b'garbage!')
    assert isinstance(err, CorruptGzip)


@pytest.mark.parametrize('damage', ['garbage', 'cut-member', 'second-header', 'empty'])
def test_corrupt_tar_is_a_400_saying_corrupt_tar(damage):
    good = zapp_bytes(regular('a', os.urandom(5000)), regular('b', b'bbb'))
    damaged = {'garbage': os.urandom(4096),
               'cut-member': good[:2000],
               'second-header': good[:5632] + b'\x01' * 512 + good[6144:],
               'empty': b''}[damage]
    err = error_of(damaged)
    assert isinstance(err, CorruptTar) and err.status == 400
    assert str(err).startswith('corrupt tar')


def test_oversize_map_is_a_413_naming_it():
    err = error_of(zapp_bytes(map_data=b' ' * 70000))
    assert isinstance(err, ZappTooLarge) and err.status == 413
    assert 'boot/system.map is 70000 bytes' in str(err)


def test_map_bound_is_a_parameter():
    assert read_zapp(io.BytesIO(zapp_bytes(map_data=b' ' * 70000)),
                     max_map_bytes=70000).system_map == b' ' * 70000


def test_map_that_is_a_symlink_or_given_twice_is_refused():
    err = error_of(tar_bytes(regular('x', JOB), symlink('boot/system.map', '../x')))
    assert isinstance(err, BadSystemMap) and 'not a regular file' in str(err)
    err = error_of(tar_bytes(regular('boot/system.map', JOB), regular('boot/system.map', JOB)))
    assert isinstance(err, BadSystemMap) and 'twice' in str(err)


@pytest.mark.parametrize('compress', [bz2.compress, lzma.compress], ids=['bzip2', 'xz'])
def test_other_compressions_are_refused_by_name(compress):
    err = error_of(compress(zapp_bytes()))
    assert isinstance(err, UnsupportedCompression) and err.status == 400
    assert compress.__module__.replace('lzma', 'xz').replace('bz2', 'bzip2') in str(err)


def test_raw_and_inflated_bounds_and_member_count():
    big = zapp_bytes(regular('a', b'\0' * 1000000), compress=True)
    assert isinstance(error_of(big, max_bytes=len(big) - 1), ZappTooLarge)
    assert read_zapp(io.BytesIO(big), max_bytes=len(big)).raw_bytes == len(big)
    err = error_of(big, max_tar_bytes=500000)
    assert isinstance(err, ZappTooLarge) and 'inflated' in str(err)
    many = zapp_bytes(*[regular('f%d' % i) for i in range(20)])
    err = error_of(many, max_members=20)
    assert isinstance(err, ZappTooLarge) and 'more than 20 members' in str(err)


def test_huge_extended_header_is_refused_before_it_is_read():
    info, _ = member('pax', kind=tarfile.XHDTYPE, size=MAX_EXTENDED_HEADER_BYTES + 1)
    header = info.tobuf(tarfile.USTAR_FORMAT)
    data = gzip.compress(header + b'\0' * (MAX_EXTENDED_HEADER_BYTES + 1024), 1)
    err = error_of(data)
    assert isinstance(err, ZappTooLarge) and 'extended header' in str(err)


def test_content_types_that_announce_a_zapp():
    assert is_zapp_content_type('application/x-tar')
    assert is_zapp_content_type('Application/GZIP; charset=binary')
    assert not is_zapp_content_type('application/json')
    assert not is_zapp_content_type(None)


MEMORY_PROBE = textwrap.dedent('''
    import io, resource, sys, tarfile, zlib
    from zerocloud.zapp import read_zapp

    SIZE = 200 << 20
    JOB = b'[{"name": "a", "exec": {"path": "file://python:python"}}]'

    def tar_chunks():
        info = tarfile.TarInfo('big.bin'); info.size = SIZE
        yield info.tobuf(tarfile.USTAR_FORMAT)
        zeros = bytes(1 << 20)
        for _ in range(SIZE >> 20):
            yield zeros
        info = tarfile.TarInfo('boot/system.map'); info.size = len(JOB)
        yield info.tobuf(tarfile.USTAR_FORMAT) + JOB + bytes(512 - len(JOB) + 1024)

    def gzip_chunks():
        deflate = zlib.compressobj(1, zlib.DEFLATED, 31)
        for chunk in tar_chunks():
            yield deflate.compress(chunk)
        yield deflate.flush()

    class Generated(io.RawIOBase):
        def __init__(self, chunks):
            self.chunks, self.rest = chunks, b''
        def readable(self):
            return True
        def read(self, size=-1):
            while len(self.rest) < size:
                chunk = next(self.chunks, None)
                if chunk is None:
                    break
                self.rest += chunk
            data, self.rest = self.rest[:size], self.rest[size:]
            return data

    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    before = peak()
    with open('/dev/null', 'wb') as spool:
        plain = read_zapp(Generated(tar_chunks()), spool=spool)
        packed = read_zapp(Generated(gzip_chunks()), spool=spool)
    print(plain.raw_bytes, packed.tar_bytes, packed.system_map == JOB, peak() - before)
''')


def test_a_200_mib_zapp_streams_through_without_being_held():
    out = subprocess.run([sys.executable, '-c', MEMORY_PROBE], capture_output=True,
                         text=True, check=True).stdout.split()
    raw_bytes, tar_bytes_, map_ok, growth = int(out[0]), int(out[1]), out[2], int(out[3])
    assert raw_bytes > 200 << 20 and tar_bytes_ > 200 << 20 and map_ok == 'True'
    assert growth < 24 << 20, 'peak RSS grew by %d bytes' % growth
