"""Per-server caches of files by ETag (executables, remote inputs), so that repeated runs do
not transfer them again."""
import os
import re

_ETAG = re.compile(r'^[0-9a-f]{32}$')


class EtagCache:
    """Files stored as ``<dir>/<etag>`` (the MD5 of their bytes, as Swift's ETag).

    Holds at most ``max_entries`` files; the least recently used are removed first.  Files
    are world-readable, executables also world-executable (the sandbox runs them directly).

    A cached file is never touched once stored: not re-linked when the same bytes arrive
    again, not ``utime``d when used (the order of use is kept in this process's memory;
    files it has not used since it started go first, oldest first).  Its identity (inode,
    size, mtime, ctime) stays what the sandbox's validation saw, so its verdict is found
    in the supervisor's cache without a validation child, and a session validating it is
    never told that it "changed while it was validated" because another job used or
    re-sent it meanwhile (each did before: every job paid a validation child, and
    concurrent first jobs of one executable could fail).
    """

    def __init__(self, directory, max_entries):
        self.directory = directory
        self.max_entries = max_entries
        self._uses = 0
        self._last_use = {}   # etag -> the count of uses when it was last used here

    def path(self, etag):
        """Return the cached file for ``etag``, or ``None`` when it is not cached."""
        if not etag or not _ETAG.match(etag):
            return None
        path = os.path.join(self.directory, etag)
        if not os.path.isfile(path):
            return None
        self._used(etag)
        return path

    def adopt(self, source_path, etag, actual_md5, mode=0o444):
        """Hard-link an existing file (a spool whose MD5 the caller computed while writing
        it) into the cache under ``etag`` and return its path; ``mode`` 0o555 for
        executables (the sandbox runs a world-executable file without a copy).  When the
        cache holds those bytes already, that file stays and is returned.

        :raises ValueError: when ``actual_md5`` does not match ``etag``.
        """
        _check(etag, actual_md5)
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        path = os.path.join(self.directory, actual_md5)
        os.chmod(source_path, mode)      # before its name appears: never seen otherwise
        try:
            os.link(source_path, path)
        except FileExistsError:
            pass                         # named by their MD5: the same bytes
        self._used(actual_md5)
        self._evict()
        return path

    def _used(self, etag):
        self._uses += 1
        self._last_use.pop(etag, None)
        self._last_use[etag] = self._uses

    def _evict(self):
        names = [name for name in os.listdir(self.directory) if _ETAG.match(name)]
        for gone in set(self._last_use).difference(names):   # removed by someone else
            del self._last_use[gone]
        if len(names) <= self.max_entries:
            return
        order = {name: (name in self._last_use, self._last_use.get(name, 0),
                        _mtime(os.path.join(self.directory, name))) for name in names}
        names.sort(key=order.__getitem__)
        for name in names[:len(names) - self.max_entries]:
            self._last_use.pop(name, None)
            try:
                os.unlink(os.path.join(self.directory, name))
            except FileNotFoundError:
                pass


def _mtime(path):
    try:
        return os.stat(path).st_mtime
    except FileNotFoundError:
        return 0.0


def _check(etag, actual):
    if etag and etag.strip('"') != actual:
        raise ValueError('bytes do not match ETag %s' % etag)
