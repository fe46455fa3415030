"""A session on its way to running, set up step by step without ever blocking its caller.

The supervisor runs many sessions from one event loop, so nothing one session waits for may
hold up the others.  :class:`SessionStart` is the set-up of one session as a short chain of
steps; each step either finishes at once or names one descriptor to wait for
(:attr:`SessionStart.wait_fd`, readable) and a deadline (:attr:`SessionStart.deadline`):

1. ``images``: a tar image is unpacked in a child (:class:`~.offload.ChildCall`; a directory
   needs nothing) -> wait for the child's result pipe, :data:`UNPACK_SECONDS`;
2. ``program``: the program is opened (non-blocking, and it must be a regular file: a FIFO
   there can hold no one up) and its validation verdict comes from the cache or from a
   validation child, shared with every session waiting for the same file
   (:meth:`~.offload.OffloadedVerdicts.check_file`) -> wait for that child,
   :data:`~.offload.VALIDATION_SECONDS`;
3. ``launch``: the rest of the preparation (executable copy, input sizes, image binds), the
   plan, a warm jail from the pool and the plan sent to it -> with FIFO channels wait for the
   jail's ``R`` (FIFOs made), open their other ends, answer ``G``; then wait for its
   ``L<listener fd>`` line, each for :data:`SETUP_SECONDS`;
4. the seccomp listener is taken (``pidfd_getfd``): the result is an
   :class:`ActiveSession` whose monitor the caller drives.

:attr:`SessionStart.result` is then an :class:`ActiveSession` or a
:class:`~zerocloud.report.Report`.  Every failure, a missed deadline (:meth:`~SessionStart.
expire`) and a cancellation (:meth:`~SessionStart.cancel`, the client went away) end the
session with a report; a jail already taken is killed and reaped, a validation child nobody
waits for any more is killed.  The owner calls :meth:`~SessionStart.resume` when
``wait_fd`` is readable (it unregisters that fd first: the step may close it).
:func:`drive` runs a start to its end in the caller's thread (``run_local``).
"""
import contextlib
import os
import select
import selectors
import shutil
import stat
import tempfile
import time

from zerocloud import report as rpt
from zerocloud.channels.pump import Pump
from zerocloud.sandbox import binds, images, jail, monitor, offload, session_plan
from zerocloud.sandbox.outcome import StartedSession
from zerocloud.sandbox.spec import SpecError

SETUP_SECONDS = 5.0          # a jail that does not answer a hand-shake step in time is dead
UNPACK_SECONDS = 60.0        # a tar image not unpacked in time ends the session


class SessionFailed(Exception):
    """The session cannot run; ``status`` and the message go into the report."""

    def __init__(self, status, message, validation=rpt.VALIDATION_NOT_CHECKED, reasons=()):
        super().__init__(message)
        self.status = status
        self.validation = validation
        self.reasons = tuple(reasons)


