"""zerocloud proxy middleware: accept a job, run each session next to its object, respond.

Operator manual
===============

Purpose
-------
Lets a Swift user POST a *job* (a JSON description of programs and the objects they read and
write) to their account.  Each program runs in the zerocloud sandbox on an object server that
holds its input object, so the data does not travel; the outputs become objects and the response
says what happened (``X-Nexe-*`` headers).

Client usage
------------
::

    curl -X POST -H "X-Auth-Token: $TOKEN" -H "X-Zerovm-Execute: 1.0" \\
         -H "Content-Type: application/json" \\
         -d '[{"name": "grep", "exec": {"path": "swift://~/bin/grep", "args": "error"},
               "devices": [{"name": "stdin", "path": "swift://~/logs/today.log"},
                           {"name": "stdout"}]}]' \\
         "$STORAGE_URL"

A request is handled here when its path has an account and it carries ``X-Zerovm-Execute`` or
uses the ``/open/`` or ``/api/`` version segment.  Everything else passes through untouched.
This version runs JSON jobs (``Content-Type: application/json``, POSTed to the account) and
scripts (any other Content-Type; the first line names the interpreter, e.g.
``#!file://python:python``; POSTed to the account it runs anywhere, POSTed to
``/v1/<account>/<container>/<object>`` it runs next to that object with the object as stdin;
its stdout is the text/plain response)::

    curl -X POST -H "X-Auth-Token: $TOKEN" -H "X-Zerovm-Execute: 1.0" \\
         --data-binary $'#!file://python:python\\nimport sys; print(len(sys.stdin.read()))' \\
         "$STORAGE_URL/logs/today.log"

Zapps (:mod:`.zapps`): a tar (``Content-Type: application/x-tar``, ``x-gtar``,
``x-ustar``; gzip-compressed under those or ``application/gzip``/``x-gzip``) POSTed to the
account runs its ``boot/system.map``; the tar is the read-only ``image`` of every session,
at ``/``, and ``file://<path>`` (or a bare path) names a program in it (then in the system
images); a JSON job's ``{"name": "image", "path": "swift://~/apps/app.zapp"}`` uses a stored
zapp the same way.  ``X-Zerovm-Source: swift://~/apps/app.zapp`` (a job, zapp or script
object, by its Content-Type) runs that object, the request body on path-less ``stdin``
(:mod:`.job_input`)::

    zerocloud zapp bundle examples/wordcount -o wc.zapp
    curl -X POST -H "X-Auth-Token: $TOKEN" -H "X-Zerovm-Execute: 1.0" \\
         -H "Content-Type: application/x-gzip" --data-binary @wc.zapp "$STORAGE_URL"

A zapp without ``boot/system.map``, a corrupt gzip or tar, or a map that is not a valid job
is a 400 naming the problem; a hostile member (``..``, a link out, a device node) a 400
naming the member; a program missing from the images a 404 naming it.

Web apps on stored data (:mod:`.webapps`, :mod:`.setuid`, :mod:`.cors`)
----------------------------------------------------------------------
``GET /open/<account>/<container>/<object>`` (or ``X-Zerovm-Execute: open/1.0`` on the
``/v1/`` path) runs the object: an ``application/x-nexe`` object directly (query ``args``
and ``content_type``), any other object through the job template registered for its
Content-Type at ``/<account>/.zvm/<type>/<subtype>/config`` (cached 60 s in memcache),
whose ``{.name=default}`` variables are filled from the query string and
``{.object_path}`` with the object's URL, in the decoded JSON values (a query value cannot
change the job's structure).  The object is checked as the caller: an anonymous GET of a
public (``.r:*``) object works.  ``Range`` applies to the program's output.  Other methods
are 405; zapp objects 501 (not yet supported)::

    curl "$PROXY/open/AUTH_test/pub/report.csv?columns=2"

``<METHOD> /api/<account>/<container>/<path>`` (or ``X-Zerovm-Execute: api/1.0``) runs the
JSON job named by the container's ``X-Container-Meta-Rest-Endpoint``
(``swift://account/container/object``) with the CGI environment (``REQUEST_METHOD``,
``PATH_INFO`` = ``/<path>``, ``QUERY_STRING``, ``HTTP_*``) and the request body (spooled up
to ``zerovm_maxinput``) on its path-less ``stdin``; it answers through ``message/cgi`` or
``message/http`` output::

    swift post -H "X-Container-Meta-Rest-Endpoint: swift://AUTH_test/notes/app.json" notes
    curl -X PUT -H "X-Auth-Token: $TOKEN" --data-binary @note.txt "$PROXY/api/AUTH_test/notes/2024/01/note.txt"

Running an app needs POST rights on the account unless the container's
``X-Container-Meta-Zerovm-Suid`` ACL admits the caller (``.r:*``: anyone): then the app's
job reads and writes, as the container's owner, the containers whose Zerovm-Suid admits
the caller and whose Rest-Endpoint is that same app, and nothing else (SPEC S7; carried
through job chains).  With ``zerovm_use_cors``, answers to requests that name a container
carry its CORS headers, and ``OPTIONS`` on ``/api/`` and ``/open/`` paths is the
pre-flight.

What happens to a job
---------------------
1. The caller needs POST rights on the account (the account owner, with tempauth or keystone),
   or, for an ``/api/`` app and the jobs it chains to, the container's setuid grant.
2. The JSON is parsed and validated (:mod:`zerocloud.job`); wildcards expand through container
   listings (all pages), read as the caller.
3. Every path is authorized as the caller before anything runs (SPEC S7): writable paths as
   PUT (container write ACL), the co-located input as GET (container read ACL; the proxy
   never reads it), other readable objects and the executable with HEAD (their ETag decides
   whether a server needs their bytes; one larger than ``zerovm_maxinput`` is a 413 naming
   it).  A 403/404/413 of any input is the answer, naming the path.  What a HEAD said is
   remembered for 2 s by each proxy process (:mod:`.etag_cache`): a job within that time
   authorizes the path from its container's ACL instead (every job, as its caller), so an
   executable overwritten or deleted in Swift may still run its old bytes for up to 2 s
   where a server caches them, never longer; new bytes are never sent under the old ETag.
4. Each session goes to an object server holding its object (object ring of the container's
   storage policy: primaries, then handoffs, skipping nodes that answer 404/503/507 or cannot
   be reached, and nodes whose program never started, e.g. their sandbox supervisor was
   lost); sessions without a swift object run on any object server.  Scheduling with
   back-pressure (:mod:`.schedule`): this proxy keeps at most ``zerovm_server_slots``
   sessions in flight on each object server, shared by all its jobs; a session waits for a
   free slot on any of its object's primaries (a handoff joins them only when a primary
   drops out), and jobs waiting for the same server take turns (round robin).  An object
   server that is full anyway (its admission control answers 503 marked busy: other
   proxies use it too) means "later": the session is tried again after a backoff (50 ms
   doubling to 2 s) on the same or another primary, never failed for it.  Only the job's
   deadline, ``zerovm_job_timeout`` from its start, ends the wait: the job is then cancelled
   and answers 503 with ``X-Nexe-Error: the job did not end within zerovm_job_timeout
   (600 s): 412 of 1000 sessions had ended``.  A job holds its plan and its results, not a
   green thread or a session description per instance: at most 256 of its sessions are
   placed or waiting at a time, each described just before it runs, so a job of 100,000
   instances costs the proxy bounded memory.  Request bodies stream: the executable and
   remote inputs go from their GET into the session request (never held whole); a
   co-located object whose file is not its bytes (SLO/DLO manifest, erasure-coded
   fragment, encrypted) is sent the same way when its server asks (``Need: object``).
   Answers stream back frame by frame into spool files (unlinked temporary files in
   ``TMPDIR``), each output counted against ``zerovm_maxoutput``: the proxy's memory does
   not grow with the data.
4b. Device modes (a device's ``mode``, Servlets.md rule 16) travel with the session: with
   ``file`` or ``block`` the program gets the device's file itself (a regular, seekable
   file; for the co-located object its own data file, zero-copy), with ``pipe`` or ``char``
   a FIFO that the sandbox pumps from or into that file (``stat()`` says FIFO, ``lseek``
   fails with ``ESPIPE``).  A device without ``mode`` is a regular file: the original's
   defaults (``pipe`` for stdin, stdout and stderr) are not applied.  A jail has no
   character or block devices, hence ``char`` and ``block`` as the closest streams and
   files; the table is in :mod:`zerocloud.job`.
5. The first failure of a session (crash, signal, timeout, limit, validation, non-zero exit
   in a connected job, a session that cannot be placed) cancels the job's other sessions:
   their connections are closed and their object servers stop the programs at the next
   heartbeat (within a second).  A client that disconnects cancels its job the same way.
   Outputs with a ``swift://`` path are published only when every session succeeded, all
   or none: each is PUT as the caller from its spool (``content_type``, ``meta``; an empty
   output is a zero-byte object; one shorter than ``min_size`` is skipped); if a PUT fails,
   the outputs this job already published are deleted again and the answer is that PUT's
   status (4xx, else 503) with ``X-Nexe-Error: publishing /a/c/o failed: ...``.
5b. Connected jobs (``connect`` lists, ``zvm://`` devices; SPEC S2.4): each source instance's
   ``/dev/out/<dst>`` is a one-way stream to the destination's ``/dev/in/<src>`` (a Unix
   stream connection when both run on the same host, TCP between hosts), wired
   before the programs start by a rendezvous this filter runs for the job
   (:mod:`zerocloud.channels.rendezvous`: a listener on ``zerovm_rendezvous_ip`` with a
   random per-job token).  Every session of the job is dispatched at once, each on a slot
   of ``zerovm_server_slots`` reserved before any starts: a job needing more slots than are
   free on its servers is a 503 saying how many it needs and how many are free (``a
   connected job needs 300 session slots at once; its 4 object server(s) have 40 free``),
   so the largest connected job is about ``zerovm_server_slots`` times the number of object
   servers.  An object server that has no free slot answers 503 at once (connected
   sessions never queue or wait), so the instances start together or not at all.  Every
   instance must register within ``zerovm_rendezvous_timeout``.  The first failure (a
   session that cannot be placed, a missed deadline, a crash, a non-zero exit, a program
   that ends with unread input) cancels every other instance (their channels are shut
   down, their slots released) and is named in ``X-Nexe-Error`` (``map-2 failed: killed
   by signal SIGSEGV``); a placement error keeps its status (404 naming the missing
   object, 503 when no server can take an instance).  A connected job with any failure
   publishes nothing.
5c. Connected jobs in waves (:mod:`.waves`, ``zerovm_shuffle_spool``): a connected job whose
   channels form no cycle (map -> reduce -> merge) and whose slots are not all free runs in
   stages instead of answering 503: the instances without producers first, each stage as
   independent sessions (waiting for slots like any job's), each ``/dev/out/<dst>`` written
   to a spool file on the object server that ran it, each ``/dev/in/<src>`` read from the
   spools of its producers (fetched server to server, :mod:`zerocloud.shuffle`): the same
   names, complete files read to end-of-file, so the same programs work either way.  The
   log says ``job ... runs in 3 waves: <why>``.  A failed session (or a non-zero exit)
   cancels the later stages and nothing is published; the job's spools are removed from
   every server at its end.  A job with a cycle (a mapper mesh), two channels between the
   same pair, or a ``zvm://`` channel on another device still needs all its slots at once.
6. The response (SPEC S5): status 200 when the sessions ran (a program's non-zero exit is in
   ``X-Nexe-Retcode``), 413 when a session crossed ``zerovm_maxinput``/``zerovm_maxoutput``
   on a channel; ``X-Nexe-System``, ``-Status``, ``-Retcode``, ``-Validation``,
   ``-Etag``, ``-Cdr-Line``, ``-Colocated`` (1 when the program read its object's local file),
   ``-Node`` (the object server that ran it), one value per session in instance order;
   ``X-Nexe-Error`` names the first failure (``map-2 failed: killed by signal SIGSEGV``);
   the body is the path-less outputs, streamed from their spools.

Responses of any size (:mod:`.report_object`)
----------------------------------------------
Up to 100 instances (while each per-instance header stays under 8 KiB) the ``X-Nexe-*``
headers hold a value per instance.  Beyond, standard clients could not read them (python's
http.client refuses a header line over 64 KiB), so they become summaries, bounded
whatever the job's size: ``X-Nexe-Summary: 2500`` (the instance count, saying the others
are summaries), ``X-Nexe-System: map-1..map-2500``, ``X-Nexe-Status: ok*2499,killed by
signal SIGSEGV*1`` (each value with its count, also ``-Retcode``, ``-Validation``,
``-Colocated``, ``-Node``), ``X-Nexe-Cdr-Line: <total>, <sums of every instance's line>``;
``X-Nexe-Error`` names the first failure as always.  The full per-instance report is a
JSON object written as the caller to ``/<account>/.zerocloud-jobs/<job id>.report``
(container created when missing), linked by ``X-Nexe-Report: swift://...``; when the
caller cannot write there, ``X-Nexe-Report-Error`` says why.  The body streams as usual.

Deferred jobs (:mod:`.deferred`)
--------------------------------
``X-Zerovm-Deferred: always`` answers a planned and authorized job at once with ``202``
and its URL ``swift://<account>/.zerocloud-jobs/<job id>`` (body and
``X-Zerovm-Deferred-Url``); the job runs on in this proxy process (bounded by
``zerovm_job_timeout``).  ``<url>.status`` (JSON: ``state`` queued/running/done/failed/
cancelled, ``instances`` total/done/failed, ``bytes``, ``elapsed_seconds``) is rewritten
every second; at the end ``<url>`` holds the response body and ``<url>.headers`` its
headers (JSON), then the final status.  ``auto`` defers a job still running after
``zerovm_deferred_after`` seconds; ``never`` is the default.  Cancel: write the mark
``<url>.cancel`` (``curl -X PUT -d '' $STORAGE_URL/.zerocloud-jobs/<id>.cancel`` or
``zerocloud submit --cancel URL``): Swift authorizes it as a write to that container, any
proxy's job sees it within a second, cancels its sessions and publishes nothing.  A
restarted proxy loses its running deferred jobs (their status stops being updated).

Errors: body larger than ``zerovm_maxconfig`` -> 413; a bad job -> 400 listing every problem
with its location (also an instance with more than 4096 channels — devices, ``/dev/in/*`` and
``/dev/out/*`` together —, which one session cannot carry: the message names the instance and
says how to restructure the job, e.g. a combining layer of intermediate reducers; the limit
is ``max_session_channels`` in ``/info``); a missing input -> 404 "Error 404 Not Found while
fetching /a/c/o"; no
right -> 401/403; no object server can take a session -> 503 naming every server tried and
why; a job not done by ``zerovm_job_timeout`` -> 503 naming the deadline.  Client-sent
``X-Backend-Zerocloud-*`` headers are removed.  ``replicate`` on an instance with network
channels is a 400 naming the instance (each copy would need peers of its own).  Not yet
supported (501 with a message): the ``debug`` device, a container without wildcard as an
input.

``replicate: N`` (SPEC S2.6) runs N copies of the instance, each offered to the servers
starting one place further down its candidate list (so they run on different servers when
there are enough); every copy must succeed with the same exit code and the same bytes on
every writable device, else the instance fails with ``replicas disagree: ...``.  The first
copy's outputs are published; ``X-Nexe-Node`` lists every copy's server, space-separated.

Pipeline position
-----------------
Right after authentication (``tempauth``/``keystoneauth``), before the filters that give
objects their meaning (``copy``, ``container-quotas``, ``account-quotas``, ``slo``, ``dlo``,
``versioned_writes``, ``symlink``, encryption): the job's listings, reads and writes are
subrequests to the rest of the pipeline, so they pass through those filters exactly as a
client's requests would (a large object is read assembled; outputs count against quotas).
``job_chain`` goes right before this filter::

    [pipeline:main]
    pipeline = catch_errors gatekeeper ... tempauth job_chain zerocloud staticweb copy
               container-quotas account-quotas slo dlo versioned_writes symlink
               proxy-logging proxy-server

    [filter:zerocloud]
    use = egg:zerocloud#proxy_middleware

The object servers need ``egg:zerocloud#object_middleware`` in their pipelines.

Options (``[filter:zerocloud]``; defaults in brackets)
------------------------------------------------------
``zerovm_maxconfig`` [65536]
    Largest job description accepted, in bytes (K/M/G suffixes allowed).
``zerovm_timeout`` [10]
    Wall-clock seconds a session may run; clients cannot raise it.
``zerovm_maxinput`` / ``zerovm_maxoutput`` [1G / 1G]
    Bytes a session may read from / write to one channel.
``zerovm_maxinstances`` [100000]
    Largest number of sessions one job may expand to (instances times ``replicate``).
``zerovm_job_timeout`` [600]
    Seconds a whole job may take from its start, waiting for free servers included; then
    it is cancelled and answers 503.  Sessions are bounded by ``zerovm_timeout`` besides.
``zerovm_deferred_after`` [10]
    Seconds an ``X-Zerovm-Deferred: auto`` job runs before it is deferred.
``zerovm_shuffle_spool`` [auto]
    When a connected job without a cycle runs in waves, its shuffle spooled on the object
    servers (5c): ``auto`` when its slots are not all free, ``always``, or ``never`` (a
    503 naming the slots it needs).
``zerovm_server_slots`` [10]
    Sessions this proxy process keeps in flight on one object server, all jobs together
    (more wait for a slot).  With one proxy, the object servers' ``zerovm_maxpool`` (plus
    ``zerovm_maxqueue``) avoids 503s altogether; with several proxies, a busy server's 503
    is retried, so any value is safe.
``zerovm_default_content_type`` [application/octet-stream]
    Content-Type of published outputs that do not name one.
``zerovm_sysimage_devices`` [python]
    System image names the object servers provide (``python`` ...); ``name path`` pairs are
    accepted too so the object server's line can be copied.
``zerovm_uses_newest`` [no]
    Read inputs, executables and listings with ``X-Newest: true`` (every replica is asked,
    the newest answers).
``zerovm_use_cors`` [no]
    Give job, ``/open/`` and ``/api/`` answers the CORS headers of the container they name
    (``X-Container-Meta-Access-Control-*``) and answer CORS pre-flights for ``/open/`` and
    ``/api/`` (:mod:`.cors`).
``zerovm_conn_timeout`` [0.5]
    Seconds to connect to an object server when dispatching a session.
``swift_dir`` [/etc/swift]
    Where the object rings are (usually inherited from ``[DEFAULT]``).

``zerovm_accounting_enabled`` [no], ``user_stats_account`` [userstats]
    Store one accounting record per job (account, job id, status, wall and CPU seconds,
    instances, sessions by status, bytes read and written) in that account, batched, off
    the job's path (:mod:`.accounting`).

``zerovm_prevalidate`` [no]
    Trust the object servers' prevalidation records (SPEC S4; set it on the object servers
    too): an executable whose object sysmeta says it was valid for its current ETag runs
    without being validated again (``X-Nexe-Validation: 2``); a client's PUT or POST of an
    ``application/x-nexe`` object (or with ``X-Zerovm-Validate``) is answered with
    ``X-Zerovm-Valid: true`` or ``false`` (:mod:`.prevalidate`).

Not supported (a ZeroCloud configuration may keep it at "no"; any other value stops the
proxy at start-up, naming the option): ``zerovm_maxiops`` (channels are limited in bytes).
``zerovm_rendezvous_ip`` [``bind_ip`` when it names one address, else 127.0.0.1]
    Address of the per-job rendezvous of connected jobs; object servers must reach it.
``zerovm_rendezvous_timeout`` [5]
    Seconds every instance of a connected job has to be placed and register.

A bad value stops the proxy at start-up with a ``ValueError`` naming the option.  The
effective limits are advertised in ``/info`` under ``zerocloud``.
"""
import dataclasses
import functools
import time
import traceback

