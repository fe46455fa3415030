"""Accounting records of jobs, stored as objects in the stats account (SPEC S8).

With ``zerovm_accounting_enabled = yes`` the proxy keeps one record per finished job (JSON):
``account``, ``job`` (the request's transaction id), ``time`` (the end, UNIX seconds),
``status`` (the answer's HTTP status), ``wall_seconds`` (the job's), ``instances``, and the
sums over its sessions of ``cpu_seconds`` (system + user) and the bytes read and written on
local and network channels, plus ``sessions``: per status, how many.

Records are batched in memory and written by a green thread of the proxy process, never by
the job: one object per batch, ``/v1/<user_stats_account>/<account>/<YYYY-MM-DD>/
<time>-<pid>-<n>.jsonl`` (one JSON record per line; containers are made as needed), at most
every :data:`FLUSH_SECONDS` or when :data:`FLUSH_RECORDS` wait, and at process exit.  The
writes are pre-authorized subrequests through the rest of the pipeline (the proxy writes
them, not the job's user: users cannot forge or delete their records unless given rights on
the stats account).  A batch that cannot be stored is logged and dropped (at most
:data:`MAX_PENDING` records are kept, so a stats account that is down cannot fill memory).
"""
import atexit
import json
import os
import time

from swift.common.wsgi import make_pre_authed_request

from zerocloud import green

FLUSH_SECONDS = 5.0
FLUSH_RECORDS = 1000
MAX_PENDING = 100_000
SWIFT_SOURCE = 'ZCA'
ENV_KEYS = ('swift.cache', 'SERVER_NAME', 'SERVER_PORT', 'HTTP_HOST', 'wsgi.url_scheme')


def job_record(account, job_id, status, wall_seconds, results):
    """The accounting record of one job (see the module docstring)."""
    sessions = {}
    totals = dict(cpu_seconds=0.0, bytes_read=0, bytes_written=0)
    for result in results:
        report = result.report
        sessions[report.status] = sessions.get(report.status, 0) + 1
        totals['cpu_seconds'] += report.cdr.sys + report.cdr.user
        totals['bytes_read'] += report.cdr.rbytes + report.cdr.nrbytes
        totals['bytes_written'] += report.cdr.wbytes + report.cdr.nwbytes
    totals['cpu_seconds'] = round(totals['cpu_seconds'], 6)
    return dict(account=account, job=job_id, time=round(time.time(), 3), status=status,
                wall_seconds=round(wall_seconds, 6), instances=len(results),
                sessions=sessions, **totals)


class Accountant:
    """Batches records and stores them in ``stats_account`` through ``app``."""

    def __init__(self, app, stats_account, logger, clock=time.time):
        self.app = app
        self.stats_account = stats_account
        self.logger = logger
        self.clock = clock
        self.pending = []
        self.env = None
        self.sequence = 0
        self._flusher = None
        atexit.register(self.flush)

    def record(self, env, record):
        """Keep ``record`` (never blocks; the request's ``env`` lends its cache and host)."""
        if len(self.pending) >= MAX_PENDING:
            self.logger.error('zerocloud: accounting: %d records waiting, dropping one',
                              len(self.pending))
            return
        self.env = {key: env[key] for key in ENV_KEYS if key in env}
        self.pending.append(record)
        if len(self.pending) >= FLUSH_RECORDS:
            green.spawn(self.flush)
        elif self._flusher is None:
            self._flusher = green.spawn_after(FLUSH_SECONDS, self._timed_flush)

    def _timed_flush(self):
        self._flusher = None
        self.flush()

    def flush(self):
        """Store what waits, one object per account; returns the number of records stored."""
        records, self.pending = self.pending, []
        by_account = {}
        for record in records:
            by_account.setdefault(record['account'], []).append(record)
        stored = 0
        for account, batch in by_account.items():
            if self._store(account, batch):
                stored += len(batch)
        return stored

    def _store(self, account, batch):
        day = time.strftime('%Y-%m-%d', time.gmtime(batch[-1]['time']))
        self.sequence += 1
        container = '/v1/%s/%s' % (self.stats_account, account)
        name = '%s/%s/%d-%d-%d.jsonl' % (container, day, int(self.clock() * 1000),
                                         os.getpid(), self.sequence)
        body = ''.join(json.dumps(record, sort_keys=True) + '\n' for record in batch)
        for method, path, data in (('PUT', container, b''),
                                   ('PUT', name, body.encode('utf-8'))):
            status = self._request(method, path, data)
            if status // 100 != 2:
                self.logger.error('zerocloud: accounting: %s %s answered %s: %d records '
                                  'dropped', method, path, status, len(batch))
                return False
        return True

    def _request(self, method, path, body):
        env = dict(self.env or {}, REQUEST_METHOD=method, PATH_INFO=path)
        req = make_pre_authed_request(env, method=method, path=path, body=body,
                                      headers={'Content-Type': 'application/x-ndjson'},
                                      agent='%(orig)s ZeroCloud accounting',
                                      swift_source=SWIFT_SOURCE)
        try:
            return req.get_response(self.app).status_int
        except Exception as exc:   # a stats account that fails must not fail anything else
            self.logger.error('zerocloud: accounting: %s %s failed: %s', method, path, exc)
            return 599
