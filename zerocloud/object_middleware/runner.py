"""The one adapter to the sandbox: wire session -> ``SessionSpec``, run through the supervisor.

The supervisor is a separate process (started with fork+exec by ``zerocloud.sandbox``, never a
fork of this eventlet server) started on the first session of this server process and stopped
when the process exits.  The client speaks to it over a Unix socket only, so waiting for a
session is green: other requests keep being served, and killing the green thread that waits
closes the socket, which makes the supervisor stop the session.

The supervisor runs with this server's uid (Swift's ``user``): it needs no privilege where
the kernel allows unprivileged user namespaces; at start it logs the isolation it found
("sandbox: rootless user namespaces ..." or, as an error, what is missing).

Starting the supervisor (about 0.3 s) happens in the server's main thread: the supervisor's
``--die-with-parent`` is tied to the thread that started it.  The supervisor starts a session
only once it has read the whole request, so:

- lost before it took the request (unreachable, dead, refusing): a new supervisor is started
  and the session tried once more; if that fails too, :class:`NotStarted` (the proxy may run
  the session on another server);
- lost after it took the request: the program may have run, so it is not run again; the
  report is an ``error`` whose reason says "sandbox supervisor lost" (the next session starts
  a new supervisor).

A session never runs unconfined.
"""
import atexit
import os

from zerocloud import green, wire
from zerocloud.report import Report, STATUS_ERROR
from zerocloud.sandbox.fdpass import raise_open_files_limit

__all__ = ['NotStarted', 'SandboxRunner', 'build_spec', 'raise_open_files_limit']

LOST = 'sandbox supervisor lost'

EXIT_POLLS = 20
EXIT_POLL_SECONDS = 0.05


class NotStarted(Exception):
    """The program never started because of this server (its sandbox supervisor was lost
    and could not be restarted): the proxy may run the session on another server."""


def build_spec(session, executable_path, config):
    """Translate a :class:`zerocloud.wire.Session` into ``(SessionSpec, channel device order)``.

    Channels are the session's devices (files; one of mode ``pipe`` or ``char`` is shown as
    a FIFO pumped from or into its file) followed by the sockets of its mesh (``in/<peer>``
    readable, ``out/<peer>`` writable) when it is part of a connected job, or by the spool
    files of its shuffle (a connected job run in waves: :mod:`zerocloud.shuffle`): its
    outputs files bound in the jail, its inputs one directory bound at ``/dev/in`` (a
    reducer with 2,000 spooled inputs as bound files started and read them in 0.27 s,
    pumped through FIFOs in 1.77 s; a directory is one mount for any number), counted as
    local bytes.
    Limits are the smaller of the session's and this server's (``config``).  A prevalidated
    executable (``session.executable.prevalidated``, cached or received by its ETag, whose
    MD5 the executable cache checked) runs trusted: not validated again.

    :raises ValueError: (``SpecError``) for a description the sandbox cannot run.
    """
    from zerocloud.sandbox.spec import ChannelSpec, ImageSpec, Limits, SessionSpec, channel_kind
    from zerocloud.object_middleware.shuffle_spool import INPUTS_DEVICE
    executable = session.executable
    if executable_path:
        program = executable_path
    else:
        program = 'file://%s:%s' % (executable.image, executable.path)
    channels = [ChannelSpec(device.name, 'r' if device.access == wire.READ else 'w',
                            channel_kind(device.mode)) for device in session.devices]
    if session.shuffle is not None and session.shuffle.ins:   # one directory of spools
        channels.append(ChannelSpec(INPUTS_DEVICE, 'r', 'dir'))
    if session.shuffle is not None:   # spool files, bound: no pump in between
        channels += [ChannelSpec(device, 'w', 'file') for device in session.shuffle.outs]
    if session.mesh is not None:
        channels += [ChannelSpec(device, 'r', 'socket') for device, _ in session.mesh.ins]
        channels += [ChannelSpec(device, 'w', 'socket') for device, _ in session.mesh.outs]
    sysimages = config.sysimages
    images = tuple(ImageSpec(name, host_path=sysimages.get(name, ''),
                             mount_point='/' if index == 0 else '/%s' % name)
                   for index, name in enumerate(session.images))
    bounds = config.session_limits(session.limits)
    spooled_inputs = len(session.shuffle.ins) if session.shuffle is not None else 0
    limits = Limits(wall_seconds=bounds.timeout_seconds, cpu_seconds=bounds.timeout_seconds,
                    memory_bytes=config.max_nexe_memory_bytes,
                    max_output_bytes=bounds.max_output_bytes,
                    max_input_bytes=bounds.max_input_bytes,
                    # a reducer may open every entry of its /dev/in directory at once
                    max_open_files=Limits.max_open_files + spooled_inputs)
    spec = SessionSpec(program=program, argv=session.argv, env=session.env,
                       channels=tuple(channels), images=images, limits=limits,
                       trusted=bool(executable_path and executable.prevalidated))
    return spec, [channel.device for channel in channels]


