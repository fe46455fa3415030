"""Per-server caches of files by ETag (executables, remote inputs), so that repeated runs do
not transfer them again."""
import os
import re

_ETAG = re.compile(r'^[0-9a-f]{32}$')


class EtagCache:
    """Files stored as ``<dir>/<etag>`` (the MD5 of their bytes, as Swift's ETag).

    Holds at most ``max_entries`` files; the least recently used are removed first.  Files
    are world-readable, executables also world-executable (the sandbox runs them directly).
    """

    def __init__(self, directory, max_entries):
        self.directory = directory
        self.max_entries = max_entries

    def path(self, etag):
        """Return the cached file for ``etag``, or ``None`` when it is not cached."""
        if not etag or not _ETAG.match(etag):
            return None
        path = os.path.join(self.directory, etag)
        try:
            os.utime(path)
        except FileNotFoundError:
            return None
        return path

    def adopt(self, source_path, etag, actual_md5, mode=0o444):
        """Hard-link an existing file (a spool whose MD5 the caller computed while writing
        it) into the cache under ``etag`` and return its path; ``mode`` 0o555 for
        executables (the sandbox runs a world-executable file without a copy).

        :raises ValueError: when ``actual_md5`` does not match ``etag``.
        """
        _check(etag, actual_md5)
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        path = os.path.join(self.directory, actual_md5)
        temporary = '%s.%d.tmp' % (path, os.getpid())
        os.link(source_path, temporary)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
        self._evict()
        return path

    def _evict(self):
        entries = [os.path.join(self.directory, name) for name in os.listdir(self.directory)
                   if _ETAG.match(name)]
        if len(entries) <= self.max_entries:
            return
        entries.sort(key=lambda entry: os.stat(entry).st_mtime)
        for entry in entries[:len(entries) - self.max_entries]:
            try:
                os.unlink(entry)
            except FileNotFoundError:
                pass


def _check(etag, actual):
    if etag and etag.strip('"') != actual:
        raise ValueError('bytes do not match ETag %s' % etag)
