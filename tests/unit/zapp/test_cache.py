"""The image cache (issue 12): one unpack per ETag, leases, LRU within a bound, restarts."""
import os
import stat
import subprocess
import sys
import textwrap
import threading

import pytest

from tests.unit.zapp.tars import regular, write, zapp_bytes
from zerocloud import green
from zerocloud.zapp import CacheFull, CorruptTar, ImageCache, UnpackLimits, cache
from zerocloud.zapp.unpack import unpack as real_unpack

KIB = 1024


@pytest.fixture
def images(tmp_path):
    """images(name, size) -> path of a zapp whose files hold about ``size`` bytes."""
    def make(name, size=10 * KIB):
        return write(tmp_path / (name + '.zapp'),
                     zapp_bytes(regular('data', os.urandom(size)), compress=True))
    return make


@pytest.fixture
def unpacks(monkeypatch):
    """The etag-less list of tar paths the cache unpacked (the real unpack still runs)."""
    calls = []

    def counting(tar_path, target, limits):
        calls.append(tar_path)
        return real_unpack(tar_path, target, limits)
    monkeypatch.setattr(cache, 'unpack', counting)
    return calls


def test_miss_unpacks_then_hit_does_not(tmp_path, images, unpacks):
    images_cache = ImageCache(str(tmp_path / 'cache'), max_bytes=1 << 20)
    tar = images('a')
    with images_cache.get_or_unpack('"aaaa"', tar) as first:
        assert open(os.path.join(first.path, 'boot', 'system.map'), 'rb').read()
        assert first.etag == 'aaaa' and first.bytes > 10 * KIB
        assert stat.S_IMODE(os.stat(first.path).st_mode) == 0o555
    with images_cache.get_or_unpack('aaaa', tar) as second:
        assert second.path == first.path
    assert unpacks == [tar]
    assert images_cache.lookup('aaaa') is not None
    assert images_cache.lookup('bbbb') is None


def test_concurrent_requests_for_one_etag_unpack_once(tmp_path, images, monkeypatch):
    started, release, calls = threading.Event(), threading.Event(), []

    def slow_unpack(tar_path, target, limits):
        calls.append(tar_path)
        started.set()
        assert release.wait(60)
        return real_unpack(tar_path, target, limits)
    monkeypatch.setattr(cache, 'unpack', slow_unpack)
    images_cache = ImageCache(str(tmp_path / 'cache'), max_bytes=1 << 20)
    tar, leases = images('a'), []
    threads = [threading.Thread(target=lambda: leases.append(
        images_cache.get_or_unpack('same', tar))) for _ in range(6)]
    threads[0].start()
    assert started.wait(60)
    for thread in threads[1:]:
        thread.start()
    release.set()
    for thread in threads:
        thread.join(60)
    assert len(calls) == 1 and len(leases) == 6
    assert len({lease.path for lease in leases}) == 1


def test_waiters_share_the_error_of_the_one_unpack(tmp_path, monkeypatch):
    started, release, calls, errors = threading.Event(), threading.Event(), [], []

    def failing_unpack(tar_path, target, limits):
        calls.append(tar_path)
        started.set()
        assert release.wait(60)
        return real_unpack(tar_path, target, limits)
    monkeypatch.setattr(cache, 'unpack', failing_unpack)
    images_cache = ImageCache(str(tmp_path / 'cache'), max_bytes=1 << 20)
    bad = write(tmp_path / 'bad.zapp', b'not a tar at all' * 100)

    def request():
        try:
            images_cache.get_or_unpack('bad', bad)
        except CorruptTar as err:
            errors.append(str(err))
    threads = [threading.Thread(target=request) for _ in range(4)]
    threads[0].start()
    assert started.wait(60)
    for thread in threads[1:]:
        thread.start()
    release.set()
    for thread in threads:
        thread.join(60)
    assert len(calls) == 1
    assert len(errors) == 4 and all(e.startswith('corrupt tar') for e in errors)
    assert os.listdir(tmp_path / 'cache') == ['.locks']


