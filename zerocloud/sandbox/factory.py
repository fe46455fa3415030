"""The jail factory: a small helper process that clones pre-warmed jails for the supervisor.

The Python factory is a fresh, minimal interpreter (``python -I -S``, importing only the jail
code: ~11 MB resident instead of the supervisor's ~21 MB), so a jail's program is executed
from a smaller address space (tearing down the old one at ``execve`` is ~0.25 ms cheaper)
and the jail's set-up copies fewer pages.

Why a separate process: ``clone()`` from the supervisor copies its page tables (~1.3 ms at ~20 MB) inside its
event loop, and, worse, leaves every page of its heap shared copy-on-write with the waiting
jail, so each page the supervisor then writes (Python writes reference counts everywhere)
costs a page fault and a copy: its per-session work ran 3-5x slower while a warm jail
existed.  The factory is started by the supervisor once, at start; it clones each jail
with ``CLONE_PARENT``, so the jail is still the supervisor's child (the supervisor reaps it
with ``wait4`` for its exit status and rusage, and ``PR_SET_PDEATHSIG`` still ties it to
the supervisor), while the supervisor's own memory is never shared with a jail.

Protocol over a Unix socketpair: the supervisor writes one byte per jail it wants (``W`` a
warm jail, ``P`` a pre-started python jail importing the modules named on the factory's
command line, :mod:`zerocloud.sandbox.prestart`); for each, the factory replies with that
byte, the jail's pid (8 bytes) and four fds attached (SCM_RIGHTS): its
pidfd, the control socket, the sync pipe's write end and the status pipe's read end (see
:class:`zerocloud.sandbox.warm.WarmJail`), then closes its own copies.  The factory keeps
no other fd, dies with the supervisor (``PR_SET_PDEATHSIG``) and exits at EOF.  The jails
it clones are the same as the supervisor's own (:func:`zerocloud.sandbox.warm.clone_warm`).

Two implementations speak this protocol.  Where the compiled launcher is built
(:mod:`zerocloud.sandbox.launcher`), warm jails come from its factory mode
(``zc-launcher factory``, ``jail_factory.c``): a ~70 KB static process whose clones go on
as the launcher's warm jail without an exec; it also answers ``J``: one warm jail for a
session that waits already (named ``zc-jail``, not ``zc-warm``), which is how a process
without a pool gets its jail (:func:`one_jail`).  Measured per warm jail, against this
Python factory with jails executing the launcher: ~1 ms less of the factory's CPU (copying
a Python process's page tables) and ~1.7 ms less of the jail's (its Python steps copied
every page they touched).  This Python factory makes the rest: pre-started python jails,
and every jail where the launcher is not built.
"""
import gc
import os
import signal
import socket
import subprocess
import sys as sys_module

from zerocloud.sandbox import linux
from zerocloud.sandbox import warm

FACTORY_NAME = 'zc-factory'
PID_BYTES = 8
FDS_PER_JAIL = 4
ONE_JAIL_SECONDS = 10.0     # a bound on a jail waited for (a clone takes ~1 ms)


class JailFactory:
    """The supervisor's handle on its factory process (see the module docstring)."""

    def __init__(self, sys, imports=(), launcher_path=None):
        """With ``launcher_path``: the compiled launcher's factory (warm jails only),
        else this module's Python factory (pre-starting python jails with ``imports``)."""
        self.sys = sys
        self.compiled = launcher_path is not None
        self.kinds = ((warm.KIND_WARM, warm.KIND_NOW) if self.compiled
                      else (warm.KIND_WARM, warm.KIND_PYTHON))
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.process = subprocess.Popen(
                self._command(theirs.fileno(), imports, launcher_path),
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
        finally:
            theirs.close()
        self.pid = self.process.pid
        self.conn = ours
        self.pending = dict.fromkeys(self.kinds, 0)     # asked for, not received

    @staticmethod
    def _command(fd, imports, launcher_path):
        if launcher_path is not None:
            return [launcher_path, 'factory', str(fd), str(os.getpid())]
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__))))
        code = ('import sys; sys.path.insert(0, sys.argv[1]); '
                'from zerocloud.sandbox import factory; factory.main(sys.argv[2:])')
        return [sys_module.executable, '-I', '-S', '-c', code, package_root, str(fd),
                str(os.getpid()), ','.join(imports)]

    def fileno(self):
        return self.conn.fileno()

    def request(self, kind, count):
        """Ask for ``count`` more jails of ``kind`` (non-blocking for any sensible count)."""
        if count > 0:
            self.conn.sendall(kind * count)
            self.pending[kind] += count

    def receive(self, timeout=None):
        """Read one jail the factory made: ``(kind, WarmJail)``, waiting at most
        ``timeout`` seconds (None: the socket is readable); raises OSError if the factory
        died (or the time ran out)."""
        self.conn.settimeout(timeout)
        try:
            data, fds, _flags, _addr = socket.recv_fds(self.conn, 1 + PID_BYTES,
                                                       FDS_PER_JAIL)
        finally:
            self.conn.settimeout(None)
        for fd in fds:
            os.set_inheritable(fd, False)
        kind = data[:1]
        if len(data) != 1 + PID_BYTES or len(fds) != FDS_PER_JAIL or \
                kind not in self.pending:
            for fd in fds:
                os.close(fd)
            raise OSError('the jail factory stopped')
        self.pending[kind] -= 1
        pidfd, control, to_child, from_child = fds
        return kind, warm.WarmJail(
            self.sys, int.from_bytes(data[1:], 'big'), pidfd, socket.socket(fileno=control),
            to_child, from_child, launched=self.compiled)

    def close(self):
        """Stop the factory and reap it."""
        self.conn.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def one_jail(sys, launcher_path):
    """One warm jail from a compiled factory started for it (a process without a pool:
    ``zerocloud run``, a supervisor whose factory died); it is our child."""
    made = JailFactory(sys, launcher_path=launcher_path)
    try:
        made.request(warm.KIND_NOW, 1)
        return made.receive(ONE_JAIL_SECONDS)[1]
    finally:
        made.close()


def main(argv):  # pragma: no cover - runs in the factory process
    """The Python factory process: ``main([socket fd, supervisor pid, imports])``."""
    sys = linux.Syscalls()
    fd, parent = int(argv[0]), int(argv[1])
    imports = tuple(name for name in argv[2].split(',') if name)
    sys.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        return
    os.dup2(fd, 3, inheritable=False)
    sys.close_range(4)
    sys.set_name(FACTORY_NAME)
    gc.disable()       # a collection would touch (copy) pages shared with waiting jails
    _serve(sys, socket.socket(fileno=3), imports)


def _serve(sys, conn, imports):  # pragma: no cover - runs in the factory process
    """The factory's loop: one jail per byte read (its kind), until EOF."""
    while True:
        wanted = conn.recv(64)
        if not wanted:
            return
        for kind in wanted:
            kind = bytes((kind,))
            if kind == warm.KIND_PYTHON:
                __import__('zerocloud.sandbox.prestart')    # loaded once, here
            jail = warm.clone_warm(sys, sibling=True,
                                   imports=imports if kind == warm.KIND_PYTHON else None)
            try:
                socket.send_fds(conn, [kind + jail.pid.to_bytes(PID_BYTES, 'big')],
                                [jail.pidfd, jail.control.fileno(), jail.to_child,
                                 jail.from_child])
            finally:
                jail.close_handles()
