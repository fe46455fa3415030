"""One ``EXECUTE`` request: admit, prepare the channels, run the program, stream it back.

Everything that can be refused is refused with its own status before the response starts
(503 busy, 400 bad body or session, 413 part too large, 409 executable or input needed, 404
no local object...).  Then the answer is 200 and its body (:class:`SessionStream`) runs the
program in a green thread, sending a ``wait`` frame at least every
:data:`zerocloud.wire.HEARTBEAT_SECONDS`, then the outputs, the report and ``end``.  If the
proxy hangs up, the server closes the body early and the session is stopped at once.
"""
import dataclasses
import os
import time

from swift.common import swob

from zerocloud import green, metrics, shuffle as shufflelib, wire
from zerocloud.object_middleware.body import Spool, read_body
from zerocloud.object_middleware.mesh import Cancelled, Mesh
from zerocloud.object_middleware.runner import NotStarted
from zerocloud.object_middleware.shuffle_spool import SpoolError, SessionSpools
from zerocloud.report import Report, STATUS_ERROR

WAIT_FRAME = wire.encode_frame(wire.WAIT, b'')
MIN_FREE_BYTES = 1 << 20   # less free space than this after a session: outputs may be cut


class ExecuteRequest:
    """The context of one ``EXECUTE`` request (nothing request-scoped lives on the filter).

    :param filter_: the :class:`~zerocloud.object_middleware.ZerocloudObject` (config, caches,
        runner, local objects, admission, node name).
    """

    def __init__(self, filter_, req):
        self.filter = filter_
        self.config = filter_.config
        self.logger = filter_.logger
        self.req = req
        self.received = time.time()   # for the session.start metric
        self.files = []          # spools, local object files, the mesh: closed by close()
        self.slot = None
        self.session = None      # the wire.Session, LOCAL_* variables added
        self.run_config = filter_.config   # with the session's user image, if any
        self.executable_path = None
        self.fds = {}            # device -> fd, for every device of the session
        self.outputs = {}        # writable device -> Spool
        self.local = None        # the co-located object (LocalObject), when a device uses it
        self.mesh = None
        self.spools = None       # the spooled shuffle channels (SessionSpools), if any
        self.spooled = 0         # bytes this session spooled for later sessions

    def response(self):
        """Admit and prepare the session; return the 200 response that runs it.

        :raises HTTPException: 400 bad path, body or session; 413 a part over its limit;
            409 executable, image, input or the object's bytes needed; 404/507 from the
            local object; 404 (final) a program missing from the images; 503 busy; the
            user image's errors (:mod:`.images`).
        """
        location = self._path()
        connected = self.req.headers.get(wire.CONNECTED_HEADER) == '1'
        self.slot = self.filter.admission.admit(wait=not connected)
        try:
            self._prepare(location)
        except BaseException:
            self.close()
            raise
        self.req.environ['eventlet.minimum_write_chunk_size'] = 0   # each frame goes out
        return swob.Response(status=200, app_iter=SessionStream(self),
                             content_type='application/octet-stream',
                             headers={wire.NODE_HEADER: self.filter.node_name})

    def close(self):
        """Close everything this session opened and give its slot back (idempotent)."""
        files, self.files = self.files, []
        for handle in files:
            try:
                handle.close()
            except Exception:  # keep closing the others
                self.logger.exception('zerocloud: closing %r failed', handle)
        self.release()

    def release(self):
        """Give the admission slot back (once the program has ended)."""
        if self.slot is not None:
            self.slot.release()

    # -- before the response ----------------------------------------------------------
    def _path(self):
        """:raises HTTPBadRequest: not ``/device/partition/account[/container/object]``."""
        try:
            device, partition, account, container, obj = self.req.split_path(3, 5, True)
        except ValueError:
            raise swob.HTTPBadRequest(body='bad session path %r\n' % self.req.path)
        if (container is None) != (obj is None):
            raise swob.HTTPBadRequest(body='bad session path %r\n' % self.req.path)
        # native strings, as Swift's object server gives DiskFile (split_and_validate_path)
        return tuple(None if part is None else swob.wsgi_to_str(part)
                     for part in (device, partition, account, container, obj))

    def _prepare(self, location):
        session, executable, inputs, image = read_body(
            self.req.environ['wsgi.input'].read, self.config, self.filter.work_dir(),
            self.files)
        session, self.run_config = self.filter.images.prepare(session, image, self.files)
        self.executable_path = self._executable(session, executable)
        for device in session.devices:
            if device.access == wire.WRITE:
                spool = self._spool()
                self.outputs[device.name] = spool
                self.fds[device.name] = spool.fileno()
            elif device.source == wire.LOCAL:
                self.fds[device.name] = self._open_local(device, location)
            else:
                self.fds[device.name] = self._input_fd(device, inputs.get(device.name))
        if self.local is not None:
            env = dict(session.env, **local_env(self.local, session))
            session = dataclasses.replace(session, env=tuple(sorted(env.items())))
        self.session = session

    def _executable(self, session, spool):
        """The host path of the executable (cached by ETag), or None for an image program.

        :raises HTTPException: 409 (``X-Backend-Zerocloud-Need: executable``) when it is
            neither sent nor cached, 400 when its bytes do not match its ETag.
        """
        if session.executable.image:
            return None
        etag = session.executable.etag
        if spool is None:
            path = self.filter.executables.path(etag)
            metrics.cache_lookup(self.logger, 'executable', path is not None)
            if path is None:
                raise swob.HTTPConflict(body='executable %s not cached here\n' % etag,
                                        headers={wire.NEED_HEADER: wire.NEED_EXECUTABLE})
            return path
        spool.seal()
        if not etag:  # not cacheable (always sent): run the spool itself
            os.chmod(spool.name, 0o555)
            return spool.name
        try:
            path = self.filter.executables.adopt(spool.name, etag, spool.md5, mode=0o555)
        except ValueError as err:
            raise swob.HTTPBadRequest(body='executable: %s\n' % err)
        spool.close()   # its bytes stay in the cache
        return path

    def _open_local(self, device, location):
        """:raises HTTPException: 400 without an object; 404/409/507 from the object."""
        if location[3] is None:
            raise swob.HTTPBadRequest(body='device %s is local but the session has no '
                                           'object\n' % device.name)
        local = self.filter.local_objects.open(*location, policy_index=self._policy_index())
        self.files.append(os.fdopen(local.fd, 'rb'))
        if self.local is None:
            self.local = local
        return local.fd

    def _input_fd(self, device, received):
        """The fd of a readable device that is not the local object.

        A remote input with an ETag comes either in the body (then its bytes must match it,
        and it is kept in the input cache) or from that cache; a payload, or a remote input
        without ETag, comes in the body (a payload not sent is empty).

        :raises HTTPException: 409 (``X-Backend-Zerocloud-Need: inputs``) when a remote
            input is neither sent nor cached, 400 when its bytes do not match its ETag or
            a remote input without ETag is not sent.
        """
        cacheable = device.etag and self.config.input_cache_entries
        if received is not None:
            if device.etag and received.md5 != device.etag.strip('"'):
                raise swob.HTTPBadRequest(body='input %s: bytes do not match ETag %s\n'
                                               % (device.name, device.etag))
            if cacheable:
                self.filter.inputs.adopt(received.name, device.etag, received.md5)
            return received.fileno()
        if cacheable:
            path = self.filter.inputs.path(device.etag)
            metrics.cache_lookup(self.logger, 'input', path is not None)
            if path is None:
                raise swob.HTTPConflict(body='input %s (%s) not cached here\n'
                                             % (device.name, device.etag),
                                        headers={wire.NEED_HEADER: wire.NEED_INPUTS})
            cached = open(path, 'rb')
            self.files.append(cached)
            return cached.fileno()
        if device.source == wire.REMOTE:
            raise swob.HTTPBadRequest(body='input %s was not sent\n' % device.name)
        return self._spool().fileno()

    def _policy_index(self):
        return int(self.req.headers.get('X-Backend-Storage-Policy-Index', 0) or 0)

    def _spool(self):
        spool = Spool(self.filter.work_dir())
        self.files.append(spool)
        return spool

    # -- while the response streams ---------------------------------------------------
    def run(self):
        """Run the program (in the worker green thread of :class:`SessionStream`) and return
        ``(report, retry)``; never raises (killing the thread is how it is cancelled)."""
        retry, wired = False, False
        try:
            fds = dict(self.fds)
            if self.session.mesh is not None:
                self.mesh = Mesh(self.session.mesh, self.config.channel_ip, self.logger)
                self.files.append(self.mesh)
                fds.update(self.mesh.connect())
                wired = True
            if self.session.shuffle is not None:
                fds.update(self._open_shuffle())
            report = self._run_program(fds)
            if self.spools is not None:
                self.spooled = self.spools.finish(report)
        except (Cancelled, SpoolError) as cancelled:
            report = Report(status=STATUS_ERROR, reason=str(cancelled))
        except NotStarted as err:
            report, retry = Report(status=STATUS_ERROR, reason=str(err)), True
        except Exception as err:  # the runner's own fault: report it, never a traceback
            self.logger.exception('zerocloud: session %s failed', self.session.name)
            report = Report(status=STATUS_ERROR, reason='sandbox error: %s' % err)
        if wired:
            report = mesh_report(self.mesh, explained(report))
            self.mesh.ended(report)
            self.mesh.close()
        report = self._space_checked(explained(report))
        if self.spools is not None:
            self.logger.info('zerocloud: %s shuffle: %d input(s), %d fetched (%d bytes), '
                             '%d bytes spooled', self.session.name,
                             len(self.session.shuffle.ins), self.spools.fetched_count,
                             self.spools.fetched_bytes, self.spooled)
        self.logger.info(
            'zerocloud: session %s of %s ran on %s: %s; retcode %s; cdr %s%s',
            self.session.name, self.req.path, self.filter.node_name, report.status_text,
            report.retcode, report.cdr.cdr_line(report.wall_seconds),
            '; it may run elsewhere' if retry else '')
        if self.config.debug:
            self.logger.info('zerocloud: session %s report %s', self.session.name,
                             report.to_dict())
        metrics.session_ended(self.logger, report, self.received)
        return report, retry

    def _open_shuffle(self):
        """The fds of the session's spooled shuffle channels (:mod:`.shuffle_spool`).

        :raises SpoolError: an input spool could not be had.
        """
        self.spools = SessionSpools(
            self.session.shuffle, self.filter.workdir.shared_dir(shufflelib.SPOOL_DIR),
            self.filter.work_dir(), self.filter.node_name, self.config.max_input_bytes,
            self.filter.spool_usage,
            self.config.session_limits(self.session.limits).timeout_seconds)
        self.files.append(self.spools)
        return self.spools.open()

    def _space_checked(self, report):
        """A session whose writable channels may have hit a full disk fails: a program that
        got ENOSPC may still exit 0 with truncated outputs, which must not be published."""
        if not (self.outputs or self.spooled) or not report.ok:
            return report
        free = disk_free_bytes(self.filter.work_dir())
        if free >= MIN_FREE_BYTES:
            return report
        return dataclasses.replace(report, status=STATUS_ERROR, reason=(
            'no space left for outputs on this object server (%d bytes free in '
            'zerovm_work_dir): its outputs may be cut short' % free))

    def _run_program(self, fds):
        """:raises NotStarted: the sandbox could not start the program."""
        report = self.filter.runner(self.session, self.executable_path, fds, self.run_config)
        if not isinstance(report, Report):
            raise TypeError('the runner returned %r instead of a report' % (report,))
        return report

    def result_frames(self, report, retry):
        """The frames after the program: each output, the report, ``end``."""
        for name, spool in self.outputs.items():
            for chunk in spool.chunks():
                yield wire.encode_frame(wire.OUTPUT_PREFIX + name, chunk)
        yield wire.encode_frame(wire.REPORT, wire.report_to_json(
            report.to_dict(), node=self.filter.node_name, local_object=self.local is not None,
            retry=retry))
        yield wire.encode_end()


