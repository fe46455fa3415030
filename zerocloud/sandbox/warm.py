"""Pre-warmed jails: cloned ahead of time, namespaces and empty root ready, waiting for a plan.

A session's start then costs only what depends on the session: sending the plan and its fds
(one message; its fds in batches of 253), binding the channels and images by path from the
old root, detaching the old root, restrictions and exec.  A warm jail waits pivoted into its
empty root but with the host's tree still at ``/.old-root`` (a slave copy, in its own mount
namespace), because a rootless jail can bind only paths of its own mount namespace (see
:mod:`zerocloud.sandbox.jail`); detaching that tree (~0.1 ms) moved from the warm phase onto
the session's path, and the bind calls are rehearsed once while warm (their first call in a
new process costs ~0.2 ms).  The :class:`~zerocloud.sandbox.session.SessionRunner` of the
supervisor keeps a :class:`WarmPool` of :data:`POOL_SIZE` warm jails, made by its jail factory
(:mod:`zerocloud.sandbox.factory`, so the supervisor's memory is never shared with a
jail) and refilled after each reply; an empty pool (a burst, or no factory: ``run_local``)
clones a jail on demand (same code path).

With pre-started Python (:mod:`zerocloud.sandbox.prestart`) the pool also keeps jails
whose interpreter is already running (the factory's ``P`` jails); :meth:`WarmPool.take`
gives one to an eligible python session when one is ready, else an ordinary warm jail.

A warm jail keeps only its control socket and sync pipes (it closes everything it inherited
at once), dies with the supervisor (``PR_SET_PDEATHSIG``), and is killed and reaped by
:meth:`WarmJail.discard` when unused.
"""
import gc
import os
import pickle
import select
import socket

from zerocloud.sandbox import fdpass, jail, launcher
from zerocloud.sandbox import linux

CHILD_FROM_PARENT = 4      # the sync pipe numbers inside the warm jail (see jail.enter_warm)
CHILD_TO_PARENT = 5
POOL_SIZE = 2              # warm jails the supervisor keeps ready
KIND_WARM = b'W'           # the factory's names for the two kinds of jails
KIND_PYTHON = b'P'         # a pre-started python jail (zerocloud.sandbox.prestart)
STAGE_START_SECONDS = 30.0  # a pre-started jail made on demand (no pool) may take this long


class WarmJail:
    """The parent's handle on one waiting jail."""

    def __init__(self, sys, pid, pidfd, control, to_child, from_child, launched=False):
        self.sys = sys
        self.launched = launched        # waits in the compiled launcher (its plan format)
        self.pid = pid
        self.pidfd = pidfd
        self.control = control          # socket: plan and fds go here
        self.to_child = to_child        # sync pipe write end (fifo go-ahead)
        self.from_child = from_child    # status pipe read end (R, L<n>, E<error>)

    def send_plan(self, plan):
        """Send ``plan`` (a JailPlan) with every fd it names (in batches, :mod:`.fdpass`:
        a plan may name thousands); closes the control socket."""
        numbers = launcher.plan_fds(plan)
        if self.launched:
            body = launcher.encode_plan(plan, numbers)
        else:
            plan = plan.__class__(**{**plan.__dict__, 'from_parent': CHILD_FROM_PARENT,
                                     'to_parent': CHILD_TO_PARENT})
            body = pickle.dumps((numbers, plan))
        try:
            fdpass.send_with_fds(self.control, len(body).to_bytes(jail.PLAN_HEADER_BYTES,
                                                                  'big') + body, numbers)
        finally:
            self.control.close()

    def stage_ready(self, timeout):
        """For a pre-started python jail: True once its stage said it waits for its plan
        (``P`` on the status pipe, read here), False if it failed, None if it is still
        starting after ``timeout`` seconds."""
        if not select.select([self.from_child], [], [], timeout)[0]:
            return None
        return os.read(self.from_child, 1) == b'P'

    def discard(self):
        """Kill and reap an unused warm jail; close its handles."""
        self.sys.pidfd_kill(self.pidfd)
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        self.close_handles()

    def close_handles(self):
        """Close this side's handles (the factory does, once it handed them over)."""
        self.control.close()
        for fd in (self.pidfd, self.to_child, self.from_child):
            os.close(fd)


