"""The one adapter to the sandbox: wire session -> ``SessionSpec``, run through the supervisor.

The supervisor is a separate process (started with fork+exec by ``zerocloud.sandbox``, never a
fork of this eventlet server) started on the first session of this server process and stopped
when the process exits.  The client speaks to it over a Unix socket only, so waiting for a
session is green: other requests keep being served.

Starting the supervisor (about 0.3 s) happens once, in the server's main thread: the
supervisor's ``--die-with-parent`` is tied to the thread that started it.  If the supervisor
dies, the next session starts a new one and is retried once; if that fails too, the session
reports the error (it never runs unconfined).
"""
import atexit
import os

from zerocloud import green

from zerocloud.report import Report, STATUS_ERROR


def build_spec(session, executable_path, config):
    """Translate a wire session description into ``(SessionSpec, channel device order)``.

    :raises ValueError: (``SpecError``) for a description the sandbox cannot run.
    """
    from zerocloud.sandbox.spec import ChannelSpec, ImageSpec, Limits, SessionSpec
    executable = session.get('executable') or {}
    if executable_path:
        program = executable_path
    else:
        program = 'file://%s:%s' % (executable.get('image'), executable.get('path', ''))
    channels = tuple(
        ChannelSpec(device['name'], 'r' if device.get('access') == 'read' else 'w',
                    device.get('kind', 'file'))
        for device in session.get('devices', ()))
    sysimages = config.sysimages
    images = tuple(ImageSpec(name, host_path=sysimages.get(name, ''),
                             mount_point='/' if index == 0 else '/%s' % name)
                   for index, name in enumerate(session.get('images', ())))
    wall = min(float(session.get('timeout_seconds', config.timeout_seconds)),
               config.timeout_seconds)
    limits = Limits(wall_seconds=wall, cpu_seconds=wall,
                    memory_bytes=config.max_nexe_memory_bytes,
                    max_output_bytes=config.max_output_bytes,
                    max_input_bytes=config.max_input_bytes)
    spec = SessionSpec(program=program, argv=tuple(session.get('argv', ())),
                       env=dict(session.get('env', {})), channels=channels, images=images,
                       limits=limits)
    return spec, [channel.device for channel in channels]


class SandboxRunner:
    """Runs sessions through one supervisor per server process (started lazily).

    Callable as ``runner(session, executable_path, fds, config) -> Report``.
    """

    def __init__(self, work_dir, logger):
        self.work_dir = work_dir
        self.logger = logger
        self._supervisor = None
        self._owner_pid = None
        self._starting = green.Semaphore(1)

    def socket_path(self):
        return os.path.join(self.work_dir, 'supervisor-%d.sock' % os.getpid())

    def _ensure_supervisor(self, restart=False):
        with self._starting:
            if restart and self._supervisor is not None:
                self._supervisor.stop()
                self._supervisor = None
            if self._supervisor is not None and self._owner_pid == os.getpid():
                return
            from zerocloud.sandbox import start_supervisor
            path = self.socket_path()
            self._supervisor = start_supervisor(path)
            self._owner_pid = os.getpid()
            atexit.register(self._supervisor.stop)
            self.logger.info('zerocloud: sandbox supervisor started on %s (pid %s)',
                             path, self._supervisor.pid)

    def __call__(self, session, executable_path, fds, config):
        from zerocloud.sandbox import SupervisorClient, SupervisorError
        try:
            spec, order = build_spec(session, executable_path, config)
        except ValueError as err:
            return Report(status=STATUS_ERROR, reason='bad session: %s' % err)
        if config.debug:
            self.logger.info('zerocloud: session spec %s', spec.to_dict())
        channel_fds = [fds[name] for name in order]
        self._ensure_supervisor()
        try:
            return SupervisorClient(self.socket_path()).run(spec, channel_fds)
        except SupervisorError as err:
            self.logger.warning('zerocloud: sandbox supervisor failed (%s); restarting', err)
        self._ensure_supervisor(restart=True)
        return SupervisorClient(self.socket_path()).run(spec, channel_fds)