class SessionStart:
    """One session's set-up (see the module docstring).  ``runner`` is the
    :class:`~.session.SessionRunner` (filters, verdict cache, warm pool)."""

    def __init__(self, runner, spec, fds):
        self.runner = runner
        self.spec = spec
        self.fds = list(fds)
        self.started = time.monotonic()
        self.result = None          # ActiveSession or Report, once set-up is over
        self.wait_fd = None         # what the next step waits for (readable)
        self.deadline = None
        self.state = 'new'
        self._next = self._timeout = None
        self._cleanup = contextlib.ExitStack()
        self._pending = None        # a shared PendingVerdict while waiting for it
        self._session = None        # the StartedSession once a jail is taken
        self._moved = False         # the step just run set a wait or a result
        self._pumped, self._pumps, self._watched_files, self._closes = [], [], [], None
        self._line = b''
        self._image_dirs, self._mounts, self._symlinks, self._masks = {}, [], [], []

    # -- the owner's side ----------------------------------------------------------------
    def begin(self):
        """Run the first steps; returns self (check :attr:`result`, else wait)."""
        if not self.runner.isolation.available:
            self.result = rpt.Report(status=rpt.STATUS_ISOLATION,
                                     reason=self.runner.isolation.reason)
            return self
        self._run(self._images)
        return self

    def resume(self):
        """``wait_fd`` is readable: go on."""
        self._run(self._next)

    def expire(self):
        """The deadline passed: end the session (its report says what it waited for)."""
        self._fail(SessionFailed(*self._timeout))

    def cancel(self, reason):
        """End the set-up now (the client went away, the supervisor stops)."""
        self._fail(SessionFailed(rpt.STATUS_ERROR, reason))

    # -- the steps -----------------------------------------------------------------------
    def _images(self):
        if len(self.fds) != len(self.spec.channels):
            raise SpecError('got %d fds for %d channels'
                            % (len(self.fds), len(self.spec.channels)))
        packed = []
        for image in self.spec.images:
            if image.name == images.PYTHON_IMAGE and not image.host_path:
                continue
            if os.path.isdir(image.host_path):
                self._image_dirs[image.name] = os.path.realpath(image.host_path)
            else:
                packed.append((image.name, image.host_path))
        if not packed:
            return self._program()
        workdir = tempfile.mkdtemp(prefix='zerocloud-', dir=self.runner.workdir)
        self._cleanup.callback(shutil.rmtree, workdir, True)
        call = offload.ChildCall(_unpack, packed, workdir)
        self._cleanup.callback(call.cancel)
        self._wait('images', call.fileno(), time.monotonic() + UNPACK_SECONDS,
                   lambda: self._unpacked(call), (rpt.STATUS_ERROR, 'image not unpacked '
                                                  'within %gs' % UNPACK_SECONDS))

    def _unpacked(self, call):
        if not call.poll():
            return self._wait_again()
        try:
            self._image_dirs.update(call.result())
        except offload.OffloadError as exc:
            raise images.ImageError(str(exc).partition(': ')[2] or str(exc))
        self._program()

    def _program(self):
        for image in self.spec.images:
            if image.name in self._image_dirs:
                mounts, symlinks = images.image_layout(self._image_dirs[image.name],
                                                       image.mount_point)
                self._mounts.extend(mounts)
                self._symlinks.extend(symlinks)
        self.program = program = images.resolve_program(self.spec, self._image_dirs)
        if program.policy == 'python' or any(i.name == images.PYTHON_IMAGE and not i.host_path
                                             for i in self.spec.images):
            mounts, symlinks = images.python_image_layout()
            self._mounts.extend(mounts)
            self._symlinks.extend(symlinks)
            self._masks.extend(images.python_image_masks())
        self.exec_fd = _open_program(program.host_path, self._cleanup)
        if program.trusted:
            return self._launch(offload.NOT_CHECKED)
        found = self.runner.verdicts.check_file(self.exec_fd)
        if isinstance(found, offload.Verdict):
            return self._launch(found)
        self._pending = found
        self._wait('validation', found.fileno(), found.deadline, self._validated,
                   (rpt.STATUS_VALIDATION, 'validation: not finished within %gs'
                    % offload.VALIDATION_SECONDS))

    def _validated(self):
        try:
            verdict = self._pending.poll()
        except offload.OffloadError as exc:
            self._pending = None
            raise SessionFailed(rpt.STATUS_ERROR, 'validation failed: %s' % exc)
        if verdict is None:
            return self._wait_again()
        pending, self._pending = self._pending, None
        pending.release()
        if not pending.validated(os.fstat(self.exec_fd)):
            raise SessionFailed(rpt.STATUS_VALIDATION, 'validation: the program changed '
                                'while it was validated', rpt.VALIDATION_REJECTED)
        self._launch(verdict)

    def _launch(self, verdict):
        if verdict.state == rpt.VALIDATION_REJECTED:
            raise SessionFailed(rpt.STATUS_VALIDATION,
                                'validation: %s' % '; '.join(verdict.reasons[:3]),
                                verdict.state, verdict.reasons)
        if not os.fstat(self.exec_fd).st_mode & stat.S_IXOTH:
            self.exec_fd = session_plan.executable_copy(self.exec_fd, self._cleanup)
        _check_input_sizes(self.spec, self.fds)
        try:
            image_binds = binds.image_binds(self._mounts, self._cleanup)
        except OSError as exc:
            raise SessionFailed(rpt.STATUS_ISOLATION, 'isolation: cannot prepare mounts: %s'
                                % exc)
        file_binds = binds.file_channel_binds(self.spec, self.fds)
        plan, self._pumped = session_plan.jail_plan(
            self.spec, self.program, self.exec_fd, self.fds, file_binds, image_binds,
            self._symlinks, self._masks)
        self._watched_files = [(c, fd) for index, (c, fd)
                               in enumerate(zip(self.spec.channels, self.fds))
                               if c.writable and index in file_binds]
        plan = plan.__class__(**{**plan.__dict__, 'bpf': self.runner.bpf[self.program.policy]})
        self._take_jail(verdict, plan)

    def _take_jail(self, verdict, plan):
        ready = self.runner.warm_pool.take(plan, self.program)
        for fd in (ready.to_child, ready.from_child, ready.pidfd):
            self._cleanup.callback(os.close, fd)
        self._to_child, self._from_child = ready.to_child, ready.from_child
        self._session = StartedSession(self.spec, ready.pid, ready.pidfd, verdict, self.fds)
        self._cleanup.callback(self._session.reap)
        try:
            ready.send_plan(plan)
        except OSError as exc:
            raise SessionFailed(rpt.STATUS_ISOLATION, 'isolation: the jail is gone: %s' % exc)
        if self._pumped:
            self._wait_jail('fifos', self._fifos_made)
        else:
            self._wait_jail('listener', self._listener)

    def _fifos_made(self):
        """The jail made its FIFOs (``R``): open their other ends, then answer ``G``."""
        if not _readable(self._from_child):
            return self._wait_again()
        got = os.read(self._from_child, 4096)
        if got != b'R':
            raise _jail_failure(got)
        for channel, client_fd in self._pumped:
            if channel.readable and jail.is_regular_file(client_fd):
                os.lseek(client_fd, 0, os.SEEK_SET)   # all of it, as a bound file
            fifo = os.open('/proc/%d/root/dev/%s' % (self._session.pid, channel.device),
                           os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
            limits = self.spec.limits
            pump = Pump(channel, client_fd, fifo, limits.max_input_bytes if channel.readable
                        else limits.max_output_bytes)
            self._cleanup.callback(pump.close)
            self._pumps.append(pump)
        self._closes = session_plan.watch_writer_closes(self.runner.sys, self._session.pid,
                                                        self._pumps, self._cleanup)
        os.write(self._to_child, b'G')
        self._wait_jail('listener', self._listener)

    def _listener(self):
        """The jail's ``L<fd>`` line (its seccomp listener): take it, start monitoring."""
        if not _readable(self._from_child):
            return self._wait_again()
        chunk = os.read(self._from_child, 4096)
        self._line += chunk
        if chunk and not self._line.endswith(b'\n'):
            return self._wait_again()
        if not (self._line.startswith(b'L') and self._line[1:].strip().isdigit()):
            raise _jail_failure(self._line)
        listener = self.runner.sys.pidfd_getfd(self._session.pidfd, int(self._line[1:]))
        self._cleanup.callback(os.close, listener)
        session = self._session
        session.monitor = monitor.Monitor(self.runner.sys, session.pid, session.pidfd,
                                          listener, self._from_child, self._pumps,
                                          self.spec.limits, self._watched_files, self._closes)
        self.state, self.wait_fd, self._moved = 'running', None, True
        self.result = ActiveSession(session, self._cleanup.pop_all(), self.started)

    # -- plumbing ------------------------------------------------------------------------
    def _wait_jail(self, state, then):
        self._line = b''
        self._wait(state, self._from_child, time.monotonic() + SETUP_SECONDS, then,
                   (rpt.STATUS_ISOLATION, 'isolation: jail set-up timed out (%s)' % state))

    def _wait(self, state, fd, deadline, then, timeout):
        self.state, self.wait_fd, self.deadline = state, fd, deadline
        self._next, self._timeout = then, timeout
        self._moved = True

    def _wait_again(self):
        """Partial data: keep waiting for the same thing."""
        self._moved = True

    def _run(self, step):
        self._moved = False
        try:
            step()
        except SessionFailed as exc:
            self._fail(exc)
        except (SpecError, images.ImageError) as exc:
            self._fail(SessionFailed(rpt.STATUS_ERROR, str(exc)))
        except OSError as exc:
            self._fail(SessionFailed(rpt.STATUS_ISOLATION if self._session is not None
                                     else rpt.STATUS_ERROR, '%s: %s' % (
                'isolation' if self._session is not None else 'session error', exc)))
        if self.result is None and not self._moved:
            self._fail(SessionFailed(rpt.STATUS_ERROR, 'session set-up stalled in %s'
                                     % self.state))

    def _fail(self, exc):
        """End the set-up with a report; kill the jail if one was taken."""
        if self.result is not None:
            return
        self.state, self.wait_fd = 'failed', None
        if self._pending is not None:
            self._pending.release()
            self._pending = None
        if self._session is not None:
            self.runner.sys.pidfd_kill(self._session.pidfd)
        self._cleanup.close()
        self.result = rpt.Report(status=exc.status, reason=str(exc), validation=exc.validation,
                                 validation_reasons=exc.reasons,
                                 wall_seconds=time.monotonic() - self.started)


class ActiveSession:
    """A running session: its :attr:`monitor` to drive, then :meth:`finish`."""

    def __init__(self, session, cleanup, started):
        self.session = session
        self.monitor = session.monitor
        self._cleanup = cleanup
        self._started = started

    def finish(self, release=True):
        """Reap (killing it first if still running), release everything (unless
        ``release`` is False: then call :meth:`release` after sending the report on),
        return the Report."""
        try:
            self.session.reap()
            return self.session.report(time.monotonic() - self._started)
        finally:
            if release:
                self.release()

    def release(self):
        """Close what the session held (pumps, FIFOs, listener, jail handles)."""
        self._cleanup.close()


def drive(start):
    """Run ``start`` to its end in this thread, waiting where it waits; its result."""
    with selectors.DefaultSelector() as selector:
        while start.result is None:
            selector.register(start.wait_fd, selectors.EVENT_READ)
            ready = selector.select(max(0.0, start.deadline - time.monotonic()))
            selector.unregister(start.wait_fd)
            if ready:
                start.resume()
            elif time.monotonic() >= start.deadline:
                start.expire()
    return start.result


def _readable(fd):
    """True when reading ``fd`` (a blocking pipe) will not block: the owner's event loop
    may resume a step for an event that another step's clean-up made stale."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


def _jail_failure(got):
    """The jail said ``E<why>`` or closed its status pipe (it died)."""
    text = got[1:] if got.startswith(b'E') else b''
    return OSError('jail set-up failed: %s' % (text.decode(errors='replace').strip()
                                               or 'child exited'))


def _unpack(packed, workdir):
    """Child side: ``{image name: directory}`` for the tar images ``packed``."""
    return {name: images.materialize(path, workdir) for name, path in packed}


def _open_program(path, cleanup):
    """The program's fd: a regular file (opened non-blocking: a FIFO cannot hold us)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    cleanup.callback(os.close, fd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        raise SessionFailed(rpt.STATUS_ERROR, 'program %s is not a regular file' % path)
    return fd


def _check_input_sizes(spec, fds):
    limit = spec.limits.max_input_bytes
    for channel, fd in zip(spec.channels, fds):
        st = os.fstat(fd)
        if channel.readable and stat.S_ISREG(st.st_mode) and st.st_size > limit:
            raise SessionFailed(rpt.STATUS_INPUT_LIMIT,
                                'input-limit: /dev/%s has %d bytes, limit %d'
                                % (channel.device, st.st_size, limit))
