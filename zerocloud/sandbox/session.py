"""Run one session: prepare, validate, clone into the jail, monitor, report.

:class:`SessionRunner` holds what is shared between sessions of one process: the compiled
seccomp filters and the validation verdict cache.  ``runner.run(spec, fds)`` runs one
session to its end and returns a :class:`~zerocloud.report.Report`;
``runner.start(spec, fds)`` starts one and returns an :class:`ActiveSession` whose monitor an
event loop drives (the supervisor runs many at once).  Neither raises for a bad spec or a
failed session (those become reports).  Call them from a single-threaded process (the jail
is cloned without Python's fork hooks): the supervisor and ``run_local`` are.

Set-up costs two wake-ups per session (one more with FIFO channels): the jail writes its own
uid/gid maps, reports its seccomp listener's number and calls ``execveat``, which waits for
the supervisor to take the listener (``pidfd_getfd``) and let exactly that exec through.
A failure of any isolation step ends the session with ``isolation`` and the step's error.

Channels: a regular-file fd of a ``file`` channel is bound into the jail directly, from the
path that leads to it (:mod:`.binds`; zero-copy; random access; writable ones limited by
``RLIMIT_FSIZE``); any other fd (pipe, socket, terminal, a file without a path), and every
``pipe`` or ``socket`` channel even when its fd is a regular file (a job's device mode ``pipe`` or ``char``; an inbound file is pumped from its start),
is pumped through a FIFO by :mod:`zerocloud.sandbox.monitor`, which passes at most the
limit.  Limits are exact: a channel never holds more than its limit, and a program that
wrote exactly the limit is ``ok``.  Readable file channels larger than ``max_input_bytes``
end the session before it starts (``input-limit``).  ``RLIMIT_FSIZE`` is ``max_output_bytes`` itself: a
write that would cross it is cut short at the limit, the next one fails with ``EFBIG`` and
raises ``SIGXFSZ``, which the jail keeps blocked so that it stays pending (as pid 1 the
program would drop it); the monitor polls for it (every 50 ms and at the end) and ends the
session with ``output-limit``.  A single write cut short and never retried is not noticed:
the program was told that only the bytes up to the limit were written.

Accounting: ``sys``/``user`` are exact (``wait4``); ``reads/rbytes/writes/wbytes`` come from
the program's ``/proc/<pid>/io`` (``syscr/rchar/syscw/wchar``: every read/write call the
process made, including those of the Python interpreter itself), minus the network bytes;
``nrbytes``/``nwbytes`` are exact pump counts on network channels and ``nreads``/``nwrites``
count pump moves (an approximation of the program's calls).  The jail's own set-up reads and
writes before exec (a handful of calls, < 1 KiB) are included in the local counters.
"""
import contextlib
import os
import resource
import selectors
import shutil
import stat
import tempfile
import time

from zerocloud.sandbox import binds
from zerocloud.sandbox import images
from zerocloud.sandbox import isolation
from zerocloud.sandbox import jail
from zerocloud.sandbox import linux
from zerocloud.sandbox import monitor
from zerocloud.sandbox.outcome import StartedSession
from zerocloud import report as rpt
from zerocloud.channels.pump import Pump
from zerocloud.sandbox import offload
from zerocloud.sandbox import warm
from zerocloud.sandbox.spec import SpecError, STD_DEVICES

SETUP_TIMEOUT_SECONDS = 5.0
STD_FD = {'stdin': 0, 'stdout': 1, 'stderr': 2}


class SessionFailed(Exception):
    """The session cannot run; ``status`` and the message go into the report."""

    def __init__(self, status, message, validation=rpt.VALIDATION_NOT_CHECKED, reasons=()):
        super().__init__(message)
        self.status = status
        self.validation = validation
        self.reasons = tuple(reasons)


