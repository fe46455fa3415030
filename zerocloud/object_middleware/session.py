"""One ``EXECUTE`` request: read the wire body, prepare channels, run, stream results back."""
import dataclasses
import hashlib
import os
import tempfile

from swift.common import swob

from zerocloud import wire
from zerocloud.object_middleware.mesh import Cancelled, Mesh
from zerocloud.report import Report, STATUS_ERROR

WRITABLE = 'write'
READABLE = 'read'
LOCAL = 'local'
REMOTE = 'remote'
SESSION_JSON_LIMIT = 1024 * 1024


class SessionRun:
    """The context of one dispatched session (nothing request-scoped lives on the filter).

    :param filter_: the :class:`~zerocloud.object_middleware.ZerocloudObject` (config, caches,
        runner, local objects, node name).
    """

    def __init__(self, filter_, req):
        self.filter = filter_
        self.config = filter_.config
        self.req = req
        self.files = []

    def response(self):
        """Run the session and return the response carrying outputs and the report.

        :raises HTTPException: 400 for a broken body, 409 when the executable is needed,
            404/501/507 from the local object.
        """
        try:
            return self._run()
        except BaseException:
            self.close()
            raise

    def close(self):
        """Close every file this session opened (the local object, spools, outputs)."""
        for handle in self.files:
            handle.close()
        self.files = []

    def _run(self):
        device, partition, account, container, obj = self._path()
        session, executable, inputs = self._read_body()
        executable_path = self._executable(session, executable)
        fds, local = self._readable_fds(session, inputs, (device, partition, account,
                                                           container, obj))
        outputs = self._writable_files(session)
        fds.update((name, handle.fileno()) for name, handle in outputs.items())
        if local is not None:
            session = dict(session, env=dict(session.get('env', {}), **local_env(local, session)))
        mesh = None
        if session.get('mesh'):
            mesh = Mesh(session['mesh'], self.config.channel_ip, self.filter.logger)
            self.files.append(mesh)
            try:
                channel_fds = mesh.connect()
            except Cancelled as cancelled:
                return self._respond(Report(status=STATUS_ERROR, reason=str(cancelled)),
                                     outputs, False)
            fds.update(channel_fds)
            session = dict(session, devices=list(session.get('devices', ())) + [
                {'name': device, 'access': 'read' if device in mesh.ins.values() else 'write',
                 'kind': 'socket'} for device in channel_fds])
        report = self._run_program(session, executable_path, fds)
        if mesh is not None:
            report = mesh_report(mesh, report)
            mesh.ended(report)
            mesh.close()
        self.filter.logger.info(
            'zerocloud: session %s of %s ran on %s: %s; retcode %s; cdr %s',
            session.get('name'), self.req.path, self.filter.node_name, report.status_text,
            report.retcode, report.cdr.cdr_line(report.wall_seconds))
        return self._respond(report, outputs, local is not None)

    def _run_program(self, session, executable_path, fds):
        try:
            return self.filter.runner(session, executable_path, fds, self.config)
        except Exception as err:  # the runner's own fault: report it, never a traceback
            self.filter.logger.exception('zerocloud: session %s failed', session.get('name'))
            return Report(status=STATUS_ERROR, reason='sandbox error: %s' % err)

    def _path(self):
        try:
            device, partition, account, container, obj = self.req.split_path(3, 5, True)
        except ValueError:
            raise swob.HTTPBadRequest(body='bad session path %r\n' % self.req.path)
        if (container is None) != (obj is None):
            raise swob.HTTPBadRequest(body='bad session path %r\n' % self.req.path)
        return device, partition, account, container, obj

    def _read_body(self):
        """Read the wire body: the session, the executable, and inputs spooled to files.

        :raises HTTPException: 400 for a broken body, 413 for an executable over the limit.
        """
        limit = self.config.max_nexe_bytes + self.config.max_input_bytes + SESSION_JSON_LIMIT
        small, inputs = {}, {}
        try:
            for name, chunk in wire.FrameReader(self.req.environ['wsgi.input'].read, limit):
                if name.startswith(wire.INPUT_PREFIX):
                    device = name[len(wire.INPUT_PREFIX):]
                    if device not in inputs:
                        inputs[device] = (self._spool(b''), hashlib.md5(usedforsecurity=False))
                    inputs[device][0].write(chunk)
                    inputs[device][1].update(chunk)
                else:
                    small.setdefault(name, []).append(chunk)
                    self._check_small_part(name, small[name])
            session = wire.decode_json(wire.SESSION, b''.join(small.pop(wire.SESSION)))
        except KeyError:
            raise swob.HTTPBadRequest(body='no session frame in the body\n')
        except wire.WireError as err:
            raise swob.HTTPBadRequest(body='bad session body: %s\n' % err)
        for handle, _ in inputs.values():
            handle.flush()
            handle.seek(0)
        executable = small.get(wire.EXECUTABLE)
        return session, None if executable is None else b''.join(executable), inputs

    def _check_small_part(self, name, chunks):
        limit = self.config.max_nexe_bytes if name == wire.EXECUTABLE else SESSION_JSON_LIMIT
        if sum(len(chunk) for chunk in chunks) > limit:
            raise swob.HTTPRequestEntityTooLarge(
                body='frame %s larger than %d bytes (zerovm_maxnexe for executables)\n'
                     % (name, limit))

    def _executable(self, session, executable):
        """Return the host path of the executable (cached by ETag), or None for sysimages."""
        spec = session.get('executable') or {}
        if spec.get('image'):
            return None  # a program inside a system image: the sandbox resolves it
        etag = self.req.headers.get(wire.EXECUTABLE_ETAG_HEADER, '').strip('"')
        cache = self.filter.executables
        if executable is None:
            path = cache.path(etag)
            if path is None:
                raise swob.HTTPConflict(body='executable %s not cached here\n' % etag,
                                        headers={wire.NEED_HEADER: wire.NEED_EXECUTABLE})
            return path
        try:
            return cache.store(executable, etag or None)
        except ValueError as err:
            raise swob.HTTPBadRequest(body='%s\n' % err)

    def _readable_fds(self, session, inputs, location):
        fds, local = {}, None
        for device in session.get('devices', ()):
            name = device['name']
            if device.get('access') != READABLE:
                continue
            if device.get('source') == LOCAL:
                if location[3] is None:
                    raise swob.HTTPBadRequest(body='device %s is local but the session '
                                                   'has no object\n' % name)
                local = self.filter.local_objects.open(
                    *location, policy_index=self._policy_index())
                self.files.append(os.fdopen(local.fd, 'rb'))
                fds[name] = local.fd
            else:
                fds[name] = self._input_fd(device, inputs.get(name))
        return fds, local

    def _input_fd(self, device, received):
        """The fd of a readable device that is not the local object.

        A remote input (``source: remote``) with an ETag comes either in the body (then it
        is kept in the input cache) or from the cache; a payload input comes in the body.

        :raises HTTPException: 409 (``X-Backend-Zerocloud-Need: inputs``) when a remote
            input is neither sent nor cached, 400 when its bytes do not match its ETag.
        """
        etag = device.get('etag') or ''
        cacheable = device.get('source') == REMOTE and etag and self.config.input_cache_entries
        if received is not None:
            spool, digest = received
            if cacheable:
                try:
                    self.filter.inputs.adopt(spool.name, etag, digest.hexdigest())
                except ValueError as err:
                    raise swob.HTTPBadRequest(body='input %s: %s\n' % (device['name'], err))
            return spool.fileno()
        if cacheable:
            path = self.filter.inputs.path(etag)
            if path is None:
                raise swob.HTTPConflict(body='input %s (%s) not cached here\n'
                                             % (device['name'], etag),
                                        headers={wire.NEED_HEADER: wire.NEED_INPUTS})
            cached = open(path, 'rb')
            self.files.append(cached)
            return cached.fileno()
        return self._spool(b'').fileno()

    def _policy_index(self):
        return int(self.req.headers.get('X-Backend-Storage-Policy-Index', 0) or 0)

    def _spool(self, data):
        # A named file (removed on close): the sandbox cannot bind an unlinked file's fd.
        handle = tempfile.NamedTemporaryFile(dir=self.filter.work_dir(), prefix='channel-')
        self.files.append(handle)
        handle.write(data)
        handle.flush()
        handle.seek(0)
        return handle

    def _writable_files(self, session):
        outputs = {}
        for device in session.get('devices', ()):
            if device.get('access') == WRITABLE:
                outputs[device['name']] = self._spool(b'')
        return outputs

    def _respond(self, report, outputs, used_local):
        def frames():
            for name, handle in outputs.items():
                handle.seek(0)
                while True:
                    chunk = handle.read(65536)
                    if not chunk:
                        break
                    yield wire.encode_frame(wire.OUTPUT_PREFIX + name, chunk)
            yield wire.encode_frame(wire.REPORT, wire.report_to_json(
                report.to_dict(), node=self.filter.node_name, local_object=used_local))
            yield wire.encode_end()
        return swob.Response(status=200, app_iter=ClosingIterator(frames(), self.close),
                             content_type='application/octet-stream',
                             headers={wire.NODE_HEADER: self.filter.node_name})


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
    device = next((d['name'] for d in session.get('devices', ())
                   if d.get('source') == LOCAL), 'stdin')
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


class ClosingIterator:
    """An ``app_iter`` that runs ``on_close`` when the server closes it (even unstarted)."""

    def __init__(self, iterator, on_close):
        self._iterator = iterator
        self._on_close = on_close

    def __iter__(self):
        return self._iterator

    def close(self):
        try:
            self._iterator.close()
        finally:
            self._on_close()
