"""Running a validated job: plan, authorize, dispatch, verdict, publish, respond.

One :class:`JobRun` per job request; the middleware's long-lived helpers (rings, the record
of ETags already sent to each server, the per-server session slots) come in a
:class:`Services`.  The flow goes one way:

1. **plan** -- parse the job and expand wildcards (:mod:`zerocloud.job`);
2. **authorize** -- every path of every instance as the caller, before anything runs: a
   403/404/413 of any input reaches the client as itself;
3. **dispatch** -- each instance is described just before it runs (:class:`Prepared`: its
   placement :class:`~.dispatch.Target`, its :class:`zerocloud.wire.Session` and the
   :class:`~.dispatch.Parts` its body streams) and placed by :mod:`.schedule` (bounded in
   flight per object server, fair between jobs, a full server means later).  Independent
   sessions run in a window of :data:`JOB_WINDOW` green threads (:meth:`.JobThreads.
   run_window`), so the proxy holds the plan and the results, never a thread or a session
   description per instance; a connected job reserves a slot for every instance at once
   (:meth:`.ServerSlots.reserve`) and runs them all together.  The first failure, the
   client hanging up, or the job's deadline (``zerovm_job_timeout``) cancels the others;
4. **verdict** -- a job publishes every output or none (:mod:`.publish`) and answers S5
   (:mod:`.results`), streaming path-less outputs from their spool files; a job cut by
   its deadline is a 503 naming it.
"""
import dataclasses
import time

from swift.common import swob

from zerocloud import green, wire
from zerocloud import job as joblib
from zerocloud.proxy_middleware import connected, deferred, describe, dispatch, publish
from zerocloud.proxy_middleware import accounting, etag_cache, replicate
from zerocloud.proxy_middleware import locations, report_object, schedule, sources
from zerocloud.proxy_middleware import waves, zapps
from zerocloud.proxy_middleware.cancel import ClientWatch, JobThreads, error_reason
from zerocloud.proxy_middleware.results import (
    LIMIT_STATUSES, SessionResult, build_response, first_failure, header_text, nexe_headers)
from zerocloud.proxy_middleware.spool import Spools
from zerocloud.proxy_middleware.swift_access import SwiftAccess

JOB_WINDOW = 256          # sessions of one job placed or waiting for a slot at a time
AUTHORIZE_BATCH = 100     # instances authorized between two yields to other requests
NODE_TIMEOUT_MARGIN = 15  # seconds beyond zerovm_timeout: transfer, queueing, kill grace
CLIENT_GONE = 499         # Swift's status for a client that disconnected


@dataclasses.dataclass
class Services:
    """What outlives one request: Swift app, config, logger, rings, ETags sent, the
    per-server session slots (``zerovm_server_slots``), and ``attempt``, one try of a
    session on one server (:func:`.dispatch.attempt`; injectable for tests); ``heads``
    what recent HEADs said (:mod:`.etag_cache`; not used with ``zerovm_uses_newest``)."""
    app: object
    config: object
    logger: object
    rings: dispatch.Rings
    sent: dispatch.SentEtags
    slots: schedule.ServerSlots = None
    attempt: object = dispatch.attempt
    accountant: object = None   # an :class:`.accounting.Accountant` when accounting is on
    heads: etag_cache.HeadCache = None

    def __post_init__(self):
        if self.heads is None and not self.config.uses_newest:
            self.heads = etag_cache.HeadCache()
        if self.slots is None:
            self.slots = schedule.ServerSlots(self.config.server_slots)
        if self.accountant is None and self.config.accounting_enabled:
            self.accountant = accounting.Accountant(self.app, self.config.user_stats_account,
                                                    self.logger)


@dataclasses.dataclass(frozen=True)
class Prepared:
    """One instance, resolved and authorized, ready to dispatch."""
    instance: object
    target: dispatch.Target
    session: object
    parts: dispatch.Parts


def run_job(services, req, route, body, payload=b'', image=None):
    """Run the job in ``body`` for ``req`` and return the response (S5); ``payload`` is what
    its path-less readable devices read (an ``/api/`` request body); ``image`` the image of
    its sessions (a zapp's :class:`~.zapps.SpooledImage`; :mod:`.zapps`).

    :raises HTTPException: 400/413 for a bad job, 403/404/413 for paths, 501 for features
        not yet supported, 503 when no server can run a session.
    """
    if route.kind == 'script':
        body, payload = describe.script_job(body, route)
        return JobRun(services, req, route, payload).run(body)
    return JobRun(services, req, route, payload, image).run(body)


