"""The object server's work directory: where sessions' files live, and nothing left behind.

Everything a server process writes for sessions (the sandbox supervisor's socket, spooled
executables and inputs, the executable and input caches, outputs before they are sent)
lives in one directory per process, ``<base>/w-<pid>-<random>``, under the base directory
``zerovm_work_dir`` (default ``/var/cache/zerocloud`` when the server may create it, else
``$TMPDIR/zerocloud-<uid>``).  The base is made mode 0700 and must belong to the server's
user; a base owned by someone else, or open to others, is refused (another user could
read users' data or plant files there).

Nothing outlives the process that made it:

* **clean stop or crash** -- each process directory has a janitor: a tiny process in its
  own session that waits for end-of-file on a pipe whose write end only the server
  process (and the sandbox supervisor it forks) hold, then removes the directory.  Swift
  stops its workers with SIGTERM's default action (no ``atexit``), and ``kill -9`` runs
  nothing at all: the kernel closing the pipe is what every way of dying has in common;
* **a crash of the whole machine (or a killed janitor)** -- each process directory holds
  a lock (``flock``) for the life of its process; when a process makes its directory it
  first sweeps the base: directories whose lock can be taken belong to dead processes and
  are removed.

Created on first use, so Swift's parent process (which loads the pipeline once only to
check it) makes none.
"""
import errno
import fcntl
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

DEFAULT_BASE = '/var/cache/zerocloud'
PREFIX = 'w-'
MAKING = '.making-'   # a process directory not locked yet
LOCK_NAME = '.lock'
UNIX_PATH_MAX = 107     # bytes of a unix socket path (sun_path, less its NUL)
#: the longest path below the base: the sandbox supervisor's socket in a process directory
LONGEST_TAIL = '/%s%d-%s/s-%d.sock' % (PREFIX, 4194304, 'f' * 8, 4194304)


class WorkDirError(RuntimeError):
    """The base directory cannot be used safely (its message says why)."""


def default_base():
    """``/var/cache/zerocloud`` when it exists or can be made, else ``$TMPDIR/zerocloud-<uid>``."""
    try:
        os.makedirs(DEFAULT_BASE, mode=0o700, exist_ok=True)
        if os.stat(DEFAULT_BASE).st_uid == os.getuid() and os.access(DEFAULT_BASE, os.W_OK):
            return DEFAULT_BASE
    except OSError:
        pass
    return os.path.join(tempfile.gettempdir(), 'zerocloud-%d' % os.getuid())


def checked_base(base):
    """Create ``base`` (mode 0700) if needed and check it is ours and closed to others.

    :raises WorkDirError: naming the directory and the problem.
    """
    try:
        os.makedirs(base, mode=0o700, exist_ok=True)
        info = os.lstat(base)
    except OSError as exc:
        raise WorkDirError('zerovm_work_dir %s cannot be created: %s' % (base, exc)) from exc
    if not os.path.isdir(base) or os.path.islink(base):
        raise WorkDirError('zerovm_work_dir %s is not a directory' % base)
    if info.st_uid != os.getuid():
        raise WorkDirError('zerovm_work_dir %s belongs to uid %d, not to this server (uid %d)'
                           % (base, info.st_uid, os.getuid()))
    if len(os.fsencode(base)) + len(LONGEST_TAIL) > UNIX_PATH_MAX:
        raise WorkDirError('zerovm_work_dir %s is too long: the sandbox supervisor\'s socket '
                           'below it must fit in %d bytes; use a base of at most %d bytes'
                           % (base, UNIX_PATH_MAX, UNIX_PATH_MAX - len(LONGEST_TAIL)))
    if info.st_mode & 0o077:
        raise WorkDirError('zerovm_work_dir %s is open to other users (mode %o): make it 0700'
                           % (base, info.st_mode & 0o777))
    return base


def sweep(base):
    """Remove the process directories of dead processes (their lock can be taken); return
    the names removed."""
    removed = []
    for name in os.listdir(base):
        path = os.path.join(base, name)
        if not os.path.isdir(path) or not (name.startswith(PREFIX) or (
                name.startswith(MAKING) and time.time() - os.stat(path).st_mtime > 60)):
            continue        # (a directory being made is left a minute to its maker)
        try:
            fd = os.open(os.path.join(path, LOCK_NAME), os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            fd = None       # made, then died before its lock: dead too
        except OSError:
            continue
        try:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            continue        # its process lives
        finally:
            if fd is not None:
                os.close(fd)
        shutil.rmtree(path, ignore_errors=True)
        removed.append(name)
    return removed


class WorkDir:
    """This process's work directory (see the module docstring); :meth:`path` makes it."""

    def __init__(self, base, logger):
        self.base = base
        self.logger = logger
        self._path = None
        self._base = None
        self._pid = None
        self._lock_fd = None
        self._janitor = None

    def path(self):
        """The process directory, made (with its lock and janitor) on first use; a child
        process forked from this one makes its own."""
        if self._path is None or self._pid != os.getpid():
            self._make()
        return self._path

    def shared_dir(self, name):
        """``<base>/<name>``, a directory shared by every process of this server (made
        mode 0700 on first use), for files that outlive a session and its process
        (:mod:`.shuffle_spool`: spooled shuffles)."""
        self.path()
        path = os.path.join(self._base, name)
        os.makedirs(path, 0o700, exist_ok=True)
        return path

    def _make(self):
        base = self._base = checked_base(self.base or default_base())
        removed = sweep(base)
        if removed:
            self.logger.info('zerocloud: removed %d work directories of dead processes in %s',
                             len(removed), base)
        name = '%d-%s' % (os.getpid(), secrets.token_hex(4))
        # made and locked under a name sweeps skip, then renamed: another process's sweep
        # never sees it unlocked (it would take it for the directory of a dead process)
        making = os.path.join(base, MAKING + name)
        os.mkdir(making, 0o700)
        lock_fd = os.open(os.path.join(making, LOCK_NAME),
                          os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        path = os.path.join(base, PREFIX + name)
        os.rename(making, path)
        self._janitor = start_janitor(path)
        self._path, self._pid, self._lock_fd = path, os.getpid(), lock_fd
        self.logger.info('zerocloud: work directory %s', path)


def start_janitor(path):
    """Start the process that removes ``path`` once this process (and every process it
    forks) has gone: it reads its stdin, a pipe whose write end stays here, until EOF.
    Returns the Popen (its stdin must stay open for as long as the directory is used)."""
    return subprocess.Popen([sys.executable, '-m', __name__, path], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            close_fds=True, start_new_session=True)


def janitor_main(path, attempts=3, pause=0.5):
    """Wait for end-of-file on stdin, then remove ``path`` (again after a pause, in case a
    dying sandbox supervisor was still writing there)."""
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    for attempt in range(attempts):
        shutil.rmtree(path, ignore_errors=True)
        if attempt + 1 < attempts:
            time.sleep(pause)


if __name__ == '__main__':
    janitor_main(sys.argv[1])