class SessionStream:
    """The body of the 200 answer (an ``app_iter``): ``wait`` frames at least every
    :data:`zerocloud.wire.HEARTBEAT_SECONDS` while the program runs in a green thread, then
    :meth:`ExecuteRequest.result_frames`.

    Closed before its end (the proxy hung up: a write failed, or the server gave up), it
    stops the session at once: the worker thread is killed (the sandbox client's socket
    closes, so the supervisor kills the program; a mesh's channels are shut), then every
    file is closed and the slot released.  Closed without ever being iterated, nothing ran.
    """

    def __init__(self, execute):
        self._execute = execute
        self._worker = None
        self._finished = False
        self._frames = self._generate()

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._frames)

    def _generate(self):
        self._worker = green.spawn(self._execute.run)
        yield WAIT_FRAME            # the status line and headers go out at once
        outcome = None
        while outcome is None:
            with green.Timeout(wire.HEARTBEAT_SECONDS, False):
                outcome = self._worker.wait()
            if outcome is None:
                yield WAIT_FRAME
        self._worker = None
        self._execute.release()
        try:
            for frame in self._execute.result_frames(*outcome):
                yield frame
        except Exception:  # a truncated body (no end frame): the proxy rejects it
            self._execute.logger.exception('zerocloud: session %s: sending results failed',
                                           self._execute.session.name)
            return
        self._finished = True

    def close(self):
        try:
            if self._worker is not None:
                self._worker.kill()
                self._execute.logger.info(
                    'zerocloud: session %s of %s stopped: the proxy hung up',
                    self._execute.session.name, self._execute.req.path)
            elif not self._finished:
                self._execute.logger.info('zerocloud: session %s of %s: results not sent '
                                          'whole', self._execute.session.name,
                                          self._execute.req.path)
            self._frames.close()
        finally:
            self._execute.close()


