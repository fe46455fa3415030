"""Operator metrics through Swift's logger (statsd when the server's ``log_statsd_host`` is
set; nothing otherwise), both filters.

Swift's logger prefixes every name with the server's ``log_statsd_metric_prefix`` and
``log_name`` (``proxy-server.``, ``object-server.``), so these sit beside Swift's own.
The statsd settings are read from the filter's section merged with ``[DEFAULT]``.

Proxy:
    ``jobs`` (counter), ``answers.<status>`` (counter per HTTP status, e.g. ``answers.200``,
    ``answers.413``), ``job.timing`` (milliseconds from the request to its answer's head,
    the body streamed after), and ``open`` / ``api`` (counters per web-app request).

Object server:
    ``sessions.<status>`` (counter per session outcome: ``ok``, ``nonzero-exit``,
    ``timeout``, ``killed``, ``output-limit``, ``error`` ...), ``session.start.timing``
    (from the request to the program start: admission wait, transfers, set-up),
    ``session.run.timing`` (the program's wall time), ``bytes.in`` / ``bytes.out``
    (counters: channel bytes read and written, local and network), ``admission.rejected``
    (a full pool and queue answered 503 busy), ``cache.executable.hit|miss``,
    ``cache.input.hit|miss`` and ``cache.image.hit|miss``.

Each call is a UDP datagram at most (Swift's ``StatsdClient``); none waits for anything.
"""
import time


def _safe(name):
    """A metric name part without the characters statsd uses as separators."""
    return ''.join(ch if ch.isalnum() or ch in '-_' else '_' for ch in str(name)) or 'none'


def job_answered(logger, status_int, started):
    """A job (or web-app request) was answered with ``status_int``."""
    logger.increment('answers.%d' % status_int)
    logger.timing_since('job.timing', started)


def session_ended(logger, report, received):
    """One session ended with ``report`` (:class:`zerocloud.report.Report`); ``received``
    is the ``time.time()`` its request arrived."""
    logger.increment('sessions.%s' % _safe(report.status))
    run_ms = report.wall_seconds * 1000
    logger.timing('session.run.timing', run_ms)
    start_ms = (time.time() - received) * 1000 - run_ms
    if start_ms >= 0:
        logger.timing('session.start.timing', start_ms)
    cdr = report.cdr
    if cdr.rbytes or cdr.nrbytes:
        logger.update_stats('bytes.in', cdr.rbytes + cdr.nrbytes)
    if cdr.wbytes or cdr.nwbytes:
        logger.update_stats('bytes.out', cdr.wbytes + cdr.nwbytes)


def cache_lookup(logger, cache, found):
    """A cache (``executable``, ``input``, ``image``) was asked for a file by ETag."""
    logger.increment('cache.%s.%s' % (_safe(cache), 'hit' if found else 'miss'))


def admission_rejected(logger):
    logger.increment('admission.rejected')