def test_lru_eviction_skips_images_in_use_and_keeps_the_bound(tmp_path, images):
    images_cache = ImageCache(str(tmp_path / 'cache'), max_bytes=70 * KIB)
    in_use = images_cache.get_or_unpack('a', images('a', 30 * KIB))        # oldest, held
    images_cache.get_or_unpack('b', images('b', 30 * KIB)).release()
    assert images_cache.total_bytes() <= 70 * KIB
    images_cache.get_or_unpack('c', images('c', 30 * KIB)).release()      # evicts b, not a
    assert [entry.key for entry in images_cache.entries()] == ['a', 'c']
    assert images_cache.total_bytes() <= 70 * KIB
    assert os.path.isdir(in_use.path)
    held_c = images_cache.get_or_unpack('c', images('c', 30 * KIB))
    with pytest.raises(CacheFull) as caught:
        images_cache.get_or_unpack('d', images('d', 30 * KIB))
    assert caught.value.status == 503 and 'in use' in str(caught.value)
    in_use.release()
    in_use.release()        # twice: harmless
    images_cache.get_or_unpack('d', images('d', 30 * KIB)).release()     # now a can go
    assert sorted(entry.key for entry in images_cache.entries()) == ['c', 'd']
    held_c.release()
    assert not [name for name in os.listdir(tmp_path / 'cache') if name.startswith('.t')]


def test_an_image_larger_than_the_cache_is_refused_while_unpacking(tmp_path, images):
    images_cache = ImageCache(str(tmp_path / 'cache'), max_bytes=20 * KIB,
                              limits=UnpackLimits(max_bytes=1 << 30))
    assert images_cache.limits.max_bytes == 20 * KIB
    with pytest.raises(Exception) as caught:
        images_cache.get_or_unpack('big', images('big', 30 * KIB))
    assert caught.value.status == 413 and 'bound of 20480 bytes' in str(caught.value)
    assert images_cache.entries() == []


def test_cache_survives_restart_and_removes_dead_processes_leftovers(tmp_path, images,
                                                                     unpacks):
    root = str(tmp_path / 'cache')
    ImageCache(root, max_bytes=1 << 20).get_or_unpack('kept', images('k')).release()
    dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'],
                          capture_output=True, text=True, check=True).stdout.strip()
    for name in ('.tmp-%s-x' % dead, '.trash-%s-y' % dead, '.tmp-%d-mine' % os.getpid()):
        os.makedirs(os.path.join(root, name, 'tree'))
        os.chmod(os.path.join(root, name, 'tree'), 0o555)
    restarted = ImageCache(root, max_bytes=1 << 20)
    assert sorted(os.listdir(root)) == ['.locks', '.tmp-%d-mine' % os.getpid(), 'kept']
    restarted.get_or_unpack('kept', '/nonexistent.tar').release()
    assert len(unpacks) == 1


def test_a_lease_held_by_another_process_blocks_eviction(tmp_path, images):
    root = str(tmp_path / 'cache')
    ImageCache(root, max_bytes=40 * KIB).get_or_unpack('a', images('a', 30 * KIB)).release()
    holder = subprocess.Popen([sys.executable, '-c', textwrap.dedent('''
        import sys
        from zerocloud.zapp import ImageCache
        lease = ImageCache(sys.argv[1], max_bytes=40 * 1024).lookup('a')
        print(lease is not None, flush=True)
        sys.stdin.read()
    '''), root], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'True'
        with pytest.raises(CacheFull):
            ImageCache(root, max_bytes=40 * KIB).get_or_unpack('b', images('b', 30 * KIB))
    finally:
        holder.communicate('')
    ImageCache(root, max_bytes=40 * KIB).get_or_unpack('b', images('b', 30 * KIB)).release()
    assert [entry.key for entry in ImageCache(root, max_bytes=40 * KIB).entries()] == ['b']


def test_unpacking_in_a_real_thread_leaves_the_event_loop_running(tmp_path, images,
                                                                  monkeypatch):
    import eventlet.patcher
    real_threading = eventlet.patcher.original('threading')
    loop_ran = real_threading.Event()

    def unpack_waiting_for_the_loop(tar_path, target, limits):
        assert loop_ran.wait(60), 'the event loop was blocked during the unpack'
        return real_unpack(tar_path, target, limits)
    monkeypatch.setattr(cache, 'unpack', unpack_waiting_for_the_loop)
    images_cache = ImageCache(str(tmp_path / 'cache'), max_bytes=1 << 20,
                              run_blocking=green.run_in_thread)
    tar = images('a')
    requester = green.spawn(images_cache.get_or_unpack, 'a', tar)
    green.spawn(loop_ran.set)       # runs only if the hub is not blocked by the unpack
    lease = requester.wait()
    assert os.path.isdir(lease.path)
    lease.release()


def test_bad_etags_and_bounds_are_refused(tmp_path):
    images_cache = ImageCache(str(tmp_path / 'cache'), max_bytes=1)
    for etag in ('', '../x', 'a/b', 'x' * 129, None):
        with pytest.raises(ValueError):
            images_cache.lookup(etag)
    with pytest.raises(ValueError, match='max_bytes'):
        ImageCache(str(tmp_path / 'other'), max_bytes=0)
