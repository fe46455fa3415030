"""Deferred jobs (``X-Zerovm-Deferred``): answered at once, run to their end in the proxy.

``X-Zerovm-Deferred: always`` answers a job as soon as it is planned and authorized (a bad
job or path is still its 4xx at once): ``202 Accepted``, the job's URL as the body (and in
``X-Zerovm-Deferred-Url``)::

    swift://<account>/.zerocloud-jobs/<job id>

The job then runs to its end in a green thread of the proxy process that accepted it,
bounded by ``zerovm_job_timeout``, and publishes its outputs all or none as any job.  Its
objects, in the container of :mod:`.report_object` (created as the caller when missing),
all written as the caller:

``<job id>.status``
    ``application/json``, rewritten every :data:`STATUS_INTERVAL` second while the job runs:
    ``{"job": "<id>", "url": "swift://...", "state": "running", "instances": {"total":
    2500, "done": 1200, "failed": 0}, "bytes": 13200, "elapsed_seconds": 4.2, "updated":
    <unix time>, "http_status": null, "error": null}``; ``state`` goes ``queued`` ->
    ``running`` -> ``done`` (HTTP 2xx and no ``X-Nexe-Error``), ``failed`` or
    ``cancelled``; ``bytes`` counts the outputs of the ended sessions; the final status
    has the response's ``http_status`` and ``error`` (its ``X-Nexe-Error``).
``<job id>``
    The response body (path-less outputs), with the response's Content-Type.
``<job id>.headers``
    The response headers as a JSON object (``{"X-Nexe-Status": "ok,ok", ...}``).
``<job id>.report``
    The per-instance report, when the job was too large for per-instance headers.

The final status is written last: once it says ``done``/``failed``/``cancelled``, the
body and headers are there.  ``X-Zerovm-Deferred: auto`` runs the job as usual and defers it
(the same 202) if it has not ended after ``zerovm_deferred_after`` seconds; if the caller
may not write ``.zerocloud-jobs``, an ``auto`` job is not deferred.  ``never`` (the default)
is a usual job.  Any other value is a 400 naming the header; a zapp or a job with a request
body for its programs (``X-Zerovm-Source`` with data, ``/api/``) cannot be deferred (400):
its request resources end with the request.  A client that leaves a deferrable job does not
cancel it.

Cancelling: write the cancel mark ``<job id>.cancel`` (any content), e.g.
``swift upload``, ``curl -X PUT -d '' $STORAGE_URL/.zerocloud-jobs/<id>.cancel`` or
``zerocloud submit --cancel swift://...``.  Swift authorizes it as a write to the jobs
container (the account owner, or its write ACL), and every proxy process can see it: the
running job looks for the mark each time it writes its status and once more before it
publishes; it then cancels its sessions, publishes nothing and ends ``cancelled``.  A mark
written after publishing began is too late (the job ends ``done``).

A proxy that stops (restart, crash) loses its running deferred jobs: their status stays
``running`` and its ``updated`` time stops moving.
"""
import io
import json
import tempfile
import time

from swift.common import swob
from swift.common.http import is_success

from zerocloud import green
from zerocloud.proxy_middleware import report_object

HEADER = 'X-Zerovm-Deferred'
ALWAYS, AUTO, NEVER = 'always', 'auto', 'never'
STATUS_INTERVAL = 1.0   # seconds between two status writes (and cancel-mark checks)
CANCEL_REASON = 'cancelled by its owner (%s.cancel)'


def mode_of(req):
    """The request's deferral mode (``never`` without the header).

    :raises HTTPBadRequest: an unknown value, named.
    """
    value = req.headers.get(HEADER)
    mode = NEVER if value is None else value.strip().lower()
    if mode not in (ALWAYS, AUTO, NEVER):
        raise swob.HTTPBadRequest(body='%s: expected always, auto or never, not %r\n'
                                       % (HEADER, value), content_type='text/plain')
    return mode


def answer(job, plan):
    """Run the accepted ``plan`` of ``job`` (an :class:`.execution.JobRun`) as its request
    asks: to its end (``never``), deferred at once (``always``) or after
    ``zerovm_deferred_after`` seconds (``auto``).

    :raises HTTPException: 400 for a bad or impossible deferral; 403/404/503 when
        ``always`` cannot write the jobs container.
    """
    mode = mode_of(job.req)
    if mode == NEVER:
        return job.run_plan(plan)
    if getattr(job, 'image', None) is not None or not isinstance(job.payload, bytes):
        job.abandon()
        raise swob.HTTPBadRequest(body='%s: a zapp, or a job whose request body is data for '
                                       'its programs, cannot be deferred\n' % HEADER,
                                  content_type='text/plain')
    why = report_object.ensure_jobs_container(job.swift, job.route.account)
    if why is not None and mode == AUTO:
        return job.run_plan(plan)
    if why is not None:
        job.abandon()
        code = why.rsplit(': ', 1)[-1][:3]
        raise swob.HTTPException(status=int(code) if code in ('401', '403', '404') else 503,
                                 body='%s: cannot write the job objects: %s\n' % (HEADER, why),
                                 content_type='text/plain')
    deferred = DeferredJob(job, plan)
    runner = green.spawn(deferred.run)
    if mode == ALWAYS:
        return deferred.defer()
    return deferred.wait_or_defer(runner, job.config.deferred_after_seconds)


