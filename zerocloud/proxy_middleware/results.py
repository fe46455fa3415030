"""What came back from each session, and the job response built from it (SPEC S5).

An object server's answer is read frame by frame (:func:`read_result`): ``wait`` heartbeats
are skipped, every ``out:<device>`` frame goes to that channel's spool file, the report comes
last.  The response (:func:`build_response`) carries the ``X-Nexe-*`` headers and streams the
path-less outputs from their spools (``message/http``/``message/cgi`` outputs give it their
status and safe headers, :mod:`.http_output`); the spools are closed when the response is.
"""
import collections
import dataclasses
import uuid

from swift.common import swob

from zerocloud import report as rpt
from zerocloud import wire, wire_decode
from zerocloud.proxy_middleware import http_output, report_object

MAX_ERROR_HEADER = 4000
LIMIT_STATUSES = (rpt.STATUS_OUTPUT_LIMIT, rpt.STATUS_INPUT_LIMIT)


@dataclasses.dataclass
class SessionResult:
    """One session's outcome: report, spooled outputs by device, where it ran.

    ``retry`` says the program never started because of the server (another may run it).
    """
    instance: object
    node: str
    report: rpt.Report
    outputs: dict
    local_object: bool = False
    retry: bool = False

    @classmethod
    def failure(cls, instance, node, reason, status=rpt.STATUS_ERROR):
        """A result for a session that did not run to its end for ``reason``."""
        return cls(instance, node, rpt.Report(status=status, reason=reason), {})

    @classmethod
    def cancelled(cls, instance, reason):
        """The result of a session its job cancelled (``reason``) before it ended."""
        return cls.failure(instance, '', 'cancelled: %s' % reason)

    @property
    def failure_reason(self):
        """Why the session failed, or None when it ran to its end (any exit code)."""
        if self.report.ok:
            return None
        text = self.report.status_text
        if self.report.validation_reasons and self.report.status == rpt.STATUS_VALIDATION:
            text = '%s: %s' % (text, '; '.join(self.report.validation_reasons))
        return text


def read_result(instance, node, frames, spools):
    """Read an object server's 200 answer (``(name, chunk)`` frames) into a result.

    :raises OutputTooLarge: (from the spool) when a channel crosses ``zerovm_maxoutput``.
    :raises wire.WireError: for an answer that breaks the format (no report...).
    """
    outputs, report_data = {}, None
    for name, chunk in frames:
        if name == wire.WAIT:
            continue
        if name.startswith(wire.OUTPUT_PREFIX):
            device = name[len(wire.OUTPUT_PREFIX):]
            if device not in outputs:
                outputs[device] = spools.new('%s: %s' % (instance.name, device))
            outputs[device].write(chunk)
        elif name == wire.REPORT:
            report_data = (report_data or b'') + chunk
        else:
            raise wire.WireError('unexpected frame %r' % name)
    if report_data is None:
        raise wire.WireError('the answer has no report')
    data = wire_decode.decode_json(wire.REPORT, report_data)
    try:
        report = rpt.Report.from_dict(data)
    except (TypeError, ValueError) as err:
        raise wire.WireError('bad report: %s' % err)
    return SessionResult(instance, str(data.get('node') or node), report, outputs,
                         bool(data.get('local_object')), data.get('retry') is True)


def first_failure(results):
    """``'<instance> failed: <why>'`` for the first failed result, or None."""
    for result in results:
        reason = result.failure_reason
        if reason is not None:
            return '%s failed: %s' % (result.instance.name, reason)
    return None


def _joined(results, value):
    return ','.join(str(value(result)) for result in results)


def header_text(text, limit=MAX_ERROR_HEADER):
    """``text`` made safe for a header value: one line, bounded, as a WSGI string whose bytes
    are its UTF-8 (the way Swift sends object names in headers; what UTF-8 cannot carry,
    a lone surrogate, is escaped)."""
    text = ' '.join(str(text).split())[:limit]
    return text.encode('utf-8', 'backslashreplace').decode('latin-1')


# The per-instance headers that a summary counts by value (the others are summarised apart).
COUNTED_HEADERS = (
    ('X-Nexe-Status', lambda r: r.report.status_text.replace(',', ';')),
    ('X-Nexe-Retcode', lambda r: '' if r.report.retcode is None else r.report.retcode),
    ('X-Nexe-Validation', lambda r: r.report.validation),
    ('X-Nexe-Colocated', lambda r: int(r.local_object)),
    ('X-Nexe-Node', lambda r: r.node),
)
SUMMARY_VALUES = 10   # distinct values a summary header lists (then ``other*N``)
SUMMARY_VALUE_CHARS = 256


def nexe_headers(results, error=None, store_report=None, job_seconds=None):
    """The ``X-Nexe-*`` headers of the results (S5), in instance order.

    Beyond :data:`.report_object.INLINE_INSTANCES` instances (or when a per-instance header
    would pass :data:`.report_object.INLINE_HEADER_BYTES`), they are summaries
    (:func:`summary_headers`) and ``store_report(results, error)`` (a
    :class:`.report_object.ReportStore`) stores the full report and returns the headers
    that link it; without one, ``X-Nexe-Report-Error`` says it was not stored.
    ``job_seconds``, the job's wall time, is the first figure of ``X-Nexe-Cdr-Line`` (S5;
    without it, the sum of the sessions' times).
    """
    error = error or first_failure(results)
    headers = None
    if len(results) <= report_object.INLINE_INSTANCES:
        headers = inline_headers(results, job_seconds)
    if headers is None or not report_object.fits_inline(headers):
        headers = summary_headers(results, job_seconds)
        headers.update(store_report(results, error) if store_report else
                       {'X-Nexe-Report-Error': 'report not stored: no place to store it'})
    headers.update({'Etag': uuid.uuid4().hex, 'Cache-Control': 'no-cache'})
    if error:
        headers['X-Nexe-Error'] = header_text(error)
    return headers


