"""Keep heavy libraries out of the processes that fork sessions.

Fork and clone cost grows with the parent's memory: a supervisor that imported capstone and
pyelftools (~28 MB resident) forks in ~5 ms, a lean one in ~1 ms.  So the session-forking
processes never import them: seccomp filters are compiled, and unknown executables
validated, in a short-lived forked child (:func:`run_in_child`) that returns plain data.

:class:`OffloadedVerdicts` is the verdict cache those processes keep: SHA-256 -> verdict,
validating only cache misses (in a child).  A miss gives the fresh verdict (0 or 1), a
hit on a valid executable gives 2 (not checked this time), a rejected one stays 1.
"""
import collections
import hashlib
import os
import pickle

from zerocloud import limits
from zerocloud import report as rpt

MAX_EXECUTABLE_BYTES = limits.DEFAULT_MAX_EXECUTABLE_BYTES
DEFAULT_CACHE_ENTRIES = 1024

Verdict = collections.namedtuple('Verdict', 'state reasons warnings sha256')
NOT_CHECKED = Verdict(rpt.VALIDATION_NOT_CHECKED, (), (), '')


class OffloadError(RuntimeError):
    """The child computing a result failed."""


def run_in_child(function, *args):
    """Return ``function(*args)`` computed in a forked child (result must be picklable)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.close(read_end)
            try:
                payload = pickle.dumps((True, function(*args)))
            except BaseException as exc:
                payload = pickle.dumps((False, '%s: %s' % (type(exc).__name__, exc)))
            with open(write_end, 'wb') as out:
                out.write(payload)
        finally:
            os._exit(0)
    os.close(write_end)
    with open(read_end, 'rb') as source:
        payload = source.read()
    os.waitpid(pid, 0)
    if not payload:
        raise OffloadError('the helper process died')
    ok, value = pickle.loads(payload)
    if not ok:
        raise OffloadError(value)
    return value


def compile_policies():
    """Child side: ``{policy name: BPF bytes}``."""
    from zerocloud.sandbox import seccomp_policy
    return seccomp_policy.compile_all()


def validate_executable(data, max_size_bytes):
    """Child side: the validator's verdict as a :data:`Verdict` tuple."""
    from zerocloud.sandbox import validate
    verdict = validate.validate_bytes(data, max_size_bytes)
    return Verdict(verdict.state, tuple(verdict.reasons), tuple(verdict.warnings),
                   verdict.sha256)


class OffloadedVerdicts:
    """A bounded LRU verdict cache that validates misses in a forked child."""

    def __init__(self, max_entries=DEFAULT_CACHE_ENTRIES):
        self._entries = collections.OrderedDict()
        self._files = collections.OrderedDict()     # file identity -> sha256
        self._max_entries = max_entries

    @staticmethod
    def _identity(st):
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def known_file(self, st):
        """The cached verdict of an unchanged file (same inode, size, mtime and ctime, so
        any write since would show), without reading or hashing it; else None."""
        sha256 = self._files.get(self._identity(st))
        cached = self._entries.get(sha256) if sha256 else None
        if cached is None:
            return None
        return cached._replace(state=rpt.VALIDATION_NOT_CHECKED) \
            if cached.state == rpt.VALIDATION_VALID else cached

    def check(self, data, max_size_bytes=MAX_EXECUTABLE_BYTES, file_stat=None):
        """The verdict for the executable bytes ``data`` (see the module docstring);
        ``file_stat`` (the file's stat) lets :meth:`known_file` answer next time."""
        verdict = self._check(data, max_size_bytes)
        if file_stat is not None and verdict.sha256:
            self._files[self._identity(file_stat)] = verdict.sha256
            while len(self._files) > self._max_entries:
                self._files.popitem(last=False)
        return verdict

    def _check(self, data, max_size_bytes):
        if len(data) > max_size_bytes:
            return Verdict(rpt.VALIDATION_REJECTED, ('executable larger than %d bytes'
                                                     % max_size_bytes,), (), '')
        sha256 = hashlib.sha256(data).hexdigest()
        cached = self._entries.get(sha256)
        if cached is None:
            verdict = run_in_child(validate_executable, data, max_size_bytes)
            self._entries[sha256] = verdict
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
            return verdict
        self._entries.move_to_end(sha256)
        if cached.state == rpt.VALIDATION_VALID:
            return cached._replace(state=rpt.VALIDATION_NOT_CHECKED)
        return cached
