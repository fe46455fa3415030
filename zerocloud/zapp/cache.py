"""The image cache of an object server: zapps unpacked once per ETag, shared read-only.

    cache = ImageCache('/srv/node/zerocloud/images', max_bytes=4 << 30,
                       run_blocking=green.run_in_thread)
    with cache.get_or_unpack(etag, spooled_tar_path) as image:
        ...image.path...            # the read-only tree, the session's ``image`` device

Layout of ``root`` (all of it on disk, so the cache survives restarts and is shared by the
object server's worker processes)::

    <key>/tree/     the unpacked image (read-only: files 0o444/0o555, directories 0o555)
    <key>/size      "<bytes> <members>" of the tree
    <key>/lock      flock: shared while a session uses the image, exclusive to evict it;
                    its mtime is the last use (LRU order)
    .tmp-<pid>-*    an unpack in progress; renamed to <key> when complete (the rename is
                    the completion marker: a <key> directory is always whole)
    .trash-<pid>-*  an evicted image being removed
    .locks/         one lock file per key (serialises unpacks of one ETag across
                    processes) and ``.cache`` (serialises making room)

At start, the ``.tmp-*`` and ``.trash-*`` directories of dead processes are removed.
``<key>`` is the ETag without quotes (``[A-Za-z0-9_-]``, at most 128 characters: an MD5).

Concurrency: requests for one ETag in one process wait for a single unpack (its error, if
any, is theirs too); across processes the per-key lock makes the second one find the
first one's result.  The unpack and every eviction run through ``run_blocking`` (the
object server passes :func:`zerocloud.green.run_in_thread`, a real OS thread: the event
loop keeps serving); the default runs them in the calling thread.  An image in use (a
lease not released, in any process) is never evicted.

Bound: the unpacked bytes of regular files of all images stay at most ``max_bytes``.  A
new image evicts the least recently used images not in use until it fits; if the images
in use leave no room, :class:`~zerocloud.zapp.errors.CacheFull` (503).  One image is bound
by ``limits`` (:class:`~zerocloud.zapp.unpack.UnpackLimits`) and by ``max_bytes``.
"""
import dataclasses
import errno
import fcntl
import os
import re
import threading
import uuid

from zerocloud.zapp.errors import CacheFull
from zerocloud.zapp.unpack import UnpackLimits, remove_tree, unpack

KEY = re.compile(r'[A-Za-z0-9_-]{1,128}\Z')
TREE, SIZE, LOCK = 'tree', 'size', 'lock'
LOCKS = '.locks'
CACHE_LOCK = '.cache'
TEMPORARY, TRASH = '.tmp-', '.trash-'
ATTEMPTS = 3


def cache_key(etag):
    """The directory name of an ETag.  :raises ValueError: an ETag unfit for a name."""
    key = (etag or '').strip().strip('"')
    if not KEY.match(key):
        raise ValueError('image ETag %r: expected [A-Za-z0-9_-], at most 128 characters'
                         % (etag,))
    return key


def _call(function, *args):
    return function(*args)


@dataclasses.dataclass(frozen=True)
class Entry:
    """A complete image on disk: its key, bytes and last use (a timestamp)."""
    key: str
    bytes: int
    last_used: float


class ImageLease:
    """One use of a cached image: ``path`` (the read-only tree), ``etag``, ``bytes``.

    While not released the image is not evicted.  Release it (:meth:`release`, or use the
    lease as a context manager) when the session is over; releasing twice is harmless.
    """

    def __init__(self, key, path, size, lock_fd):
        self.etag = key
        self.path = path
        self.bytes = size
        self._lock_fd = lock_fd

    def release(self):
        """End this use (the image's last use becomes now)."""
        if self._lock_fd is not None:
            try:
                os.utime(self._lock_fd)
            finally:
                os.close(self._lock_fd)
                self._lock_fd = None

    #: the same as :meth:`release` (a lease closes with a session's files)
    close = release

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.release()


class _Pending:
    """An unpack under way in this process, for the requests that wait for it."""

    def __init__(self):
        self.done = threading.Event()
        self.error = None


