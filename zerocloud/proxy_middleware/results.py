"""What came back from each session, and the job response built from it (SPEC S5).

An object server's answer is read frame by frame (:func:`read_result`): ``wait`` heartbeats
are skipped, every ``out:<device>`` frame goes to that channel's spool file, the report comes
last.  The response (:func:`build_response`) carries the ``X-Nexe-*`` headers and streams the
path-less outputs from their spools (``message/http``/``message/cgi`` outputs give it their
status and safe headers, :mod:`.http_output`); the spools are closed when the response is.
"""
import dataclasses
import uuid

from swift.common import swob

from zerocloud import report as rpt
from zerocloud import wire
from zerocloud.proxy_middleware import http_output

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
    data = wire.decode_json(wire.REPORT, report_data)
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


def nexe_headers(results, error=None):
    """The ``X-Nexe-*`` headers of the results, in instance order (S5)."""
    headers = {
        'X-Nexe-System': _joined(results, lambda r: r.instance.name),
        'X-Nexe-Status': header_text(_joined(
            results, lambda r: r.report.status_text.replace(',', ';')), 1 << 16),
        'X-Nexe-Retcode': _joined(results, lambda r: '' if r.report.retcode is None
                                  else r.report.retcode),
        'X-Nexe-Validation': _joined(results, lambda r: r.report.validation),
        'X-Nexe-Etag': _joined(results, lambda r: uuid.uuid4().hex),
        'X-Nexe-Cdr-Line': cdr_line(results),
        'X-Nexe-Colocated': _joined(results, lambda r: int(r.local_object)),
        'X-Nexe-Node': _joined(results, lambda r: r.node),
        'Etag': uuid.uuid4().hex,
        'Cache-Control': 'no-cache',
    }
    error = error or first_failure(results)
    if error:
        headers['X-Nexe-Error'] = header_text(error)
    return headers


def build_response(results, spools, status=200, error=None):
    """The job response: headers from the results, body streamed from the path-less
    outputs' spools (closed with the response).

    When the job succeeded (no ``error``, status 200), ``message/http`` and ``message/cgi``
    outputs are parsed (:mod:`.http_output`): the first head that parses gives the status
    and its safe fields; every parsed head is left out of the body.  A failed job's outputs
    are sent raw: a program's status must not hide the failure.
    """
    parse = error is None and status == 200
    parts = [http_output.OutputPart.of(result.outputs[name], device.content_type, parse)
             for result in results for name, device in result.instance.devices.items()
             if device.url is None and name in result.outputs]
    headers = nexe_headers(results, error)
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


def cdr_line(results):
    """Total time, then per instance: node time and the ten CDR counters."""
    total = sum(result.report.wall_seconds for result in results)
    per_instance = [result.report.cdr.cdr_line(result.report.wall_seconds)
                    for result in results]
    return ', '.join(['%.3f' % total] + per_instance)

