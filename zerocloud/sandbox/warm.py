"""Pre-warmed jails: cloned ahead of time, namespaces and empty root ready, waiting for a plan.

A session's start then costs only what depends on the session: sending the plan and its fds
(one message; its fds in batches of 253), binding the channels and images by path from the
old root, detaching the old root, restrictions and exec.  A warm jail waits pivoted into its
empty root but with the host's tree still at ``/.old-root`` (a slave copy, in its own mount
namespace), because a rootless jail can bind only paths of its own mount namespace (see
:mod:`zerocloud.sandbox.jail`); detaching that tree (~0.1 ms) moved from the warm phase onto
the session's path, and the bind calls are rehearsed once while warm (their first call in a
new process costs ~0.2 ms).  The :class:`~zerocloud.sandbox.session.SessionRunner` of the
supervisor keeps a :class:`WarmPool` of :data:`POOL_SIZE` warm jails, made by its jail
factory (:mod:`zerocloud.sandbox.factory`, so the supervisor's memory is never shared with
a jail; the compiled launcher's factory where it is built).  It is refilled in batches: after
a reply only once half of it is used (then to full: one wake-up of the factory per
:data:`POOL_SIZE` / 2 sessions, whose clone otherwise preempted the supervisor on a busy
core), and to full whenever the supervisor is idle (measured against a refill after every
reply, interleaved: back-to-back starts 1.05-1.16x faster, 8 clients +3-7% sessions/s).
A session that finds the pool empty (a burst) waits for a jail its factory makes for it; a
process without a pool (``run_local``) starts a factory for each jail, or clones it
itself where the launcher is not built.

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
POOL_SIZE = 4              # warm jails the supervisor keeps ready (~70 KB each)
KIND_WARM = b'W'           # the factories' names for the kinds of jails: a warm one,
KIND_PYTHON = b'P'         # a pre-started python jail (zerocloud.sandbox.prestart),
KIND_NOW = b'J'            # a warm one for a session that waits already (compiled factory)
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


def clone_warm(sys, sibling=False, name=jail.WARM_NAME, imports=None):
    """Clone a new warm jail set up in Python and return its :class:`WarmJail` (where the
    compiled launcher is built, ordinary warm jails come from its factory instead:
    :func:`zerocloud.sandbox.factory.one_jail`).

    ``sibling``: clone it as our parent's child (``CLONE_PARENT``; the jail factory does).
    ``name``: its process name until its plan arrives (see :func:`jail.enter_warm`).
    ``imports``: a pre-started python jail importing these modules
    (:mod:`zerocloud.sandbox.prestart`); None: an ordinary warm jail.
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
        jail.enter_warm(sys, child_end.fileno(), p2c_read, c2p_write, uid, gid, name)
        os._exit(jail.EXIT_JAIL_FAILED)
    child_end.close()
    os.close(p2c_read)
    os.close(c2p_write)
    return WarmJail(sys, pid, sys.pidfd_open(pid), parent_end, p2c_write, c2p_read)


class WarmPool:
    """Warm jails ready for sessions (see the module docstring), and pre-started python
    jails (:mod:`zerocloud.sandbox.prestart`) when ``prestart`` (PrestartOptions) says so.

    ``size`` 0: no factory, every session clones its jail on demand (a pre-started one for
    an eligible session when ``prestart`` is given: ``run_local``, tests).  With factories,
    the owner's event loop watches :meth:`filenos` and calls :meth:`collect` with the one
    that is readable.
    """

    def __init__(self, sys, size=0, prestart=None, launcher_path=None):
        self.sys = sys
        self.prestart = prestart
        self.launcher_path = launcher_path      # its factory makes the ordinary warm jails
        self.sizes = {KIND_WARM: size,
                      KIND_PYTHON: prestart.pool_size if prestart is not None else 0}
        self.ready = {KIND_WARM: [], KIND_PYTHON: []}
        self.factories = self._start_factories(size, prestart)     # kind -> JailFactory

    def _start_factories(self, size, prestart):
        """The factory of each kind of jail the pools keep (none without a pool): the
        compiled launcher's for warm jails where it is built, the Python one for the rest
        (:mod:`zerocloud.sandbox.factory`)."""
        from zerocloud.sandbox import factory
        if not size:
            return {}
        imports = prestart.imports if prestart is not None else ()
        made = {}
        if self.launcher_path is not None:
            made[KIND_WARM] = factory.JailFactory(self.sys, launcher_path=self.launcher_path)
        if KIND_WARM not in made or self.sizes[KIND_PYTHON]:
            python = factory.JailFactory(self.sys, imports)
            made.setdefault(KIND_WARM, python)
            made[KIND_PYTHON] = python
        return made

    def filenos(self):
        """The sockets of the factories (each readable when a jail arrives)."""
        return sorted({made.fileno() for made in self.factories.values()})

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
            if KIND_PYTHON not in self.factories:
                ready = clone_warm(self.sys, imports=self.prestart.imports)
                if ready.stage_ready(STAGE_START_SECONDS):
                    return ready
                ready.discard()
        if self.ready[KIND_WARM]:
            return self.ready[KIND_WARM].pop(0)
        return self._jail_now()

    def _jail_now(self):
        """A warm jail for a session that waits already (the pool is empty): from the
        compiled factory (its reply waited for; jails of the pool that arrive first join
        it), else from a factory started for it, else cloned here in Python."""
        from zerocloud.sandbox import factory
        if self.launcher_path is None:
            return clone_warm(self.sys, name=jail.JAIL_NAME)
        made = self.factories.get(KIND_WARM)
        if made is not None and made.compiled:
            try:
                made.request(KIND_NOW, 1)
                while True:
                    kind, ready = made.receive(factory.ONE_JAIL_SECONDS)
                    if kind == KIND_NOW:
                        return ready
                    self.ready[kind].append(ready)
            except OSError:
                self._lose_factory(made)
        return factory.one_jail(self.sys, self.launcher_path)

    def refill(self, idle=True):
        """Ask the factories for the jails missing from the pools (off the critical path).

        ``idle`` (nothing runs): every pool to full, the pre-started python ones included
        (each costs ~60 ms of CPU: asked for only then).  Else (after a reply): the warm
        pool only, and only once half of it is used (see the module docstring).
        """
        for kind, size in self.sizes.items():
            made = self.factories.get(kind)
            if made is None or (kind == KIND_PYTHON and not idle):
                continue
            have = len(self.ready[kind]) + made.pending[kind]
            if not idle and have > size // 2:
                continue
            try:
                made.request(kind, size - have)
            except OSError:
                self._lose_factory(made)

    def collect(self, fd):
        """Receive one jail from the factory whose socket is ``fd`` into its pool, if one
        is still there: a session that waited for its jail (:meth:`_jail_now`) may have
        taken in, since the caller's poll, what made the socket readable."""
        made = next(made for made in self.factories.values() if made.fileno() == fd)
        try:
            kind, ready = made.receive(timeout=0.0)
            self.ready[kind].append(ready)
        except (BlockingIOError, TimeoutError):
            pass
        except OSError:
            self._lose_factory(made)

    def _lose_factory(self, lost):
        """A factory died: its kinds of jails are cloned on demand from now on."""
        lost.close()
        self.factories = {kind: made for kind, made in self.factories.items()
                          if made is not lost}

    def close(self):
        """Discard the ready jails and stop the factories."""
        for ready in self.ready.values():
            for jail_ in ready:
                jail_.discard()
            ready.clear()
        for made in set(self.factories.values()):
            made.close()
        self.factories = {}