class SandboxRunner:
    """Runs sessions through one supervisor per server process (started lazily).

    Callable as ``runner(session, executable_path, fds, config) -> Report``: ``session`` a
    :class:`zerocloud.wire.Session`, ``fds`` ``{device: fd}`` for every channel of
    :func:`build_spec` (the caller owns and closes them).

    :raises NotStarted: when the supervisor was lost before it took the session, twice.
    """

    def __init__(self, work_dir, logger, supervisor_options=()):
        self.work_dir = work_dir
        self.logger = logger
        self._supervisor = None
        self._supervisor_options = list(supervisor_options)
        self._owner_pid = None
        self._starting = green.Semaphore(1)

    def socket_path(self):
        return os.path.join(self.work_dir, 's-%d.sock' % os.getpid())

    def _ensure_supervisor(self, restart=False):
        with self._starting:
            if restart and self._supervisor is not None:
                self._supervisor.stop()
                self._supervisor = None
            if self._supervisor is not None and self._owner_pid == os.getpid():
                return
            from zerocloud.sandbox import start_supervisor
            path = self.socket_path()
            self._supervisor = start_supervisor(path, options=self._supervisor_options)
            self._owner_pid = os.getpid()
            atexit.register(self._supervisor.stop)
            self._log_isolation(path)

    def _log_isolation(self, path):
        """Log which isolation the new supervisor found (an error when none: every
        session fails closed, ``isolation``, naming what is missing)."""
        from zerocloud.sandbox import isolation
        described = isolation.recorded(path) or 'sandbox: isolation not recorded'
        log = self.logger.info if described.startswith(isolation.AVAILABLE) \
            else self.logger.error
        log('zerocloud: sandbox supervisor started on %s (pid %s, uid %d): %s',
            path, self._supervisor.pid, os.geteuid(), described)

    def __call__(self, session, executable_path, fds, config):
        from zerocloud.sandbox import SupervisorClient, SupervisorError
        try:
            spec, order = build_spec(session, executable_path, config)
        except ValueError as err:
            return Report(status=STATUS_ERROR, reason='bad session: %s' % err)
        if config.debug:
            self.logger.info('zerocloud: session spec %s', spec.to_dict())
        channel_fds = [fds[name] for name in order]
        for restart in (False, True):
            try:
                self._ensure_supervisor(restart)
                return SupervisorClient(self.socket_path()).run(spec, channel_fds)
            except SupervisorError as err:
                if err.delivered:
                    self.logger.warning('zerocloud: session %s: %s: %s', session.name, LOST,
                                        err)
                    self._forget_supervisor()
                    return Report(status=STATUS_ERROR, reason='%s: %s' % (LOST, err))
                self.logger.warning('zerocloud: session %s: sandbox supervisor unavailable '
                                    '(%s)%s', session.name, err,
                                    '' if restart else '; restarting it')
                failure = err
        raise NotStarted('%s before the program started: %s' % (LOST, failure))

    def _forget_supervisor(self):
        """After a loss mid-session: a dead supervisor is forgotten, so the next session
        starts a new one (a live one keeps serving its other sessions)."""
        lost = self._supervisor
        for _ in range(EXIT_POLLS):  # its socket closes a moment before it can be reaped
            # every session of a lost supervisor comes here at once: the first to see it
            # dead forgets it, the others find it forgotten (or already replaced)
            if lost is None or self._supervisor is not lost:
                return
            if lost.process.poll() is not None:
                lost.stop()
                self._supervisor = None
                return
            green.sleep(EXIT_POLL_SECONDS)