def disk_free_bytes(path):
    """Bytes an unprivileged writer may still use on the filesystem of ``path``."""
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def explained(report):
    """Every failure has a reason; an ``ok`` report without exit code is a failure."""
    if report.ok and report.retcode is None:
        return dataclasses.replace(report, status=STATUS_ERROR,
                                   reason='sandbox error: an ok report without exit code')
    if not report.ok and not report.reason:
        return dataclasses.replace(report, reason=report.status)
    return report


def mesh_report(mesh, report):
    """A failed session of a cancelled job says it was cancelled (and why); a program that
    ended while a source was still writing to it failed (its input was lost)."""
    if mesh.cancel_reason is None and report.ok and not report.retcode:
        unread = mesh.unread_inputs()
        if unread:
            return dataclasses.replace(report, status=STATUS_ERROR, reason=(
                'ended without reading all of %s (bytes its source sent were left unread)'
                % ', '.join('/dev/' + device for device in unread)))
    if mesh.cancel_reason is None or report.ok:
        return report
    return dataclasses.replace(report, reason='%s (%s)' % (mesh.cancel_reason,
                                                           report.status_text))


def local_env(local, session):
    """The ``LOCAL_*`` CGI variables describing the co-located object (SPEC S6)."""
    device = next((d.name for d in session.devices if d.source == wire.LOCAL), 'stdin')
    env = {
        'LOCAL_OBJECT': 'on',
        'LOCAL_PATH_INFO': local.path,
        'LOCAL_CONTENT_LENGTH': str(local.content_length),
        'LOCAL_CONTENT_TYPE': local.metadata.get('Content-Type', ''),
        'LOCAL_HTTP_ETAG': local.metadata.get('ETag', ''),
        'LOCAL_HTTP_X_TIMESTAMP': local.metadata.get('X-Timestamp', ''),
        'LOCAL_DOCUMENT_ROOT': '/dev/%s' % device,
    }
    for key, value in local.metadata.items():
        if key.lower().startswith('x-object-meta-'):
            env['LOCAL_HTTP_' + key.upper().replace('-', '_')] = value
    return env