class SessionRunner:
    """Runs sessions in this process (see the module docstring)."""

    def __init__(self, verdicts=None, workdir=None, prewarm=False, prestart=None):
        self.sys = linux.Syscalls()
        # what this machine and these privileges allow (every session fails closed without)
        self.isolation = isolation.probe(self.sys)
        self.bpf = offload.run_in_child(offload.compile_policies)
        self.verdicts = verdicts if verdicts is not None else offload.OffloadedVerdicts()
        self.workdir = workdir
        # prewarm: keep warm jails cloned ahead by a factory process (the supervisor does)
        prewarm = prewarm and self.isolation.available
        # prestart: pre-started python jails (a prestart.PrestartOptions; .prestart says)
        self.warm_pool = warm.WarmPool(self.sys, warm.POOL_SIZE if prewarm else 0,
                                       prestart if self.isolation.available else None)

    def run(self, spec, fds, verdict=None):
        """Run ``spec`` with channel ``fds`` (channel order) and return its Report.

        ``verdict`` is the program's validation verdict when the caller already has it
        (the supervisor validates before forking the session's manager).
        """
        active = self.start(spec, fds, verdict)
        if isinstance(active, rpt.Report):
            return active
        try:
            active.monitor.run()
        finally:
            report = active.finish()
        return report

    def start(self, spec, fds, verdict=None):
        """Start a session: an :class:`ActiveSession` to drive, or a Report if it cannot run.

        The caller drives ``active.monitor`` (``run()``, or ``attach``/``tick``/``on_event``
        in its own event loop) and then calls ``active.finish()`` for the Report; the
        ``fds`` must stay open until then.
        """
        started = time.monotonic()
        if not self.isolation.available:
            return rpt.Report(status=rpt.STATUS_ISOLATION, reason=self.isolation.reason)
        with contextlib.ExitStack() as cleanup:
            try:
                prepared = self._prepare(spec, list(fds), cleanup, verdict)
                session = self._launch(spec, prepared, cleanup)
            except SessionFailed as exc:
                return rpt.Report(status=exc.status, reason=str(exc),
                                  validation=exc.validation, validation_reasons=exc.reasons,
                                  wall_seconds=time.monotonic() - started)
            except (SpecError, images.ImageError) as exc:
                return rpt.Report(status=rpt.STATUS_ERROR, reason=str(exc),
                                  wall_seconds=time.monotonic() - started)
            except OSError as exc:
                return rpt.Report(status=rpt.STATUS_ERROR, reason='session error: %s' % exc,
                                  wall_seconds=time.monotonic() - started)
            return ActiveSession(session, cleanup.pop_all(), started)

    def prepare_next_jail(self):
        """Ask for the jails missing from the warm pool (call it when nobody waits: the
        supervisor does after a reply); they arrive through ``warm_pool.fileno()``."""
        self.warm_pool.refill()

    def close(self):
        """Discard the pre-warmed jails and stop their factory."""
        self.warm_pool.close()

    def prevalidate(self, spec):
        """Validate a host-path program into the verdict cache: ``(report, verdict)``.

        The supervisor calls this in its own process (so verdicts are cached for later
        sessions) before forking the session's manager, then passes ``verdict`` to
        :meth:`run`.  ``report`` is not None when the session must not run.
        """
        if spec.image_program is not None or spec.trusted:
            return None, None
        try:
            with open(spec.program, 'rb') as f:
                file_stat = os.fstat(f.fileno())
                known = self.verdicts.known_file(file_stat)
                data = None if known else _read_executable(f)
        except OSError as exc:
            return rpt.Report(status=rpt.STATUS_ERROR, reason='program %s: %s'
                              % (spec.program, exc.strerror)), None
        verdict = known or self.verdicts.check(data, file_stat=file_stat)
        if verdict.state != rpt.VALIDATION_REJECTED:
            return None, verdict
        return rpt.Report(status=rpt.STATUS_VALIDATION,
                          reason='validation: %s' % '; '.join(verdict.reasons[:3]),
                          validation=verdict.state,
                          validation_reasons=tuple(verdict.reasons)), verdict

    # -- preparation -------------------------------------------------------------------
    def _prepare(self, spec, fds, cleanup, verdict):
        if len(fds) != len(spec.channels):
            raise SpecError('got %d fds for %d channels' % (len(fds), len(spec.channels)))
        image_dirs = {}
        mounts, symlinks, masks = [], [], []
        workdir = None
        for image in spec.images:
            if image.name == images.PYTHON_IMAGE and not image.host_path:
                continue
            if workdir is None and not os.path.isdir(image.host_path):
                workdir = tempfile.mkdtemp(prefix='zerocloud-', dir=self.workdir)
                cleanup.callback(shutil.rmtree, workdir, True)
            image_dirs[image.name] = images.materialize(image.host_path, workdir)
            layout = images.image_layout(image_dirs[image.name], image.mount_point)
            mounts.extend(layout[0])
            symlinks.extend(layout[1])
        program = images.resolve_program(spec, image_dirs)
        if program.policy == 'python' or any(i.name == images.PYTHON_IMAGE and not i.host_path
                                             for i in spec.images):
            layout = images.python_image_layout()
            mounts.extend(layout[0])
            symlinks.extend(layout[1])
            masks.extend(images.python_image_masks())
        exec_fd, verdict = self._open_program(program, spec, cleanup, verdict)
        self._check_input_sizes(spec, fds)
        try:
            image_binds = binds.image_binds(mounts, cleanup)
        except OSError as exc:
            raise SessionFailed(rpt.STATUS_ISOLATION, 'isolation: cannot prepare mounts: %s'
                                % exc)
        return {'program': program, 'exec_fd': exec_fd, 'verdict': verdict, 'fds': fds,
                'file_binds': binds.file_channel_binds(spec, fds), 'image_binds': image_binds,
                'symlinks': symlinks, 'masks': masks}

    def _open_program(self, program, spec, cleanup, verdict):
        fd = os.open(program.host_path, os.O_RDONLY | os.O_CLOEXEC)
        cleanup.callback(os.close, fd)
        if program.trusted:
            verdict = offload.NOT_CHECKED
        elif verdict is not None and self.verdicts.known_file(os.fstat(fd)) is None:
            verdict = None     # not the file that was validated (replaced or written since)
        if verdict is None and not program.trusted:
            with open(fd, 'rb', closefd=False) as f:
                data = _read_executable(f)
            verdict = self.verdicts.check(data, file_stat=os.fstat(fd))
        if verdict.state == rpt.VALIDATION_REJECTED:
            raise SessionFailed(rpt.STATUS_VALIDATION,
                                'validation: %s' % '; '.join(verdict.reasons[:3]),
                                verdict.state, verdict.reasons)
        if not os.fstat(fd).st_mode & stat.S_IXOTH:
            fd = self._executable_copy(fd, cleanup)
        return fd, verdict

    @staticmethod
    def _executable_copy(fd, cleanup):
        """A world-executable in-memory copy (the jail's root is "nobody" outside)."""
        copy = os.memfd_create('program', os.MFD_CLOEXEC)
        cleanup.callback(os.close, copy)
        os.lseek(fd, 0, os.SEEK_SET)
        while os.sendfile(copy, fd, None, 1 << 24):
            pass
        os.fchmod(copy, 0o555)
        return copy

    @staticmethod
    def _check_input_sizes(spec, fds):
        limit = spec.limits.max_input_bytes
        for channel, fd in zip(spec.channels, fds):
            st = os.fstat(fd)
            if channel.readable and stat.S_ISREG(st.st_mode) and st.st_size > limit:
                raise SessionFailed(rpt.STATUS_INPUT_LIMIT,
                                    'input-limit: /dev/%s has %d bytes, limit %d'
                                    % (channel.device, st.st_size, limit))

    # -- launch ------------------------------------------------------------------------
    def _launch(self, spec, prepared, cleanup):
        fds = prepared['fds']
        plan, pumped = _plan(spec, prepared)
        plan = plan.__class__(**{**plan.__dict__, 'bpf': self.bpf[prepared['program'].policy]})
        ready = self.warm_pool.take(plan, prepared['program'])
        pid, pidfd, p2c_write, c2p_read = ready.pid, ready.pidfd, ready.to_child, \
            ready.from_child
        cleanup.callback(os.close, p2c_write)
        cleanup.callback(os.close, c2p_read)
        cleanup.callback(os.close, pidfd)
        session = StartedSession(spec, pid, pidfd, prepared['verdict'], fds)
        cleanup.callback(session.reap)
        try:
            ready.send_plan(plan)
        except OSError as exc:
            raise SessionFailed(rpt.STATUS_ISOLATION, 'isolation: the jail is gone: %s' % exc)
        listener, pumps, closes = self._handshake(session, pumped, p2c_write, c2p_read,
                                                  cleanup)
        watched_files = [(c, fd) for index, (c, fd) in enumerate(zip(spec.channels, fds))
                         if c.writable and index in prepared['file_binds']]
        session.monitor = monitor.Monitor(self.sys, pid, pidfd, listener, c2p_read, pumps,
                                          spec.limits, watched_files, closes)
        return session

    def _handshake(self, session, pumped, to_child, from_child, cleanup):
        """Open the FIFO ends (when there are FIFOs), take the seccomp listener."""
        try:
            pumps = []
            if pumped:
                _expect(from_child, b'R')
            for channel, client_fd in pumped:
                if channel.readable and jail.is_regular_file(client_fd):
                    os.lseek(client_fd, 0, os.SEEK_SET)   # all of it, as a bound file
                fifo = os.open('/proc/%d/root/dev/%s' % (session.pid, channel.device),
                               os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
                limit = (session.spec.limits.max_input_bytes if channel.readable
                         else session.spec.limits.max_output_bytes)
                pump = Pump(channel, client_fd, fifo, limit)
                cleanup.callback(pump.close)
                pumps.append(pump)
            closes = self._watch_writer_closes(session.pid, pumps, cleanup)
            if pumped:
                os.write(to_child, b'G')
            line = _read_line(from_child)
            if not line.startswith(b'L'):
                raise OSError('jail set-up failed: %s' % line[1:].decode(errors='replace'))
            listener = self.sys.pidfd_getfd(session.pidfd, int(line[1:]))
            cleanup.callback(os.close, listener)
            return listener, pumps, closes
        except OSError as exc:
            self.sys.pidfd_kill(session.pidfd)
            raise SessionFailed(rpt.STATUS_ISOLATION, 'isolation: %s' % (
                exc.strerror if isinstance(exc.strerror, str) and exc.errno is None
                else exc))


    def _watch_writer_closes(self, pid, pumps, cleanup):
        """An inotify watch (``IN_CLOSE_WRITE``) on every FIFO pumped into a socket (the
        ``/dev/out/<peer>`` streams of connected jobs, whose peers need end-of-file when the
        program closes them), set before the program runs: ``(inotify fd, {watch descriptor:
        pump})``, or None without any.  Pipes to the client are left alone: their reader
        gets end-of-file when the session ends."""
        outbound = [pump for pump in pumps if pump.to_socket]
        if not outbound:
            return None
        fd = self.sys.inotify_init1(linux.IN_NONBLOCK | linux.IN_CLOEXEC)
        cleanup.callback(os.close, fd)
        watches = {}
        for pump in outbound:
            path = '/proc/%d/root/dev/%s' % (pid, pump.channel.device)
            watches[self.sys.inotify_add_watch(fd, path, linux.IN_CLOSE_WRITE)] = pump
        return fd, watches


class ActiveSession:
    """A running session: its :attr:`monitor` to drive, then :meth:`finish`."""

    def __init__(self, session, cleanup, started):
        self.session = session
        self.monitor = session.monitor
        self._cleanup = cleanup
        self._started = started

    def finish(self):
        """Reap (killing it first if still running), release everything, return the Report."""
        try:
            self.session.reap()
            return self.session.report(time.monotonic() - self._started)
        finally:
            self._cleanup.close()


def _read_executable(f):
    """The bytes of an executable, at most one byte beyond the size limit."""
    size = os.fstat(f.fileno()).st_size
    return f.read(min(size, offload.MAX_EXECUTABLE_BYTES) + 1)


def _expect(fd, token):
    if not _wait_readable(fd):
        raise OSError('jail set-up timed out')
    got = os.read(fd, 1)
    if got != token:
        rest = _read_line(fd) if got == b'E' else b''
        raise OSError('jail set-up failed: %s' % (rest.decode(errors='replace').strip()
                                                  or 'child exited'))


def _wait_readable(fd):
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        return bool(selector.select(SETUP_TIMEOUT_SECONDS))


def _read_line(fd):
    data = b''
    while not data.endswith(b'\n'):
        if not _wait_readable(fd):
            break
        chunk = os.read(fd, 4096)   # the jail writes each line with one write()
        if not chunk:
            break
        data += chunk
    return data


def _plan(spec, prepared):
    """The JailPlan (without sync fds) and the list of (channel, fd) to pump."""
    mounted, fifos, std_opens, pumped = [], [], [], []
    for index, (channel, fd) in enumerate(zip(spec.channels, prepared['fds'])):
        path = '/dev/' + channel.device
        original = None
        if index in prepared['file_binds']:
            mounted.append(prepared['file_binds'][index])
            flags = {'r': os.O_RDONLY, 'w': os.O_WRONLY, 'rw': os.O_RDWR}[channel.access]
            original = fd
        else:
            fifos.append(path)
            pumped.append((channel, fd))
            flags = os.O_RDONLY if channel.readable else os.O_WRONLY
        if channel.device in STD_DEVICES:
            std_opens.append((STD_FD[channel.device], path, flags, original))
    mounted.extend(prepared['image_binds'])
    program = prepared['program']
    argv = list(spec.argv) or [os.path.basename(spec.program.split(':')[-1])]
    argv[1:1] = program.interpreter_args
    env = list(spec.env)
    if program.policy == 'python':
        env = [(k, v) for k, v in env if not k.startswith('PYTHON')] + [('PYTHONHASHSEED', '0')]
    plan = jail.JailPlan(
        binds=tuple(mounted), fifos=tuple(fifos), symlinks=tuple(prepared['symlinks']),
        masks=tuple(prepared['masks']),
        std_opens=tuple(std_opens), exec_fd=prepared['exec_fd'], argv=tuple(argv),
        env=tuple('%s=%s' % pair for pair in env), bpf=b'',
        rlimits=_rlimits(spec.limits, len(spec.channels)),
        outside_uid=os.geteuid(), outside_gid=os.getegid(), from_parent=warm.CHILD_FROM_PARENT,
        to_parent=warm.CHILD_TO_PARENT)
    return plan, pumped


def _rlimits(limits, channel_count):
    """The session's rlimits.  ``max_open_files`` counts the program's own descriptors on top
    of one per channel (a reducer may open every ``/dev/in/*`` at once), plus stdio."""
    cpu = max(1, int(-(-limits.cpu_seconds // 1)))
    nofile = limits.max_open_files + channel_count + 3
    return ((resource.RLIMIT_AS, limits.memory_bytes, limits.memory_bytes),
            (resource.RLIMIT_CPU, cpu, cpu + 1),
            (resource.RLIMIT_FSIZE, limits.max_output_bytes, limits.max_output_bytes),
            (resource.RLIMIT_NOFILE, nofile, nofile),
            (resource.RLIMIT_NPROC, limits.max_processes, limits.max_processes),
            (resource.RLIMIT_CORE, 0, 0))


def run_local(spec, fds, prestart=None):
    """Run one session in this (single-threaded) process, without a supervisor
    (``prestart``: a PrestartOptions; its python jail is started for this session)."""
    runner = SessionRunner(prestart=prestart)
    try:
        return runner.run(spec, fds)
    finally:
        runner.close()
