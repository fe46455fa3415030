"""Keep heavy libraries, and slow work, out of the processes that fork sessions.

Fork and clone cost grows with the parent's memory: a supervisor that imported capstone and
pyelftools (~28 MB resident) forks in ~5 ms, a lean one in ~1 ms.  So the session-forking
processes never import them: seccomp filters are compiled, and unknown executables
validated, in a short-lived forked child (:class:`ChildCall`) that returns plain data
through a pipe.  The parent never has to wait for it: :meth:`ChildCall.poll` reads what is
there (an event loop watches :meth:`ChildCall.fileno`), :meth:`ChildCall.wait` blocks
(:func:`run_in_child`).  The child keeps only its result pipe and the descriptors it was
given (it closes every other one at once: a copy of another session's pipe or socket would
keep that session's peer from seeing end-of-file), is named :data:`CHILD_NAME`, and dies
with its parent.

:class:`OffloadedVerdicts` is the verdict cache those processes keep: SHA-256 -> verdict,
validating only cache misses (in a child).  A miss gives the fresh verdict (0 or 1), a
hit on a valid executable gives 2 (not checked this time), a rejected one stays 1.
:meth:`OffloadedVerdicts.check_file` never blocks: an executable file it does not know is
read, hashed, looked up and (on a miss) validated in a child, and sessions asking for the
same file meanwhile share that child (:class:`PendingVerdict`).
"""
import collections
import hashlib
import os
import pickle
import signal
import time

from zerocloud import limits
from zerocloud import report as rpt
from zerocloud.sandbox import linux

MAX_EXECUTABLE_BYTES = limits.DEFAULT_MAX_EXECUTABLE_BYTES
DEFAULT_CACHE_ENTRIES = 1024
CHILD_NAME = 'zc-offload'
VALIDATION_SECONDS = 60.0    # a validation child still busy after this is killed (the
#                              scan itself is bounded to ~8 s: see insn_scan)

Verdict = collections.namedtuple('Verdict', 'state reasons warnings sha256')
NOT_CHECKED = Verdict(rpt.VALIDATION_NOT_CHECKED, (), (), '')


class OffloadError(RuntimeError):
    """The child computing a result failed."""


class ChildCall:
    """``function(*args)`` computed in a forked child; its picklable result read back
    without blocking (see the module docstring).  ``keep_fds``: descriptors the child
    needs besides its result pipe (every other one is closed in the child)."""

    def __init__(self, function, *args, keep_fds=()):
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - runs in the child
            _child(function, args, write_end, keep_fds)
        os.close(write_end)
        os.set_blocking(read_end, False)
        self.fd = read_end
        self.data = bytearray()
        self.done = False
        self._outcome = None

    def fileno(self):
        """The result pipe (readable when :meth:`poll` has something to read); -1 once done."""
        return -1 if self.done else self.fd

    def poll(self):
        """Read what the child wrote; True once the result is complete (see :meth:`result`)."""
        while not self.done:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return False
            if chunk:
                self.data += chunk
                continue
            self._end()
            self._outcome = _decode(bytes(self.data))
        return True

    def wait(self):
        """Block until the child is done; its result (see :meth:`result`)."""
        os.set_blocking(self.fd, True)
        self.poll()
        return self.result()

    def result(self):
        """The function's value; raises :class:`OffloadError` if it failed (or the child
        died, or was cancelled)."""
        ok, value = self._outcome
        if not ok:
            raise OffloadError(value)
        return value

    def cancel(self, reason='cancelled'):
        """Kill the child (if still running) and reap it; :meth:`result` raises ``reason``."""
        if not self.done:
            os.kill(self.pid, signal.SIGKILL)
            self._end()
            self._outcome = (False, reason)

    def _end(self):
        self.done = True
        os.close(self.fd)
        os.waitpid(self.pid, 0)     # it exits right after closing its end: no real wait


def _child(function, args, write_end, keep_fds):  # pragma: no cover - runs in the child
    try:
        sys = linux.Syscalls()
        sys.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        sys.set_name(CHILD_NAME)
        keep = sorted({write_end, *keep_fds})
        for low, high in zip([3] + [fd + 1 for fd in keep], keep + [None]):
            if high is None:
                sys.close_range(low)
            elif low < high:
                sys.close_range(low, high - 1)
        try:
            payload = pickle.dumps((True, function(*args)))
        except BaseException as exc:
            payload = pickle.dumps((False, '%s: %s' % (type(exc).__name__, exc)))
        with open(write_end, 'wb') as out:
            out.write(payload)
    finally:
        os._exit(0)


def _decode(payload):
    if not payload:
        return False, 'the helper process died'
    try:
        return pickle.loads(payload)
    except Exception as exc:  # noqa: BLE001 - a torn result is a failed call
        return False, 'unreadable result from the helper process: %s' % exc


def run_in_child(function, *args):
    """Return ``function(*args)`` computed in a forked child (result must be picklable)."""
    return ChildCall(function, *args).wait()


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


def _too_large(max_size_bytes):
    return Verdict(rpt.VALIDATION_REJECTED, ('executable larger than %d bytes'
                                             % max_size_bytes,), (), '')


