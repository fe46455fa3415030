"""Running a validated job: parse, expand, authorize, place, dispatch, publish, respond.

One :class:`JobRun` per job request; the middleware's long-lived helpers (rings, the record
of executables already sent) come in a :class:`Services`.
"""
import dataclasses

from swift.common import swob

from zerocloud import job as joblib
from zerocloud import wire
from zerocloud import green
from zerocloud.proxy_middleware import connected, dispatch, replicate, sessions
from zerocloud.proxy_middleware.response import build_response, SessionResult
from zerocloud.proxy_middleware.swift_access import SwiftAccess

MAX_CONCURRENT_DISPATCH = 64
NODE_TIMEOUT_MARGIN = 15  # seconds beyond zerovm_timeout: transfer, queueing, kill grace


@dataclasses.dataclass
class Services:
    """What outlives one request: Swift app, config, logger, rings, executables sent."""
    app: object
    config: object
    logger: object
    rings: dispatch.Rings
    sent: dispatch.SentExecutables


def run_job(services, req, route, body):
    """Run the job in ``body`` for ``req`` and return the response (S5).

    :raises HTTPException: 400/413 for a bad job, 403/404 for paths, 501 for features not
        yet supported, 503 when no server can run a session.
    """
    if route.kind == 'script':
        body, payload = sessions.script_job(body, route)
        return JobRun(services, req, route, payload).run(body)
    return JobRun(services, req, route).run(body)


class JobRun:
    """The context of one job request."""

    def __init__(self, services, req, route, payload=b''):
        self.services = services
        self.payload = payload
        self.config = services.config
        self.req = req
        self.route = route
        self.swift = SwiftAccess(services.app, req)
        self.objects = {}

    def run(self, body):
        """Plan, check everything, run every session concurrently, publish, respond.

        Outputs are published only when every session of the job succeeded, so a failed job
        leaves no partial objects (DESIGN decision 4).
        """
        plan = self._plan(body)
        prepared = [(instance,) + self._prepare(instance) for instance in plan.instances]
        if connected.is_connected(plan):
            results = connected.run_connected(self, prepared)
        else:
            results = green.map_concurrently(lambda args: self.execute_session(*args), prepared,
                                             MAX_CONCURRENT_DISPATCH)
        if all(result.report.ok and not result.errors for result in results):
            for result in results:
                self._publish(result.instance, result)
        return build_response(results)

    def _plan(self, body):
        try:
            job = joblib.parse_job(body, max_config_bytes=self.config.max_config_bytes,
                                   sysimages=self.config.sysimage_devices)
            plan = joblib.expand(job, account=self.route.account,
                                 list_objects=self.swift.list_objects,
                                 max_instances=self.config.max_instances)
        except joblib.JobError as err:
            raise swob.HTTPException(status=err.status, body='%s\n' % err,
                                     content_type='text/plain')
        for instance in plan.instances:
            sessions.check_supported(instance)
        return plan

    def _prepare(self, instance):
        """Authorize every path as the caller (S7); fetch remote inputs once per job.

        The co-located object is authorized from its container's ACL (no request to it: its
        bytes stay on the object server, which answers 404 if it is missing); other readable
        objects are read with GET as the caller, writable paths are checked as PUT.
        """
        placement = sessions.placement_path(instance)
        payloads = sessions.payload_inputs(instance, self.payload)
        remote = {}
        for device in instance.devices.values():
            path = sessions.swift_path(device.url)
            if path is None:
                continue
            if device.access == joblib.WRITABLE:
                self.swift.authorize_write(path)
            elif path == placement:
                self.swift.authorize_read(path)
            else:
                remote[device.name] = self._swift_object(path)
        exe = self._executable(instance)
        session = sessions.describe(instance, self.req, self.config, placement,
                                    exe_etag=exe.etag if exe else None,
                                    input_etags={n: o.etag for n, o in remote.items()})
        return session, Blobs(exe, remote, payloads)

    def _swift_object(self, path):
        """A readable object read as the caller: authorized now (HEAD), its bytes read (once
        per job) only if a server does not cache its ETag."""
        if path not in self.objects:
            headers = self.swift.head(path)
            self.objects[path] = LazyObject(self.swift, path, cacheable_etag(headers),
                                            self.config.max_input_bytes)
        return self.objects[path]

    def _executable(self, instance):
        path = sessions.swift_path(instance.exec.url)
        return None if path is None else self._swift_object(path)

    def execute_session(self, instance, session, blobs):
        """Dispatch one prepared session; its :class:`SessionResult`."""
        placement = sessions.placement_url(instance)
        account = self.route.account
        if placement is None:
            policy_index, candidates = 0, self.services.rings.candidates(0, account)
            path = '/%s' % account
        else:
            info = self.swift.container_info(placement.account, placement.container)
            policy_index = int(info.get('storage_policy') or 0)
            candidates = self.services.rings.candidates(
                policy_index, placement.account, placement.container, placement.object)
            path = placement.path
        limits = self._limits(session)

        def run_copy(copy):
            node, payload = dispatch.dispatch(
                replicate.rotated(candidates, copy), path, policy_index, blobs, session,
                self.services.sent, limits, self.services.logger)
            return SessionResult.from_wire(instance, node, payload)
        if instance.replicate > 1:
            candidates = (candidates[0], list(candidates[1]))
            return replicate.run_copies(run_copy, instance.replicate)
        return run_copy(0)

    def _limits(self, session):
        writable = sum(1 for device in session['devices'] if device['access'] == 'write')
        return dispatch.Limits(
            self.config.conn_timeout_seconds,
            self.config.timeout_seconds + NODE_TIMEOUT_MARGIN +
            float(session.get('mesh', {}).get('timeout_seconds', 0)),
            writable * self.config.max_output_bytes + dispatch.RESPONSE_MARGIN_BYTES)

    def _publish(self, instance, result):
        """PUT the session's swift outputs as the caller (S2.7: min_size, type, meta)."""
        for device in instance.devices.values():
            path = sessions.swift_path(device.url)
            if device.access != joblib.WRITABLE or path is None:
                continue
            data = result.outputs.get(device.name, b'')
            if len(data) < (device.min_size or 0):
                continue
            status = self.swift.publish(
                path, data, device.content_type or self.config.default_content_type,
                dict(device.meta or {}))
            if status // 100 != 2:
                result.errors.append('publishing %s failed with %s' % (path, status))


