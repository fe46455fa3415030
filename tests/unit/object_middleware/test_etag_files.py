"""The object server's caches of files by ETag: a stored file is never touched again (its
identity is what the sandbox's validation saw), and the least recently used go first."""
import hashlib
import os

import pytest

from zerocloud.object_middleware.etag_cache import EtagCache


def identity(path):
    st = os.stat(path)
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode & 0o777


def spool(tmp_path, data, name='spool'):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path), hashlib.md5(data).hexdigest()


@pytest.fixture
def cache(tmp_path):
    return EtagCache(str(tmp_path / 'cache'), max_entries=2)


def test_using_or_resending_a_cached_file_leaves_its_identity_alone(cache, tmp_path):
    source, md5 = spool(tmp_path, b'\x7fELF program')
    path = cache.adopt(source, md5, md5, mode=0o555)
    os.unlink(source)                          # the spool goes (its link count changes)
    before = identity(path)
    assert before[4] == 0o555
    assert cache.path(md5) == path
    again, _ = spool(tmp_path, b'\x7fELF program', 'again')
    assert cache.adopt(again, md5, md5, mode=0o555) == path
    os.unlink(again)
    assert identity(path) == before            # same inode, times untouched


def test_bytes_that_do_not_match_the_etag_are_refused(cache, tmp_path):
    source, md5 = spool(tmp_path, b'data')
    with pytest.raises(ValueError):
        cache.adopt(source, '0' * 32, md5)
    assert cache.path('0' * 32) is None and cache.path(md5) is None
    assert cache.path('../etc/passwd') is None


def test_the_least_recently_used_file_goes_first(cache, tmp_path):
    names = []
    for index in range(2):
        source, md5 = spool(tmp_path, b'file %d' % index, 'spool%d' % index)
        cache.adopt(source, md5, md5)
        names.append(md5)
    assert cache.path(names[0])                # the first is now the most recent
    source, md5 = spool(tmp_path, b'file 2', 'spool2')
    cache.adopt(source, md5, md5)
    assert cache.path(names[0]) and cache.path(md5)
    assert cache.path(names[1]) is None        # evicted


def test_files_from_before_a_restart_go_before_those_used_since(tmp_path):
    directory = tmp_path / 'cache'
    first = EtagCache(str(directory), max_entries=2)
    old = []
    for index in range(2):
        source, md5 = spool(tmp_path, b'old %d' % index, 'old%d' % index)
        first.adopt(source, md5, md5)
        old.append(md5)
    later = EtagCache(str(directory), max_entries=2)   # a new process: no uses known
    assert later.path(old[1])
    source, md5 = spool(tmp_path, b'new', 'new')
    later.adopt(source, md5, md5)
    assert later.path(old[0]) is None and later.path(old[1]) and later.path(md5)
