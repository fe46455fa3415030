"""All-or-nothing publishing of a job's outputs (SPEC S2.7, DESIGN decision 13).

Only a job whose every session succeeded publishes, and it publishes every output or none:
each writable device with a ``swift://`` path becomes that object with a streamed PUT as the
caller, read from its spool file (``content_type``, ``meta``; an empty output is a zero-byte
object; an output shorter than its ``min_size`` is not published, by design; a
``message/http``/``message/cgi`` output is published without its head, whose
``Content-Type`` and ``X-Object-Meta-*`` apply to the object, :mod:`.http_output`).  If one PUT
fails, the objects this job already published are deleted again and the job's answer is that
PUT's error (its 4xx status, else 503) naming the path.  Swift has no transactions: a reader
may see an output between its PUT and the rollback, and a rolled-back PUT that replaced an
older object leaves no object, not the older one.
"""
from swift.common import swob
from swift.common.http import is_success

from zerocloud import job as joblib
from zerocloud.proxy_middleware import http_output
from zerocloud.proxy_middleware.describe import swift_path


def outputs_to_publish(results, default_content_type):
    """``[(path, part, content_type, meta)]`` for every output of the job to publish.

    ``part`` is the output's :class:`.http_output.OutputPart` (its spool may be None: an
    empty object).  A ``message/http``/``message/cgi`` output whose head parses is
    published without its head, with the head's ``Content-Type`` and ``X-Object-Meta-*``
    over the device's ``content_type`` and ``meta``; ``min_size`` counts its body.
    """
    outputs = []
    for result in results:
        for device in result.instance.devices.values():
            path = swift_path(device.url)
            if device.access != joblib.WRITABLE or path is None:
                continue
            part = http_output.OutputPart.of(result.outputs.get(device.name),
                                             device.content_type)
            if part.size < (device.min_size or 0):
                continue
            meta = dict(device.meta or {})
            if part.head is not None:
                meta.update(http_output.object_fields(part.head)[1])
            outputs.append((path, part, part.content_type or default_content_type, meta))
    return outputs


def publish_all(swift, outputs, logger):
    """PUT every output; on the first failure delete what was published and raise.

    :raises HTTPException: the failed PUT's 4xx status, else 503, naming the path; its
        ``X-Nexe-Error`` says which output failed and what was rolled back.
    """
    published = []
    for path, part, content_type, meta in outputs:
        handle = part.spool.reader(part.offset) if part.spool else _Empty()
        resp = swift.put_file(path, handle, part.size, content_type, meta)
        if is_success(resp.status_int):
            published.append(path)
            continue
        kept = [p for p in published if swift.delete(p) not in (204, 404)]
        logger.warning('zerocloud: publishing %s failed (%s); %d outputs removed again, '
                       'could not remove %s', path, resp.status, len(published), kept)
        status = resp.status_int if 400 <= resp.status_int < 500 else 503
        message = 'publishing %s failed: %s; %d published outputs removed' % (
            path, resp.status, len(published) - len(kept))
        if kept:
            message += ' (could not remove %s)' % ', '.join(kept)
        raise swob.HTTPException(status=status, body=message + '\n',
                                 content_type='text/plain',
                                 headers={'X-Nexe-Error': message})
    return published


class _Empty:
    def read(self, *args):
        return b''
