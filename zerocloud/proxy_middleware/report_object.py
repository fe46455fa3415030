"""Responses of any size: the full per-instance report as an object the response links to.

Up to :data:`INLINE_INSTANCES` instances (and while every per-instance header stays under
:data:`INLINE_HEADER_BYTES`), a job's response carries SPEC S5's per-instance ``X-Nexe-*``
headers.  A larger job would send headers no standard client reads (python's http.client,
hence requests and swiftclient, refuse a header line over 64 KiB: about 1,800 instances of
``X-Nexe-Cdr-Line``), so its per-instance headers become summaries (:mod:`.results`) and
the full report is stored as a JSON object (``application/json``), written as the caller::

    /<account>/.zerocloud-jobs/<job id>.report

``<account>`` is the account the job was POSTed to; the container :data:`JOBS_CONTAINER`
is created (as the caller) when missing.  The response links it with
``X-Nexe-Report: swift://<account>/.zerocloud-jobs/<job id>.report``.  When it cannot be
stored (the caller may not create or write that container, e.g. an ``/api/`` caller in
someone else's account), the response has the summary alone and ``X-Nexe-Report-Error``
saying why.  Reports are not removed by zerocloud: delete them (or the container) when no
longer needed.

The report (:func:`report_chunks`)::

    {"version": 1, "error": "<X-Nexe-Error or null>", "total_seconds": 12.5,
     "instances": [{"name": "wc-1", "server": "127.0.0.1:6010", "status": "ok",
                    "retcode": 0, "validation": 2, "colocated": true,
                    "cdr": {"seconds": 0.012, "sys": 0.0, "user": 0.0, "reads": 2, ...}},
                   ...]}

in instance order; ``validation`` is S4's code (0 valid, 1 rejected, 2 not checked).  It is
written from a temporary file, never held whole in memory.
"""
import json
import tempfile
import time
import uuid

from swift.common import swob
from swift.common.http import is_success
from swift.common.wsgi import make_subrequest

from zerocloud.proxy_middleware.swift_access import SWIFT_SOURCE
from zerocloud.report import CDR_FIELDS

INLINE_INSTANCES = 100        # per-instance headers up to this many instances ...
INLINE_HEADER_BYTES = 8192    # ... while each of them stays under this many bytes
JOBS_CONTAINER = '.zerocloud-jobs'
REPORT_SUFFIX = '.report'
REPORT_VERSION = 1


def new_job_id():
    """A unique, time-sortable job id: ``20240131-235959-<12 hex digits>``."""
    return '%s-%s' % (time.strftime('%Y%m%d-%H%M%S', time.gmtime()), uuid.uuid4().hex[:12])


def fits_inline(headers):
    """True when every header value is short enough to send per instance."""
    return all(len(value) <= INLINE_HEADER_BYTES for value in headers.values())


def instance_entry(result):
    """One instance of the report, as a dict."""
    report = result.report
    cdr = {'seconds': round(report.wall_seconds, 6)}
    cdr.update((name, getattr(report.cdr, name)) for name in CDR_FIELDS)
    return {'name': result.instance.name, 'server': result.node or None,
            'status': report.status_text, 'retcode': report.retcode,
            'validation': report.validation, 'colocated': bool(result.local_object),
            'cdr': cdr}


def report_chunks(results, error):
    """The report document (see the module docstring), as byte chunks, one per instance."""
    total = sum(result.report.wall_seconds for result in results)
    yield ('{"version": %d, "error": %s, "total_seconds": %s, "instances": ['
           % (REPORT_VERSION, json.dumps(error), json.dumps(round(total, 6)))).encode()
    for index, result in enumerate(results):
        yield ((', ' if index else '') + json.dumps(instance_entry(result))).encode()
    yield b']}\n'


class ReportStore:
    """Stores a job's report in the caller's :data:`JOBS_CONTAINER` (module docstring).

    ``swift`` is the job's :class:`~.swift_access.SwiftAccess`; calling the store with the
    results and the error returns the headers that link the report, or say why it was not
    stored.
    """

    def __init__(self, swift, account, job_id):
        self.swift = swift
        self.account = account
        self.path = '/%s/%s/%s%s' % (account, JOBS_CONTAINER, job_id, REPORT_SUFFIX)

    def __call__(self, results, error):
        why = ensure_jobs_container(self.swift, self.account)
        if why is None:
            why = self._write(results, error)
        if why is None:
            return {'X-Nexe-Report': swob.str_to_wsgi('swift:/' + self.path)}
        return {'X-Nexe-Report-Error': 'report not stored: %s' % why}

    def _write(self, results, error):
        with tempfile.TemporaryFile(prefix='zerocloud-report-') as handle:
            for chunk in report_chunks(results, error):
                handle.write(chunk)
            size = handle.tell()
            handle.seek(0)
            resp = self.swift.put_file(self.path, handle, size, 'application/json', {})
        if is_success(resp.status_int):
            return None
        return 'PUT %s: %s' % (self.path, resp.status)


def ensure_jobs_container(swift, account):
    """Create ``/<account>/.zerocloud-jobs`` as the caller when it does not exist.

    :returns: None when it exists (or was created), else why not (``'PUT ...: 403
        Forbidden'``).
    """
    info = swift.container_info(account, JOBS_CONTAINER)
    if is_success(info.get('status') or 404):
        return None
    path = '/v1/%s/%s' % (account, JOBS_CONTAINER)
    sub = make_subrequest(swift.req.environ, method='PUT',
                          path=swob.wsgi_quote(swob.str_to_wsgi(path)),
                          agent='%(orig)s ZeroCloud', swift_source=SWIFT_SOURCE)
    resp = sub.get_response(swift.app)
    resp.body  # small: read, so the subrequest's resources are released
    if is_success(resp.status_int):
        return None
    return 'PUT %s: %s' % (path[3:], resp.status)
