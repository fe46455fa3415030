"""Pre-warmed jails: cloned ahead of time, namespaces and empty root ready, waiting for a plan.

A session's start then costs only what depends on the session: sending the plan and its fds
(one message), attaching the mounts, ``pivot_root``, restrictions and exec.  The
:class:`~zerocloud.sandbox.session.SessionRunner` of the supervisor keeps one warm jail and
clones the next right after using it; ``run_local`` clones one on demand (same code path).

A warm jail keeps only its control socket and sync pipes (it closes everything it inherited
at once), dies with its parent (``PR_SET_PDEATHSIG``), and is killed and reaped by
:meth:`WarmJail.discard` when unused.
"""
import gc
import os
import pickle
import socket

from zerocloud.sandbox import jail

CHILD_FROM_PARENT = 4      # the sync pipe numbers inside the warm jail (see jail.enter_warm)
CHILD_TO_PARENT = 5


class WarmJail:
    """The parent's handle on one waiting jail."""

    def __init__(self, sys, pid, pidfd, control, to_child, from_child):
        self.sys = sys
        self.pid = pid
        self.pidfd = pidfd
        self.control = control          # socket: plan and fds go here
        self.to_child = to_child        # sync pipe write end (fifo go-ahead)
        self.from_child = from_child    # status pipe read end (R, L<n>, E<error>)

    def send_plan(self, plan):
        """Send ``plan`` (a JailPlan) with every fd it names; closes the control socket."""
        numbers = sorted({plan.exec_fd} | {b.fd for b in plan.binds} |
                         {orig for _n, _p, _f, orig in plan.std_opens if orig is not None})
        plan = plan.__class__(**{**plan.__dict__, 'from_parent': CHILD_FROM_PARENT,
                                 'to_parent': CHILD_TO_PARENT})
        body = pickle.dumps((numbers, plan))
        try:
            header = len(body).to_bytes(8, 'big')
            socket.send_fds(self.control, [header], numbers)
            self.control.sendall(body)
        finally:
            self.control.close()

    def discard(self):
        """Kill and reap an unused warm jail; close its handles."""
        self.sys.pidfd_kill(self.pidfd)
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        self.control.close()
        for fd in (self.pidfd, self.to_child, self.from_child):
            os.close(fd)


def clone_warm(sys):
    """Clone a new warm jail and return its :class:`WarmJail`."""
    p2c_read, p2c_write = os.pipe2(os.O_CLOEXEC)
    c2p_read, c2p_write = os.pipe2(os.O_CLOEXEC)
    parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    uid, gid = os.geteuid(), os.getegid()    # read here: unmapped inside until the maps exist
    pid = sys.clone_into_namespaces()
    if pid == 0:  # pragma: no cover - the child
        gc.disable()        # a collection would touch (copy) every page of the parent's heap
        jail.enter_warm(sys, child_end.fileno(), p2c_read, c2p_write, uid, gid)
        os._exit(jail.EXIT_JAIL_FAILED)
    child_end.close()
    os.close(p2c_read)
    os.close(c2p_write)
    return WarmJail(sys, pid, sys.pidfd_open(pid), parent_end, p2c_write, c2p_read)
