"""A per-server cache of executables by ETag, so repeated runs do not transfer them again."""
import hashlib
import os
import re

_ETAG = re.compile(r'^[0-9a-f]{32}$')


class ExecutableCache:
    """Executables stored as ``<dir>/<etag>`` (MD5 of the bytes, as Swift's ETag).

    Holds at most ``max_entries`` files; the least recently used are removed first.
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

    def store(self, data, etag=None):
        """Store ``data`` and return its path; ``etag``, when given, must match its MD5.

        :raises ValueError: when the bytes do not match the announced ETag.
        """
        actual = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if etag and etag.strip('"') != actual:
            raise ValueError('executable bytes do not match ETag %s' % etag)
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        path = os.path.join(self.directory, actual)
        temporary = '%s.%d.tmp' % (path, os.getpid())
        with open(temporary, 'wb') as handle:
            handle.write(data)
        os.chmod(temporary, 0o555)  # world-executable: the sandbox runs it without a copy
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