from swift.common import swob
from swift.common.registry import register_swift_info
from swift.common.utils import get_logger
from swift.proxy.controllers.base import get_container_info

from zerocloud import metrics
from zerocloud.job.errors import encodable
from zerocloud.proxy_middleware import cors, dispatch, execution, job_input, prevalidate
from zerocloud.proxy_middleware import setuid, webapps
from zerocloud.proxy_middleware import request as requests
from zerocloud.proxy_middleware.config import ProxyConfig
from zerocloud.proxy_middleware.swift_access import SWIFT_SOURCE


class ZerocloudProxy:
    """The proxy filter.  Holds configuration only; one :class:`JobRun` per request.

    :param run_job: callable ``(services, req, route, body, payload, image=None) ->
        Response`` that plans,
        dispatches and answers a validated job (default :func:`.execution.run_job`;
        injectable for tests).
    """

    def __init__(self, app, config, logger, run_job=None):
        self.app = app
        self.config = config
        self.logger = logger
        self.run_job = run_job or execution.run_job
        self.services = execution.Services(app, config, logger,
                                           dispatch.Rings(config.swift_dir),
                                           dispatch.SentEtags())

    def __call__(self, env, start_response):
        req = swob.Request(env)
        route = requests.classify(req)
        if route is None:
            if self.config.prevalidate and prevalidate.wants_verdict(req):
                return prevalidate.answer_with_verdict(req, self.app)(env, start_response)
            return self.app(env, start_response)
        started = time.time()
        requests.strip_forged_headers(req)
        requests.request_protocol(env)
        cors_container = cors.remember_container(env, route)
        try:
            if route.kind in requests.OPEN_SEGMENTS:
                response = self.handle_webapp(req, route)
            else:
                response = self.handle_job(req, route)
        except swob.HTTPException as error:
            response = error
            if response.content_type == 'text/plain' and not response.charset:
                response.charset = 'utf-8'  # our messages name paths: say how to decode them
        except Exception:  # our own fault: log it, answer 500 without a traceback
            # formatted here, escaped: an exception's text may hold what no log can encode
            self.logger.error('zerocloud: job %s failed: %s', req.path,
                              encodable(traceback.format_exc()))
            self.logger.increment('errors')
            response = swob.HTTPInternalServerError(
                body='zerocloud: internal error (logged as %s)\n'
                     % env.get('swift.trans_id', '-'), content_type='text/plain')
        if self.config.use_cors and cors_container is not None:
            response = cors.add_headers(req, response, self.cors_info(env, cors_container))
        metrics.job_answered(self.logger, response.status_int, started)
        return response(env, start_response)

    def cors_info(self, env, container):
        """The ``cors`` part of the container info of ``(account, container)``."""
        return self.container_info(env, *container).get('cors')

    def container_info(self, env, account, container):
        """Swift's container info (memcached), as the request's subrequests see it."""
        info_env = dict(env, PATH_INFO=swob.str_to_wsgi('/v1/%s/%s' % (account, container)))
        return get_container_info(info_env, self.app, swift_source=SWIFT_SOURCE)

    def handle_job(self, req, route):
        """Check, authorize and read a job POST, then run it.

        :raises HTTPException: for every refusal (see :mod:`.request`).
        """
        route = requests.check_job_form(req, route)
        setuid.authorize_run(req, route.account,
                             functools.partial(self.container_info, req.environ))
        job = job_input.read_job_input(self.services, req, route)
        self.logger.increment('jobs')
        try:
            return self.run_job(self.services, req, job.route, job.body, job.payload,
                                image=job.image)
        finally:
            job.close()

    def handle_webapp(self, req, route):
        """Answer an ``/open/`` or ``/api/`` request (:mod:`.webapps`); ``OPTIONS`` is the
        pre-flight (:mod:`.cors`).

        :raises HTTPException: for every refusal.
        """
        requests.check_webapp_form(req, route)
        methods = webapps.OPEN_METHODS if route.kind == 'open' else webapps.API_METHODS
        if req.method == 'OPTIONS':
            info = None if not route.container else \
                self.cors_info(req.environ, (route.account, route.container))
            return cors.preflight(req, methods, info, self.config.use_cors)
        build = webapps.open_object if route.kind == 'open' else webapps.call_api
        job = build(self.services, req, route)
        self.logger.increment(route.kind)
        try:
            response = self.run_job(self.services, req,
                                    dataclasses.replace(job.route, kind='job'), job.body,
                                    job.payload, image=job.image)
        finally:
            job.close()
        return webapps.ranged(req, response) if route.kind == 'open' else response


def filter_factory(global_conf, **local_conf):
    """Paste entry point: parse the options once, advertise them in ``/info``.

    :raises ValueError: a bad option value, named in the message.
    """
    conf = dict(global_conf)
    conf.update(local_conf)
    config = ProxyConfig.from_conf(conf)
    register_swift_info('zerocloud', **config.info())
    logger = get_logger(conf, log_route='zerocloud-proxy')

    def make_filter(app):
        return ZerocloudProxy(app, config, logger)
    return make_filter