class DeferredJob:
    """One deferrable job: runs it, and once deferred keeps its status object and stores its
    answer (module docstring)."""

    def __init__(self, job, plan):
        self.job = job
        self.plan = plan
        base = '/%s/%s/%s' % (job.route.account, report_object.JOBS_CONTAINER, job.job_id)
        self.paths = {'body': base, 'headers': base + '.headers',
                      'status': base + '.status', 'cancel': base + '.cancel'}
        self.url = 'swift:/' + base
        self.deferred = False
        self.cancelled = False
        self.state = 'queued'
        self.started = time.time()
        self.counts = {'total': len(plan.instances), 'done': 0, 'failed': 0}
        self.bytes = 0
        self.closing = False    # the verdict began: too late to cancel
        self._updater = None
        self._sleeping = False
        job.session_ended = self.session_ended
        job.before_verdict = self.last_cancel_check

    def run(self):
        """The job's green thread: run every session, then store or hand over the answer."""
        self.state = 'running'
        try:
            response = self.job.run_plan(self.plan, watch_client=False)
        except swob.HTTPException as error:
            response = error
        except Exception:
            self.job.logger.exception('zerocloud: deferred job %s failed', self.url)
            response = swob.HTTPInternalServerError(body='zerocloud: internal error\n',
                                                    content_type='text/plain')
        if not self.deferred:
            return response
        self._stop_updater()
        self.store(response)
        return None

    def defer(self):
        """Switch to deferred: write the first status, start its updates, answer 202."""
        self.deferred = True
        self.write_status()
        self._updater = green.spawn(self._update_loop)
        return swob.HTTPAccepted(body='%s\n' % self.url, content_type='text/plain',
                                 headers={'X-Zerovm-Deferred-Url': self.url})

    def wait_or_defer(self, runner, seconds):
        """``auto``: the job's own answer if it ends within ``seconds``, else 202."""
        try:
            with green.Timeout(seconds):
                return runner.wait()
        except green.Timeout:
            return self.defer()   # no yield between the check and the switch

    def session_ended(self, result):
        """Count an ended session (a hook of the job)."""
        self.counts['done'] += 1
        self.counts['failed'] += result.failure_reason is not None
        self.bytes += sum(spool.size for spool in result.outputs.values())

    def check_cancel(self):
        """Cancel the job when its cancel mark exists (deferred jobs, before the verdict)."""
        if not self.deferred or self.cancelled or self.closing:
            return
        try:
            self.job.swift.head(self.paths['cancel'])
        except swob.HTTPException:   # no mark (404), or it cannot be read: not cancelled
            return
        if not self.closing:   # the verdict may have begun while we asked
            self.cancelled = True
            self.job.threads.cancel(CANCEL_REASON % self.url)

    def last_cancel_check(self):
        """Before the verdict (a hook of the job): a last look for the cancel mark; from
        then on, the job publishes or not and a mark is too late."""
        self.check_cancel()
        self.closing = True

    def _update_loop(self):
        while True:
            self._sleeping = True
            green.sleep(STATUS_INTERVAL)
            self._sleeping = False
            try:
                self.check_cancel()
                self.write_status()
            except Exception:   # logged; the next round tries again
                self.job.logger.exception('zerocloud: deferred job %s: status', self.url)

    def _stop_updater(self):
        """Stop the status updates: at once while the updater sleeps, else after its
        current write (never in the middle of a subrequest)."""
        updater, self._updater = self._updater, None
        if updater is None:
            return
        if self._sleeping:
            updater.kill()
            return
        self.closing = True
        while not self._sleeping and not updater.dead:
            green.sleep(0.05)
        updater.kill()

    def status(self, response=None):
        """The status document (module docstring)."""
        error = None if response is None else response.headers.get('X-Nexe-Error')
        return {'job': self.job.job_id, 'url': self.url, 'state': self.state,
                'instances': dict(self.counts), 'bytes': self.bytes,
                'elapsed_seconds': round(time.time() - self.started, 3),
                'updated': round(time.time(), 3),
                'http_status': None if response is None else response.status_int,
                'error': None if error is None else swob.wsgi_to_str(error)}

    def write_status(self, response=None):
        self._put_json(self.paths['status'], self.status(response))

    def store(self, response):
        """Store the body, the headers, then the final status."""
        try:
            self._put_body(response)
            headers = {swob.wsgi_to_str(name): swob.wsgi_to_str(value)
                       for name, value in response.headers.items()}
            self._put_json(self.paths['headers'], headers)
        finally:
            close = getattr(response.app_iter, 'close', None)
            if close is not None:
                close()
        failed = not is_success(response.status_int) or 'X-Nexe-Error' in response.headers
        self.state = 'cancelled' if self.cancelled else 'failed' if failed else 'done'
        self.write_status(response)

    def _put_body(self, response):
        chunks = iter(response.app_iter if response.app_iter is not None
                      else [response.body])
        with tempfile.TemporaryFile(prefix='zerocloud-deferred-') as spooled:
            length = response.content_length
            if length is None:   # no length to announce: spool it to learn it
                for chunk in chunks:
                    spooled.write(chunk)
                length = spooled.tell()
                spooled.seek(0)
                chunks = iter(lambda: spooled.read(65536), b'')
            resp = self.job.swift.put_file(self.paths['body'], IterReader(chunks), length,
                                           response.content_type or 'text/plain', {})
        if not is_success(resp.status_int):
            self.job.logger.error('zerocloud: deferred job %s: storing its body: %s',
                                  self.url, resp.status)

    def _put_json(self, path, document):
        data = json.dumps(document).encode()
        resp = self.job.swift.put_file(path, io.BytesIO(data), len(data),
                                       'application/json', {})
        if not is_success(resp.status_int):
            self.job.logger.error('zerocloud: deferred job %s: writing %s: %s',
                                  self.url, path, resp.status)


class IterReader:
    """A file-like ``read(size)`` over an iterator of byte chunks (a streamed PUT body)."""

    def __init__(self, chunks):
        self._chunks = chunks
        self._buffer = b''

    def read(self, size=-1):
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            data, self._buffer = self._buffer, b''
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data