class LazyObject:
    """A Swift object known by its ETag; its bytes are read (once) only when needed."""

    def __init__(self, swift, path, etag, max_bytes):
        self.swift = swift
        self.path = path
        self.etag = etag
        self.max_bytes = max_bytes
        self._data = None

    def data(self):
        if self._data is None:
            self._data = self.swift.read(self.path, self.max_bytes)[0]
        return self._data


def cacheable_etag(headers):
    """The object's ETag when it is the MD5 of its bytes ('' for SLO/DLO manifests)."""
    if headers.get('X-Static-Large-Object') or headers.get('X-Object-Manifest'):
        return ''
    return (headers.get('Etag') or '').strip('"')


class Blobs:
    """What a session's body may carry beside its description: the executable and remote
    inputs (:class:`LazyObject`, sent only to servers without their ETag) and payloads."""

    def __init__(self, executable, remote, payloads):
        self.executable = executable
        self.remote = remote
        self.payloads = payloads

    @property
    def etags(self):
        objects = list(self.remote.values()) + [self.executable] if self.executable else \
            list(self.remote.values())
        return [obj.etag for obj in objects if obj.etag]

    def body(self, session, known):
        """The wire body, leaving out the objects for which ``known(etag)`` is true."""
        exe = self.executable
        inputs = dict(self.payloads)
        inputs.update((name, obj.data()) for name, obj in self.remote.items()
                      if not known(obj.etag))
        data = exe.data() if exe is not None and not known(exe.etag) else None
        return wire.encode_request(session, data, inputs)