class ImageCache:
    """Images unpacked once per ETag under ``root`` (see the module docstring).

    :param max_bytes: the bound of the whole cache (bytes of unpacked files).
    :param limits: bounds of one unpack (:class:`UnpackLimits`); its ``max_bytes`` is
        lowered to the cache's.
    :param run_blocking: ``run_blocking(function, *args)`` runs disk-heavy work and
        returns its result (default: in the calling thread).
    """

    def __init__(self, root, max_bytes, limits=UnpackLimits(), run_blocking=_call):
        if max_bytes <= 0:
            raise ValueError('image cache max_bytes must be positive, not %r' % max_bytes)
        self.root = root
        self.max_bytes = max_bytes
        self.limits = dataclasses.replace(limits, max_bytes=min(limits.max_bytes, max_bytes))
        self._run_blocking = run_blocking
        self._pending = {}
        self._pending_lock = threading.Lock()
        os.makedirs(os.path.join(root, LOCKS), mode=0o700, exist_ok=True)
        self._remove_stale()

    def lookup(self, etag):
        """An :class:`ImageLease` of the cached image, or None when it is not cached."""
        return self._acquire(cache_key(etag))

    def get_or_unpack(self, etag, tar_path):
        """An :class:`ImageLease` of the image of ``etag``, unpacked from ``tar_path`` (a
        tar or gzip tar file whose MD5 is ``etag``) unless it is cached.

        :raises ZappError: the tar is unsafe, corrupt or too large; the cache is full (503).
        :raises ValueError: an ETag unfit for a name.
        """
        key = cache_key(etag)
        for _attempt in range(ATTEMPTS):
            lease = self._acquire(key)
            if lease is not None:
                return lease
            self._unpack_once(key, tar_path)
        raise CacheFull('image %s was evicted as soon as it was unpacked: the image cache '
                        '(%d bytes) is too busy' % (key, self.max_bytes))

    def entries(self):
        """Every complete image, least recently used first (a list of :class:`Entry`)."""
        found = []
        for key in os.listdir(self.root):
            if KEY.match(key):
                try:
                    size = _read_size(os.path.join(self.root, key))
                    last_used = os.stat(os.path.join(self.root, key, LOCK)).st_mtime
                except (FileNotFoundError, ValueError):
                    continue    # being evicted, or not an image
                found.append(Entry(key, size, last_used))
        return sorted(found, key=lambda entry: (entry.last_used, entry.key))

    def total_bytes(self):
        """Bytes of all complete images."""
        return sum(entry.bytes for entry in self.entries())

    # -- in the calling thread -------------------------------------------------------------
    def _acquire(self, key):
        directory = os.path.join(self.root, key)
        lock_path = os.path.join(directory, LOCK)
        try:
            fd = os.open(lock_path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)   # fails while being evicted
            if os.stat(lock_path).st_ino != os.fstat(fd).st_ino:
                raise FileNotFoundError(lock_path)           # evicted meanwhile
            os.utime(fd)
            return ImageLease(key, os.path.join(directory, TREE), _read_size(directory), fd)
        except (BlockingIOError, FileNotFoundError):
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise

    def _unpack_once(self, key, tar_path):
        """Unpack (through ``run_blocking``) unless this process already does; either way
        return when that unpack is over, raising its error."""
        with self._pending_lock:
            pending = self._pending.get(key)
            mine = pending is None
            if mine:
                pending = self._pending[key] = _Pending()
        if not mine:
            pending.done.wait()
            if pending.error is not None:
                raise pending.error
            return
        try:
            self._run_blocking(self._unpack_and_commit, key, tar_path)
        except BaseException as err:
            pending.error = err
            raise
        finally:
            with self._pending_lock:
                del self._pending[key]
            pending.done.set()

    # -- in the worker thread: files and flock only -----------------------------------------
    def _unpack_and_commit(self, key, tar_path):
        final = os.path.join(self.root, key)
        with _flock(os.path.join(self.root, LOCKS, key)):
            if os.path.exists(os.path.join(final, LOCK)):
                return      # another process unpacked it meanwhile
            work = self._private_name(TEMPORARY)
            os.mkdir(work, 0o700)
            try:
                result = unpack(tar_path, os.path.join(work, TREE), self.limits)
                with open(os.path.join(work, SIZE), 'w') as handle:
                    handle.write('%d %d\n' % (result.bytes, result.members))
                os.close(os.open(os.path.join(work, LOCK), os.O_CREAT | os.O_WRONLY, 0o600))
                trash = self._commit(work, final, result.bytes)
            except BaseException:
                remove_tree(work)
                raise
        for path in trash:
            remove_tree(path)

    def _commit(self, work, final, size):
        """Make room for ``size`` bytes and rename ``work`` to ``final``; return the evicted
        directories (renamed to trash, to be removed outside the lock)."""
        with _flock(os.path.join(self.root, LOCKS, CACHE_LOCK)):
            trash = self._make_room(size)
            os.rename(work, final)
        return trash

    def _make_room(self, size):
        entries = self.entries()
        total = sum(entry.bytes for entry in entries)
        trash = []
        for entry in entries:
            if total + size <= self.max_bytes:
                break
            evicted = self._evict(entry.key)
            if evicted is not None:
                trash.append(evicted)
                total -= entry.bytes
        if total + size > self.max_bytes:
            raise CacheFull('no room in the image cache (%d bytes) for an image of %d bytes: '
                            '%d bytes are in use' % (self.max_bytes, size, total))
        return trash

    def _evict(self, key):
        """Rename an image that nobody uses to trash; its new path, or None if in use."""
        directory = os.path.join(self.root, key)
        try:
            fd = os.open(os.path.join(directory, LOCK), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        else:
            trash = self._private_name(TRASH)
            os.rename(directory, trash)
            return trash
        finally:
            os.close(fd)

    def _private_name(self, prefix):
        return os.path.join(self.root, '%s%d-%s' % (prefix, os.getpid(), uuid.uuid4().hex))

    def _remove_stale(self):
        """Remove the unpacks and evictions left by processes that died."""
        for name in os.listdir(self.root):
            if name.startswith((TEMPORARY, TRASH)):
                pid = name.split('-')[1]
                if pid.isdigit() and not _alive(int(pid)):
                    remove_tree(os.path.join(self.root, name))


class _flock:
    """An exclusive ``flock`` on ``path`` (created if needed) for a ``with`` block."""

    def __init__(self, path):
        self.path = path
        self.fd = None

    def __enter__(self):
        self.fd = os.open(self.path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc_info):
        os.close(self.fd)


def _read_size(directory):
    with open(os.path.join(directory, SIZE)) as handle:
        return int(handle.read().split()[0])


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError as err:
        return err.errno == errno.EPERM
    return True
