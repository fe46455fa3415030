"""The one adapter to the sandbox: wire session -> ``SessionSpec``, run through the supervisor.

The supervisor is a separate process (started with fork+exec by ``zerocloud.sandbox``, never a
fork of this eventlet server) started on the first session of this server process and stopped
when the process exits.  The client speaks to it over a Unix socket only, so waiting for a
session is green: other requests keep being served.

When this ``zerocloud.sandbox`` has no supervisor (``start_supervisor``/``SupervisorClient``),
each session runs in a fresh process instead (:mod:`.run_session`, started with eventlet's
green subprocess): correct and isolated the same way, but it pays a Python start per session.
"""
import atexit
import json
import os
import sys

from zerocloud.object_middleware import green

from zerocloud.sandbox.report import Report, STATUS_ERROR


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
        ChannelSpec(device['name'], 'r' if device.get('access') == 'read' else 'w', 'file')
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

    def socket_path(self):
        return os.path.join(self.work_dir, 'supervisor-%d.sock' % os.getpid())

    def _ensure_supervisor(self):
        if self._supervisor is not None and self._owner_pid == os.getpid():
            return
        from zerocloud.sandbox import start_supervisor
        path = self.socket_path()
        self._supervisor = start_supervisor(path)
        self._owner_pid = os.getpid()
        atexit.register(self._supervisor.stop)
        self.logger.info('zerocloud: sandbox supervisor started on %s', path)

    def __call__(self, session, executable_path, fds, config):
        try:
            spec, order = build_spec(session, executable_path, config)
        except ValueError as err:
            return Report(status=STATUS_ERROR, reason='bad session: %s' % err)
        if config.debug:
            self.logger.info('zerocloud: session spec %s', spec.to_dict())
        channel_fds = [fds[name] for name in order]
        try:
            from zerocloud.sandbox import SupervisorClient
        except ImportError:
            return run_in_process(spec, channel_fds, config.timeout_seconds * 3 + 30)
        self._ensure_supervisor()
        return SupervisorClient(self.socket_path()).run(spec, channel_fds)


def run_in_process(spec, channel_fds, deadline_seconds):
    """Run ``spec`` in a fresh ``run_session`` process (green wait); return its Report."""
    request = json.dumps({'spec': spec.to_dict(), 'fds': list(channel_fds)}).encode()
    status, output, errors = green.run_process(
        [sys.executable, '-m', 'zerocloud.object_middleware.run_session'], request,
        channel_fds, deadline_seconds)
    try:
        return Report.from_dict(json.loads(output))
    except (ValueError, TypeError) as err:
        return Report(status=STATUS_ERROR, reason='session process failed (%s): %s %s'
                      % (status, err, errors[-300:].decode('utf-8', 'replace')))
