"""Collecting session results and building the job response (SPEC S5)."""
import dataclasses

import uuid

from swift.common import swob

from zerocloud import wire
from zerocloud.report import Report, STATUS_ERROR

RESPONSE_DEVICES = ('stdout', 'stderr', 'output')


@dataclasses.dataclass
class SessionResult:
    """What came back from one session: report, outputs by device, where it ran."""
    instance: object
    node: str
    report: Report
    outputs: dict
    local_object: bool = False
    errors: list = dataclasses.field(default_factory=list)

    @classmethod
    def from_wire(cls, instance, node, payload):
        """Decode an object server's response body; a broken one becomes an error report."""
        try:
            parts = wire.read_parts(wire.bytes_reader(payload), len(payload))
            data = wire.decode_json(wire.REPORT, parts[wire.REPORT])
            report = Report.from_dict(data)
        except (wire.WireError, KeyError, TypeError, ValueError) as err:
            return cls(instance, node, Report(status=STATUS_ERROR,
                                              reason='bad answer from %s: %s' % (node, err)),
                       {})
        outputs = {name[len(wire.OUTPUT_PREFIX):]: value for name, value in parts.items()
                   if name.startswith(wire.OUTPUT_PREFIX)}
        return cls(instance, data.get('node') or node, report, outputs,
                   bool(data.get('local_object')))


def _joined(results, value):
    return ','.join(str(value(result)) for result in results)


def build_response(results):
    """The job response: X-Nexe-* headers in instance order, body = path-less outputs."""
    body, content_type = [], None
    for result in results:
        for name, device in result.instance.devices.items():
            if device.url is None and name in result.outputs:
                body.append(result.outputs[name])
                content_type = content_type or device.content_type
    headers = {
        'X-Nexe-System': _joined(results, lambda r: r.instance.name),
        'X-Nexe-Status': _joined(results, lambda r: r.report.status_text.replace(',', ';')),
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
    errors = [error for result in results for error in result.errors]
    errors += ['%s: %s' % (r.instance.name, '; '.join(r.report.validation_reasons))
               for r in results if r.report.validation_reasons]
    if errors:
        headers['X-Nexe-Error'] = ' | '.join(errors).replace('\n', ' ')[:4000]
    return swob.Response(status=200, body=b''.join(body), headers=headers,
                         content_type=content_type or 'text/plain')


def cdr_line(results):
    """Total time, then per instance: node time and the ten CDR counters."""
    total = sum(result.report.wall_seconds for result in results)
    per_instance = [result.report.cdr.cdr_line(result.report.wall_seconds)
                    for result in results]
    return ', '.join(['%.3f' % total] + per_instance)


