"""Spool files: a session's outputs on disk while the job's verdict is pending.

Outputs are published (or sent to the client) only once every session of the job has
succeeded, so they wait; they wait in unlinked temporary files (the system's temporary
directory, ``TMPDIR``), never in memory (DESIGN decision 10).  Each spool counts its bytes
against the proxy's ``zerovm_maxoutput``; every spool of a job is closed together.
"""
import hashlib
import tempfile

CHUNK_BYTES = 65536


class OutputTooLarge(Exception):
    """A session wrote more on one channel than ``zerovm_maxoutput`` allows."""


class SpoolFailed(Exception):
    """The proxy could not keep an output (its temporary directory is full...)."""


class Spool:
    """One output channel's bytes (``label`` names it in errors: ``map-1: stdout``)."""

    def __init__(self, label, max_bytes):
        self.label = label
        self.max_bytes = max_bytes
        self.size = 0
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._file = tempfile.TemporaryFile(prefix='zerocloud-spool-')

    def write(self, chunk):
        """Append ``chunk``.

        :raises OutputTooLarge: when the channel would exceed ``max_bytes``.
        """
        if self.size + len(chunk) > self.max_bytes:
            raise OutputTooLarge('%s: more than %d bytes (zerovm_maxoutput)'
                                 % (self.label, self.max_bytes))
        try:
            self._file.write(chunk)
        except OSError as err:
            raise SpoolFailed('%s: cannot spool on the proxy (%s): %s'
                              % (self.label, tempfile.gettempdir(), err.strerror or err))
        self._md5.update(chunk)
        self.size += len(chunk)

    def digest(self):
        """MD5 of the bytes so far (replicas are compared by size and digest)."""
        return self._md5.hexdigest()

    def reader(self, start=0):
        """The file, positioned at byte ``start`` for reading (for a streamed PUT)."""
        self._file.flush()
        self._file.seek(start)
        return self._file

    def chunks(self, start=0):
        """Yield the spooled bytes from byte ``start`` on, in 64 KiB pieces."""
        handle = self.reader(start)
        while True:
            chunk = handle.read(CHUNK_BYTES)
            if not chunk:
                return
            yield chunk

    def close(self):
        self._file.close()


class Spools:
    """Every spool of one job, closed together (:meth:`close` is idempotent)."""

    def __init__(self, max_bytes):
        self.max_bytes = max_bytes
        self._spools = []

    def new(self, label):
        spool = Spool(label, self.max_bytes)
        self._spools.append(spool)
        return spool

    def close(self):
        spools, self._spools = self._spools, []
        for spool in spools:
            spool.close()