def inline_headers(results, job_seconds=None):
    """S5's per-instance headers: one comma-joined value per instance."""
    headers = {'X-Nexe-System': _joined(results, lambda r: r.instance.name),
               'X-Nexe-Etag': _joined(results, lambda r: uuid.uuid4().hex),
               'X-Nexe-Cdr-Line': cdr_line(results, job_seconds)}
    headers.update((name, header_text(_joined(results, value), 1 << 16))
                   for name, value in COUNTED_HEADERS)
    return headers


def summary_headers(results, job_seconds=None):
    """Bounded headers for a job of any size.

    ``X-Nexe-Summary``: the number of instances (its presence says the others are
    summaries); ``X-Nexe-System``: ``<first>..<last>`` instance names;
    ``X-Nexe-Status``, ``-Retcode``, ``-Validation``, ``-Colocated``, ``-Node``: each
    distinct value with its count, most frequent first (``ok*2499,killed by signal
    SIGSEGV*1``; beyond ten values ``other*N``; each value cut at 256 characters); ``X-Nexe-Etag``: one value;
    ``X-Nexe-Cdr-Line``: the total time, then the sums of every instance's node time and
    counters as one entry.
    """
    names = [result.instance.name for result in results]
    headers = {'X-Nexe-Summary': str(len(results)),
               'X-Nexe-System': '%s..%s' % (names[0], names[-1]) if names else '',
               'X-Nexe-Etag': uuid.uuid4().hex,
               'X-Nexe-Cdr-Line': cdr_sum_line(results, job_seconds)}
    headers.update((name, counted(header_text(value(result), SUMMARY_VALUE_CHARS)
                                  for result in results))
                   for name, value in COUNTED_HEADERS)
    return headers


def counted(values):
    """``'ok*2499,timeout*1'``: each distinct value and its count, most frequent first
    (ties in order of first appearance), at most :data:`SUMMARY_VALUES` then ``other*N``."""
    counts = collections.Counter(values)
    ranked = counts.most_common()
    shown = ['%s*%d' % item for item in ranked[:SUMMARY_VALUES]]
    rest = sum(count for _, count in ranked[SUMMARY_VALUES:])
    if rest:
        shown.append('other*%d' % rest)
    return ','.join(shown)


def build_response(results, spools, status=200, error=None, store_report=None,
                   job_seconds=None):
    """The job response: headers from the results (:func:`nexe_headers`, with
    ``store_report``), body streamed from the path-less outputs' spools (closed with the
    response).

    When the job succeeded (no ``error``, status 200), ``message/http`` and ``message/cgi``
    outputs are parsed (:mod:`.http_output`): the first head that parses gives the status
    and its safe fields; every parsed head is left out of the body.  A failed job's outputs
    are sent raw: a program's status must not hide the failure.
    """
    parse = error is None and status == 200
    parts = [http_output.OutputPart.of(result.outputs[name], device.content_type, parse)
             for result in results for name, device in result.instance.devices.items()
             if device.url is None and name in result.outputs]
    headers = nexe_headers(results, error, store_report, job_seconds)
    content_type = next((part.content_type for part in parts if part.content_type),
                        'text/plain')
    head = next((part.head for part in parts if part.head), None)
    if head is not None:
        status = head.status_line
        headers.update(field for field in http_output.response_fields(head)
                       if field[0].lower() != 'content-type')
        if head.status in http_output.NO_BODY_STATUSES:
            parts = []
    return swob.Response(status=status, app_iter=SpoolBody(parts, spools), headers=headers,
                         content_length=sum(part.size for part in parts),
                         content_type=header_text(content_type, 256))


class SpoolBody:
    """An ``app_iter`` over the bodies of output parts (:class:`.http_output.OutputPart`)
    that closes every spool of the job when it is closed or read to its end.

    It is its own iterator: a middleware that takes ``iter(app_iter)`` and later closes
    what it took (Swift's ``reiterate`` does) closes this object, so the spools' files are
    closed with the response, not when the garbage collector finds them.
    """

    def __init__(self, parts, spools):
        self._spools = spools
        self._chunks = self._generate(parts)

    def _generate(self, parts):
        for part in parts:
            yield from part.spool.chunks(part.offset)

    def __iter__(self):
        return self

    def __next__(self):
        try:
            return next(self._chunks)
        except StopIteration:
            self.close()
            raise

    def close(self):
        self._chunks.close()
        self._spools.close()


def _total(results, job_seconds):
    if job_seconds is not None:
        return job_seconds
    return sum(result.report.wall_seconds for result in results)


def cdr_line(results, job_seconds=None):
    """The job's time, then per instance: node time and the ten CDR counters."""
    total = _total(results, job_seconds)
    per_instance = [result.report.cdr.cdr_line(result.report.wall_seconds)
                    for result in results]
    return ', '.join(['%.3f' % total] + per_instance)


def cdr_sum_line(results, job_seconds=None):
    """The job's time, then one entry: the sums of every instance's node time and
    counters."""
    node_total = sum(result.report.wall_seconds for result in results)
    sums = {name: sum(getattr(result.report.cdr, name) for result in results)
            for name in rpt.CDR_FIELDS}
    for name in ('sys', 'user'):
        sums[name] = float(sums[name])
    return '%.3f, %s' % (_total(results, job_seconds),
                         rpt.Accounting(**sums).cdr_line(node_total))