def clone_warm(sys, sibling=False, name=jail.WARM_NAME, imports=None, launcher_path=None):
    """Clone a new warm jail and return its :class:`WarmJail`.

    ``sibling``: clone it as our parent's child (``CLONE_PARENT``; the jail factory does).
    ``name``: its process name until its plan arrives (see :func:`jail.enter_warm`).
    ``imports``: a pre-started python jail importing these modules
    (:mod:`zerocloud.sandbox.prestart`); None: an ordinary warm jail, waiting in the
    compiled launcher at ``launcher_path`` (:mod:`zerocloud.sandbox.launcher`) if given.
    """
    p2c_read, p2c_write = os.pipe2(os.O_CLOEXEC)
    c2p_read, c2p_write = os.pipe2(os.O_CLOEXEC)
    parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    uid, gid = os.geteuid(), os.getegid()    # read here: unmapped inside until the maps exist
    pid = sys.clone_into_namespaces(linux.JAIL_NAMESPACES |
                                    (linux.CLONE_PARENT if sibling else 0))
    if pid == 0:  # pragma: no cover - the child
        gc.disable()        # a collection would touch (copy) every page of the parent's heap
        if imports is not None:
            from zerocloud.sandbox import prestart
            prestart.enter(sys, child_end.fileno(), p2c_read, c2p_write, uid, gid, imports)
        if launcher_path is not None:
            jail.enter_launcher(sys, child_end.fileno(), p2c_read, c2p_write, uid, gid, name,
                                launcher_path)
        jail.enter_warm(sys, child_end.fileno(), p2c_read, c2p_write, uid, gid, name)
        os._exit(jail.EXIT_JAIL_FAILED)
    child_end.close()
    os.close(p2c_read)
    os.close(c2p_write)
    return WarmJail(sys, pid, sys.pidfd_open(pid), parent_end, p2c_write, c2p_read,
                    launched=waits_in_launcher(KIND_WARM if imports is None else KIND_PYTHON,
                                               launcher_path))


def waits_in_launcher(kind, launcher_path):
    """True when a jail of ``kind`` waits for its plan in the compiled launcher: an
    ordinary warm jail where there is one (a pre-started python jail never does)."""
    return kind == KIND_WARM and launcher_path is not None


class WarmPool:
    """Warm jails ready for sessions (see the module docstring), and pre-started python
    jails (:mod:`zerocloud.sandbox.prestart`) when ``prestart`` (PrestartOptions) says so.

    ``size`` 0: no factory, every session clones its jail on demand (a pre-started one for
    an eligible session when ``prestart`` is given: ``run_local``, tests).  With a factory,
    the owner's event loop watches :meth:`fileno` and calls :meth:`collect` when it is
    readable.
    """

    def __init__(self, sys, size=0, prestart=None, launcher_path=None):
        from zerocloud.sandbox import factory
        self.sys = sys
        self.prestart = prestart
        self.launcher_path = launcher_path      # (see clone_warm)
        self.sizes = {KIND_WARM: size,
                      KIND_PYTHON: prestart.pool_size if prestart is not None else 0}
        self.ready = {KIND_WARM: [], KIND_PYTHON: []}
        imports = prestart.imports if prestart is not None else ()
        self.factory = factory.JailFactory(sys, imports, launcher_path) if size else None

    def fileno(self):
        """The factory's socket (readable when a jail arrives), or None without one."""
        return None if self.factory is None else self.factory.fileno()

    def take(self, plan=None, program=None):
        """A jail for the session of ``plan`` running ``program`` (images.ResolvedProgram):
        a pre-started one when the session is eligible and one is ready (its stage has
        said so; one still importing stays in the pool; without a factory, with pre-start
        asked for: one cloned now and waited for), else a warm one (a ready one, else one
        cloned now)."""
        from zerocloud.sandbox import prestart     # the supervisor has it loaded already
        if self.prestart is not None and self.prestart.pool_size and plan is not None \
                and prestart.eligible(plan, program):
            for ready in list(self.ready[KIND_PYTHON]):
                started = ready.stage_ready(0)
                if started is None:
                    continue            # still importing: leave it in the pool
                self.ready[KIND_PYTHON].remove(ready)
                if started:
                    return ready
                ready.discard()         # its stage failed (an import): start normally
            if self.factory is None:
                ready = clone_warm(self.sys, imports=self.prestart.imports)
                if ready.stage_ready(STAGE_START_SECONDS):
                    return ready
                ready.discard()
        if self.ready[KIND_WARM]:
            return self.ready[KIND_WARM].pop(0)
        return clone_warm(self.sys, name=jail.JAIL_NAME, launcher_path=self.launcher_path)

    def refill(self, python=True):
        """Ask the factory for the jails missing from full pools (off the critical path);
        the pre-started python ones only when ``python`` (each costs ~60 ms of CPU: the
        supervisor asks for them only once it is idle)."""
        if self.factory is not None:
            try:
                for kind, size in self.sizes.items():
                    if kind == KIND_PYTHON and not python:
                        continue
                    self.factory.request(kind, size - len(self.ready[kind]) -
                                         self.factory.pending[kind])
            except OSError:
                self._lose_factory()

    def collect(self):
        """Receive one jail from the factory into its pool."""
        try:
            kind, ready = self.factory.receive()
            self.ready[kind].append(ready)
        except OSError:
            self._lose_factory()

    def _lose_factory(self):
        """The factory died: go on cloning on demand."""
        self.factory.close()
        self.factory = None

    def close(self):
        """Discard the ready jails and stop the factory."""
        for ready in self.ready.values():
            for jail_ in ready:
                jail_.discard()
            ready.clear()
        if self.factory is not None:
            self.factory.close()
            self.factory = None
