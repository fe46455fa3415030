"""The jail factory: a small helper process that clones pre-warmed jails for the supervisor.

Why: ``clone()`` from the supervisor copies its page tables (~1.3 ms at ~20 MB) inside its
event loop, and, worse, leaves every page of its heap shared copy-on-write with the waiting
jail, so each page the supervisor then writes (Python writes reference counts everywhere)
costs a page fault and a copy: its per-session work ran 3-5x slower while a warm jail
existed.  The factory is forked from the supervisor once, at start; it clones each jail
with ``CLONE_PARENT``, so the jail is still the supervisor's child (the supervisor reaps it
with ``wait4`` for its exit status and rusage, and ``PR_SET_PDEATHSIG`` still ties it to
the supervisor), while the supervisor's own memory is never shared with a jail.

Protocol over a Unix socketpair: the supervisor writes one byte per jail it wants; for each,
the factory replies with the jail's pid (8 bytes) and four fds attached (SCM_RIGHTS): its
pidfd, the control socket, the sync pipe's write end and the status pipe's read end (see
:class:`zerocloud.sandbox.warm.WarmJail`), then closes its own copies.  The factory keeps
no other fd, dies with the supervisor (``PR_SET_PDEATHSIG``) and exits at EOF.  The jails
it clones are the same as the supervisor's own (:func:`zerocloud.sandbox.warm.clone_warm`).
"""
import gc
import os
import signal
import socket

from zerocloud.sandbox import linux
from zerocloud.sandbox import warm

FACTORY_NAME = 'zc-factory'
PID_BYTES = 8
FDS_PER_JAIL = 4


class JailFactory:
    """The supervisor's handle on its factory process (see the module docstring)."""

    def __init__(self, sys):
        self.sys = sys
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the factory process
            try:
                ours.close()
                _serve(sys, theirs, parent)
            finally:
                os._exit(0)
        theirs.close()
        self.pid = pid
        self.conn = ours
        self.pending = 0            # jails asked for and not yet received

    def fileno(self):
        return self.conn.fileno()

    def request(self, count):
        """Ask for ``count`` more jails (non-blocking for any sensible count)."""
        if count > 0:
            self.conn.sendall(b'W' * count)
            self.pending += count

    def receive(self):
        """Read one jail the factory made: a WarmJail; raises OSError if the factory died."""
        data, fds, _flags, _addr = socket.recv_fds(self.conn, PID_BYTES, FDS_PER_JAIL)
        for fd in fds:
            os.set_inheritable(fd, False)
        if len(data) != PID_BYTES or len(fds) != FDS_PER_JAIL:
            for fd in fds:
                os.close(fd)
            raise OSError('the jail factory stopped')
        self.pending -= 1
        pidfd, control, to_child, from_child = fds
        return warm.WarmJail(self.sys, int.from_bytes(data, 'big'), pidfd,
                             socket.socket(fileno=control), to_child, from_child)

    def close(self):
        """Stop the factory (EOF, then SIGKILL if needed) and reap it."""
        self.conn.close()
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def _serve(sys, conn, parent):  # pragma: no cover - runs in the factory process
    """The factory's loop: one warm jail per byte read, until EOF."""
    sys.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        return
    fd = conn.detach()
    os.dup2(fd, 3, inheritable=False)
    sys.close_range(4)
    conn = socket.socket(fileno=3)
    sys.set_name(FACTORY_NAME)
    gc.disable()       # a collection would touch (copy) pages shared with the supervisor
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    while True:
        wanted = conn.recv(64)
        if not wanted:
            return
        for _ in wanted:
            jail = warm.clone_warm(sys, sibling=True)
            try:
                socket.send_fds(conn, [jail.pid.to_bytes(PID_BYTES, 'big')],
                                [jail.pidfd, jail.control.fileno(), jail.to_child,
                                 jail.from_child])
            finally:
                jail.close_handles()
