"""The objects a session reads that do not live where it runs: executables and remote inputs.

Every one is resolved and authorized before anything is dispatched (a HEAD as the caller):
its 403, 404 or 413 reaches the client as itself, naming the path, and never turns into "no
object server could run the session".  Its bytes are read later, only if the chosen object
server does not cache its ETag, with a GET as the caller streamed straight into the session
request (:meth:`ObjectSource.open`): the proxy never holds an object whole.
"""
import contextlib

from swift.common import swob


class SourceChanged(Exception):
    """An object's GET did not deliver the bytes its HEAD announced (changed meanwhile)."""


class ObjectSource:
    """A readable Swift object known by its path, size and (cacheable) ETag.

    ``etag`` is the MD5 of its bytes, or '' when it is not (SLO/DLO manifests) or unknown: an
    object server can cache it by ETag only when it is not ''.  ``size`` is None when
    unknown (a co-located object, never asked for unless needed).
    """

    def __init__(self, swift, path, etag, size, max_bytes):
        self.swift = swift
        self.path = path
        self.etag = etag
        self.size = size
        self.max_bytes = max_bytes

    @contextlib.contextmanager
    def open(self):
        """Yield ``(length, chunks)``: the object's bytes as a GET as the caller streams them.

        ``chunks`` yields exactly ``length`` bytes in total or raises :class:`SourceChanged`.
        The GET is closed when the context ends, whatever happened.

        :raises HTTPException: the GET's own refusal (403, 404...), 413 over ``max_bytes``.
        """
        length, app_iter = self.swift.get_stream(self.path, self.max_bytes)
        try:
            yield length, _exactly(app_iter, length, self.path)
        finally:
            close = getattr(app_iter, 'close', None)
            if close is not None:
                close()


def _exactly(app_iter, length, path):
    sent = 0
    for chunk in app_iter:
        sent += len(chunk)
        if sent > length:
            raise SourceChanged('%s delivered more than %d bytes' % (path, length))
        yield chunk
    if sent != length:
        raise SourceChanged('%s delivered %d of %d bytes' % (path, sent, length))


def resolve(swift, path, max_bytes):
    """Authorize a GET of ``path`` as the caller (HEAD) and describe it.

    :returns: an :class:`ObjectSource`.
    :raises HTTPException: 403/404 naming the path, 413 when it is larger than
        ``max_bytes`` (``zerovm_maxinput``).
    """
    headers = swift.head(path)
    size = int(headers.get('Content-Length') or 0)
    if size > max_bytes:
        raise swob.HTTPRequestEntityTooLarge(
            body='%s is %d bytes, more than zerovm_maxinput (%d)\n' % (path, size, max_bytes),
            content_type='text/plain')
    return ObjectSource(swift, path, cacheable_etag(headers), size, max_bytes)


def cacheable_etag(headers):
    """The object's ETag when it is the MD5 of its bytes ('' for SLO/DLO manifests)."""
    if headers.get('X-Static-Large-Object') or headers.get('X-Object-Manifest'):
        return ''
    return (headers.get('Etag') or '').strip('"')
