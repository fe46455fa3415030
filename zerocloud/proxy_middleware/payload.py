"""A request body that is data for the job (``/api/`` calls): spooled once, sent to every
session's path-less readable device (SPEC S1.6, S2.2).

The body is copied from ``wsgi.input`` into an unlinked temporary file (``TMPDIR``) as it
arrives, at most ``zerovm_maxinput`` bytes, so the proxy never holds it in memory; every
session (and every retry on another server) reads it again from the file, at its own
offsets.  :class:`SpooledPayload` has the ``open()`` of :class:`~.sources.ObjectSource`,
which is how :class:`~.dispatch.RequestBody` streams it.
"""
import contextlib
import os
import tempfile

from swift.common import swob

CHUNK = 65536


class SpooledPayload:
    """``size`` bytes in the open, unlinked file ``handle``; close it when the job is over."""

    def __init__(self, handle, size):
        self.handle = handle
        self.size = size

    @contextlib.contextmanager
    def open(self):
        """Yield ``(length, chunks)``: the whole payload, read from the start."""
        yield self.size, self._chunks()

    def _chunks(self):
        offset, fd = 0, self.handle.fileno()
        while offset < self.size:
            chunk = os.pread(fd, min(CHUNK, self.size - offset), offset)
            if not chunk:
                raise IOError('the spooled request body lost its bytes at %d' % offset)
            offset += len(chunk)
            yield chunk

    def close(self):
        self.handle.close()


def spool_body(req, max_bytes):
    """Spool the body of ``req`` (Content-Length or chunked) into a :class:`SpooledPayload`.

    :raises HTTPException: 413 when it is larger than ``max_bytes`` (``zerovm_maxinput``),
        400 when it cannot be read or stops short of its Content-Length.
    """
    too_large = swob.HTTPRequestEntityTooLarge(
        body='request body larger than zerovm_maxinput (%d bytes)\n' % max_bytes,
        content_type='text/plain')
    if req.content_length is not None and req.content_length > max_bytes:
        raise too_large
    handle = tempfile.TemporaryFile(prefix='zerocloud-payload-')
    try:
        size = _copy(req, handle, max_bytes, too_large)
    except BaseException:
        handle.close()
        raise
    return SpooledPayload(handle, size)


def _copy(req, handle, max_bytes, too_large):
    size, source = 0, req.environ['wsgi.input']
    while True:
        try:
            chunk = source.read(min(CHUNK, max_bytes + 1 - size))
        except (IOError, ValueError) as err:
            raise swob.HTTPBadRequest(body='cannot read the request body: %s\n' % err,
                                      content_type='text/plain')
        if not chunk:
            break
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        handle.write(chunk)
    handle.flush()
    if req.content_length is not None and size < req.content_length:
        raise swob.HTTPBadRequest(body='request body shorter than Content-Length\n',
                                  content_type='text/plain')
    return size