class PendingVerdict:
    """A validation running in a child for one executable file, shared by every session
    that asks for that file meanwhile (:meth:`OffloadedVerdicts.check_file`).

    An event loop watches :meth:`fileno` and calls :meth:`poll`; :attr:`deadline` is when
    it gives up (:meth:`cancel`).  Each session that waits holds one reference and gives it
    back with :meth:`release` if it stops waiting: the last one out kills the child.
    """

    def __init__(self, verdicts, identity, call):
        self._verdicts = verdicts
        self._identity = identity
        self._call = call
        self.deadline = time.monotonic() + VALIDATION_SECONDS
        self.waiters = 0
        self._verdict = None

    def fileno(self):
        return self._call.fileno()

    def poll(self):
        """The verdict once the child is done, else None.

        :raises OffloadError: the child failed, died or was cancelled (nothing is cached).
        """
        if self._verdict is None and self._call.poll():
            self._verdicts._forget_pending(self._identity, self)
            verdict, cached = self._call.result()
            self._verdict = self._verdicts._learn(verdict, self._identity, cached)
        return self._verdict

    def wait(self):
        """Block until the verdict is there (the synchronous path, ``run_local``)."""
        if self._verdict is None:
            self._call.wait()
        return self.poll()

    def cancel(self, reason):
        """Stop the child: every waiter's :meth:`poll` raises OffloadError(``reason``)."""
        self._verdicts._forget_pending(self._identity, self)
        self._call.cancel(reason)

    def validated(self, st):
        """True when ``st`` (an ``os.stat_result``) is still the file this validation is
        for (a write since changes its size, mtime or ctime)."""
        return self._verdicts._identity(st) == self._identity

    def release(self):
        """One waiter stopped waiting (its session ended); the last one cancels the child."""
        self.waiters -= 1
        if self.waiters <= 0 and self._verdict is None:
            self.cancel('nobody waits for this validation')


def _read_at_most(fd, size):
    """Up to ``size`` bytes of the file at ``fd`` from its start (``pread``: the offset
    the fd shares with its owner stays where it is)."""
    chunks, offset = [], 0
    while offset < size:
        chunk = os.pread(fd, min(size - offset, 1 << 24), offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b''.join(chunks)


class OffloadedVerdicts:
    """A bounded LRU verdict cache that validates misses in a forked child."""

    def __init__(self, max_entries=DEFAULT_CACHE_ENTRIES):
        self._entries = collections.OrderedDict()
        self._files = collections.OrderedDict()     # file identity -> sha256
        self._pending = {}                          # file identity -> PendingVerdict
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

    def check_file(self, fd, max_size_bytes=MAX_EXECUTABLE_BYTES):
        """The verdict for the executable file open at ``fd``, without blocking: a
        :data:`Verdict` when it is known (:meth:`known_file`) or too large, else a
        :class:`PendingVerdict` (shared with any other session waiting for the same file;
        the caller holds one reference: :meth:`PendingVerdict.release`)."""
        st = os.fstat(fd)
        known = self.known_file(st)
        if known is not None:
            return known
        if st.st_size > max_size_bytes:
            return _too_large(max_size_bytes)
        identity = self._identity(st)
        pending = self._pending.get(identity)
        if pending is None:
            call = ChildCall(self._validate_file, fd, max_size_bytes, keep_fds=(fd,))
            pending = self._pending[identity] = PendingVerdict(self, identity, call)
        pending.waiters += 1
        return pending

    def _validate_file(self, fd, max_size_bytes):
        """Child side: ``(verdict, found in the cache)`` for the file at ``fd``: read from
        its start, hashed, looked up in (this child's copy of) the cache, else validated."""
        data = _read_at_most(fd, max_size_bytes + 1)
        if len(data) > max_size_bytes:
            return _too_large(max_size_bytes), False
        cached = self._entries.get(hashlib.sha256(data).hexdigest())
        if cached is not None:
            return cached, True
        return validate_executable(data, max_size_bytes), False

    def _learn(self, verdict, identity, cached):
        """Record a verdict computed (or found) in a child; the verdict to give callers."""
        if verdict.sha256:
            self._entries[verdict.sha256] = verdict
            self._entries.move_to_end(verdict.sha256)
            self._remember_file(identity, verdict.sha256)
            self._trim()
        if cached and verdict.state == rpt.VALIDATION_VALID:
            return verdict._replace(state=rpt.VALIDATION_NOT_CHECKED)
        return verdict

    def _forget_pending(self, identity, pending):
        if self._pending.get(identity) is pending:
            del self._pending[identity]

    def check(self, data, max_size_bytes=MAX_EXECUTABLE_BYTES, file_stat=None):
        """The verdict for the executable bytes ``data`` (see the module docstring), waiting
        for the child on a miss; ``file_stat`` (the file's stat) lets :meth:`known_file`
        answer next time."""
        verdict = self._check(data, max_size_bytes)
        if file_stat is not None and verdict.sha256:
            self._remember_file(self._identity(file_stat), verdict.sha256)
        return verdict

    def _remember_file(self, identity, sha256):
        self._files[identity] = sha256
        self._files.move_to_end(identity)
        while len(self._files) > self._max_entries:
            self._files.popitem(last=False)

    def _trim(self):
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def _check(self, data, max_size_bytes):
        if len(data) > max_size_bytes:
            return _too_large(max_size_bytes)
        sha256 = hashlib.sha256(data).hexdigest()
        cached = self._entries.get(sha256)
        if cached is None:
            verdict = run_in_child(validate_executable, data, max_size_bytes)
            self._entries[sha256] = verdict
            self._trim()
            return verdict
        self._entries.move_to_end(sha256)
        if cached.state == rpt.VALIDATION_VALID:
            return cached._replace(state=rpt.VALIDATION_NOT_CHECKED)
        return cached