class JobRun:
    """The context of one job request."""

    def __init__(self, services, req, route, payload=b'', image=None):
        self.services = services
        self.payload = payload
        self.image = image
        self.config = services.config
        self.logger = services.logger
        self.req = req
        self.route = route
        self.started = time.monotonic()   # the job's wall time: X-Nexe-Cdr-Line's first figure
        # one container/account info cache for the whole job (its subrequests and the env
        # copies of container_info share this dict): not a HEAD or memcache get per instance
        req.environ.setdefault('swift.infocache', {})
        self.swift = SwiftAccess(services.app, req, services.config.uses_newest)
        self.sources = {}
        self.spools = Spools(self.config.max_output_bytes)
        self.threads = JobThreads(self.logger, _instance_name)
        self.locations = locations.SharedLocations()
        self.reserved = {}    # instance name -> node whose slot a connected job reserved
        self.expired = False
        self.finished = 0
        self.job_id = report_object.new_job_id()
        self._deadline = None
        self.stages = None   # a connected job's stages when it can run in waves (:mod:`.waves`)
        self.session_ended = _ignore    # hooks of a deferred job (:mod:`.deferred`)
        self.before_verdict = _ignore
        self.store_report = report_object.ReportStore(self.swift, route.account, self.job_id)

    def run(self, body):
        """Plan, authorize, run every session, then publish and answer (all or nothing);
        deferred when the request asks (:mod:`.deferred`)."""
        return deferred.answer(self, self.accept(body))

    def accept(self, body):
        """Plan and authorize the job (every refusal is raised here, before anything runs);
        its deadline starts.

        :raises HTTPException: 400/413 for a bad job, 403/404/413 for paths.
        """
        plan = self._plan(body)
        self._deadline = green.call_after(self.config.job_timeout_seconds, self._expire,
                                          len(plan.instances))
        try:
            self._authorize_all(plan.instances)
        except BaseException:
            self.abandon()
            raise
        return plan

    def abandon(self):
        """Release an accepted job that will not run (its deadline, its spools)."""
        self._deadline.cancel()
        self.spools.close()

    def run_plan(self, plan, watch_client=True):
        """Run every session of an accepted plan, then publish and answer (all or nothing).
        ``watch_client``: a client that hangs up cancels the job."""
        try:
            with ClientWatch(self.req.environ if watch_client else {}, self.threads):
                if connected.is_connected(plan):
                    outcomes = self._run_connected(plan)
                else:
                    outcomes = self.threads.run_window(self._run_independent, plan.instances,
                                                       SessionResult.cancelled, JOB_WINDOW)
            return self._verdict(outcomes)
        except BaseException:
            self.spools.close()
            raise
        finally:
            self._deadline.cancel()   # drops this job at once: a job's memory ends with it

    def _expire(self, total):
        """The job's deadline: cancel what still runs or waits (first cancel only)."""
        if self.threads.reason is None:
            self.expired = True
            self.threads.cancel('the job did not end within zerovm_job_timeout (%g s): '
                                '%d of %d sessions had ended'
                                % (self.config.job_timeout_seconds, self.finished, total))

    def _plan(self, body):
        try:
            job = joblib.parse_job(body, max_config_bytes=self.config.max_config_bytes,
                                   sysimages=self.config.sysimage_devices,
                                   in_zapp=self.image is not None)
            plan = joblib.expand(job, account=self.route.account,
                                 list_objects=self.swift.list_objects,
                                 list_containers=self.swift.list_containers,
                                 max_instances=self.config.max_instances)
        except joblib.JobError as err:
            raise swob.HTTPException(status=err.status, body='%s\n' % err,
                                     content_type='text/plain')
        if self.config.shuffle_spool != 'never' and connected.is_connected(plan):
            self.stages = waves.stages(plan)
        for instance in plan.instances:
            describe.check_supported(instance, spooled=self.stages is not None)
        return plan

    def _authorize_all(self, instances):
        """:meth:`_authorize` every instance, letting the proxy's other requests run every
        :data:`AUTHORIZE_BATCH` instances (a big job's checks take seconds of CPU)."""
        for count, instance in enumerate(instances, 1):
            self._authorize(instance)
            if count % AUTHORIZE_BATCH == 0:
                green.sleep(0)

    def _authorize(self, instance):
        """Authorize every path of ``instance`` as the caller (S7), before anything runs.

        The co-located object is authorized from its container's ACL (no request to it: its
        bytes stay on the object server, which answers 404 if it is missing); other readable
        objects and the executable are checked with HEAD as the caller (once per path);
        writable paths as PUT.

        :raises HTTPException: 401/403/404/413 naming the path.
        """
        placement = describe.placement_path(instance)
        for device in instance.devices.values():
            path = describe.swift_path(device.url)
            if path is None:
                continue
            if device.access == joblib.WRITABLE:
                self.swift.authorize_write(path)
            elif path == placement and device.access != joblib.IMAGE:
                self.swift.authorize_read(path)
            else:
                self._source(path)
        exe_path = describe.swift_path(instance.exec.url)
        if exe_path is not None:
            self._source(exe_path)

    def prepare(self, instance):
        """Describe the session of an authorized instance, just before it runs."""
        placement = describe.placement_path(instance)
        remote, local = {}, {}
        for device in instance.devices.values():
            path = describe.swift_path(device.url)
            if path is None or device.access in (joblib.WRITABLE, joblib.IMAGE):
                continue
            if path == placement:
                local[device.name] = sources.ObjectSource(
                    self.swift, path, '', None, self.config.max_input_bytes)
            else:
                remote[device.name] = self._source(path)
        exe_path = describe.swift_path(instance.exec.url)
        parts = dispatch.Parts(
            executable=None if exe_path is None else self._source(exe_path), remote=remote,
            payloads={name: self.payload for name in describe.payload_devices(instance)},
            local=local, image=zapps.instance_image(instance, self.image, self._source))
        session = describe.describe(instance, self.req, self.config, parts)
        return self.locations.apply(Prepared(instance, self._target(instance), session, parts))

    def _source(self, path):
        if path not in self.sources:
            self.sources[path] = sources.resolve(self.swift, path,
                                                 self.config.max_input_bytes,
                                                 self.services.heads)
        return self.sources[path]

    def _target(self, instance):
        placement = describe.placement_url(instance)
        if placement is None:
            partition, nodes = self.services.rings.candidates(0, self.route.account)
            return dispatch.Target('/%s' % self.route.account, 0, partition, tuple(nodes))
        info = self.swift.container_info(placement.account, placement.container)
        policy_index = int(info.get('storage_policy') or 0)
        partition, nodes = self.services.rings.candidates(
            policy_index, placement.account, placement.container, placement.object)
        return dispatch.Target(placement.path, policy_index, partition, tuple(nodes))

    def _run_independent(self, instance):
        result = self.execute(self.prepare(instance))
        if result.failure_reason is not None:
            self.threads.cancel('%s failed: %s' % (instance.name, result.failure_reason))
        return result

    def _run_connected(self, plan):
        """Every session at once, each on a server slot reserved before any starts; or in
        waves (:mod:`.waves`, ``zerovm_shuffle_spool``) when the job allows it and its
        slots are not free (``auto``) or always (``always``).

        :raises HTTPServiceUnavailable: the job needs more slots than are free and cannot
            run in waves.
        """
        ordered = self.stages
        if ordered is not None and (self.config.shuffle_spool == 'always' or any(
                describe.channel_count(instance) > wire.MAX_SESSION_CHANNELS
                for instance in plan.instances)):   # (then only spooled inputs fit)
            return waves.Waves(self, plan, window=JOB_WINDOW).run(ordered)
        prepared = [self.prepare(instance) for instance in plan.instances]
        try:
            nodes = self.services.slots.reserve(
                [item.target.nodes[:schedule.offered_count(item.target.nodes)]
                 for item in prepared])
        except swob.HTTPException as error:
            if ordered is not None:
                self.logger.info('zerocloud: job %s runs in %d waves: %s', self.req.path,
                                 len(ordered), error_reason(error))
                return waves.Waves(self, plan, {item.instance.name: item for item in prepared},
                                   JOB_WINDOW).run(ordered)
            error.headers['X-Nexe-Error'] = header_text(error_reason(error))
            raise
        self.reserved = {item.instance.name: node for item, node in zip(prepared, nodes)}
        try:
            return connected.run_connected(prepared, self.execute, self.threads,
                                           self.config, self.logger)
        finally:
            for node in self.reserved.values():   # sessions cancelled before they started
                self.services.slots.release(node)
            self.reserved = {}

    def execute(self, item, session=None):
        """Dispatch one prepared session (``session`` overrides its description, e.g. with
        a connected job's mesh); its :class:`~.results.SessionResult`."""
        session = session or item.session
        before_seconds = 0.0   # what may come before the program: wiring, gathering
        if session.mesh is not None:
            before_seconds = session.mesh.timeout_seconds
        elif session.shuffle is not None and session.shuffle.ins:
            before_seconds = self.config.timeout_seconds
        timeouts = dispatch.NodeTimeouts(
            self.config.conn_timeout_seconds,
            self.config.timeout_seconds + NODE_TIMEOUT_MARGIN + before_seconds)
        reserved = self.reserved.pop(item.instance.name, None)

        def run_copy(copy):
            target = dataclasses.replace(item.target,
                                         nodes=replicate.rotated(item.target.nodes, copy))
            tried = dispatch.Tried(item.instance, target)

            def attempt(node):
                return self.services.attempt(node, item.instance, target, session, item.parts,
                                             self.services.sent, timeouts, self.spools,
                                             self.logger, tried)
            return schedule.place(self.services.slots, self, target.nodes, attempt, tried,
                                  wait=session.mesh is None, reserved=reserved)
        if item.instance.replicate > 1:
            result = replicate.run_copies(run_copy, item.instance.replicate)
        else:
            result = run_copy(0)
        self.finished += 1
        self.session_ended(result)
        return result

    def _account(self, results, status):
        """Hand the job's accounting record to the accountant (stored later, elsewhere)."""
        accountant = self.services.accountant
        if accountant is not None:
            accountant.record(self.req.environ, accounting.job_record(
                self.route.account, self.req.environ.get('swift.trans_id', ''), status,
                self.elapsed(), results))

    def elapsed(self):
        """Seconds since the job's request arrived."""
        return time.monotonic() - self.started

    def _verdict(self, outcomes):
        """Publish when every session succeeded; answer S5 either way (503 when the job's
        deadline cut it)."""
        self.before_verdict()
        errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        if self.expired:
            results = [outcome for outcome in outcomes
                       if not isinstance(outcome, BaseException)]
            raise swob.HTTPServiceUnavailable(
                body='%s\n' % self.threads.reason, content_type='text/plain',
                headers=nexe_headers(results, self.threads.reason, self.store_report,
                                     self.elapsed()))
        if errors:
            raise _job_error(errors, self.threads.reason)
        results = outcomes
        if self.threads.client_gone:
            self.logger.info('zerocloud: job %s abandoned by its client', self.req.path)
            return swob.Response(status=CLIENT_GONE, body=b'')
        failure = self.threads.reason or first_failure(results)
        if failure is None:
            outputs = publish.outputs_to_publish(results, self.config.default_content_type)
            try:
                publish.publish_all(self.swift, outputs, self.logger)
            except swob.HTTPException as error:
                error.headers.update(nexe_headers(results, error.headers['X-Nexe-Error'],
                                                  self.store_report, self.elapsed()))
                raise
        limited = any(r.report.status in LIMIT_STATUSES for r in results)
        self._account(results, 413 if limited else 200)
        return build_response(results, self.spools, 413 if limited else 200, failure,
                              self.store_report, self.elapsed())


def _ignore(*args):
    """A hook that does nothing."""


def _instance_name(item):
    """The instance name of a plan instance or of a :class:`Prepared`."""
    return getattr(item, 'instance', item).name


def _job_error(errors, reason):
    """The answer of a job one of whose sessions could not run: the first HTTP error (with
    ``X-Nexe-Error`` naming the reason), or a 500 for our own fault."""
    http_errors = [error for error in errors if isinstance(error, swob.HTTPException)]
    if not http_errors:
        return swob.HTTPInternalServerError(body='zerocloud: internal error\n',
                                            content_type='text/plain')
    error = http_errors[0]
    error.headers['X-Nexe-Error'] = header_text(reason or error_reason(error))
    return error
