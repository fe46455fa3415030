"""The objects a session reads that do not live where it runs: executables and remote inputs.

Every one is resolved and authorized before anything is dispatched (a HEAD as the caller):
its 403, 404 or 413 reaches the client as itself, naming the path, and never turns into "no
object server could run the session".  Its bytes are read later, only if the chosen object
server does not cache its ETag, with a GET as the caller streamed straight into the session
request (:meth:`ObjectSource.open`): the proxy never holds an object whole.  A GET whose
ETag is not the one the HEAD announced sends nothing (:class:`SourceChanged`).

What a HEAD said is remembered for a few seconds (:mod:`.etag_cache`): a job that finds the
path there authorizes it as the caller without the HEAD's round trip.
"""
import contextlib

from swift.common import swob

from zerocloud.proxy_middleware import prevalidate


class SourceChanged(Exception):
    """An object's GET did not deliver the bytes its HEAD announced (changed meanwhile)."""


class ObjectSource:
    """A readable Swift object known by its path, size and (cacheable) ETag.

    ``etag`` is the MD5 of its bytes, or '' when it is not (SLO/DLO manifests) or unknown: an
    object server can cache it by ETag only when it is not ''.  ``size`` is None when
    unknown (a co-located object, never asked for unless needed).  ``heads``: the
    :class:`~.etag_cache.HeadCache` that forgets the path when its bytes are found changed.
    """

    def __init__(self, swift, path, etag, size, max_bytes, heads=None):
        self.swift = swift
        self.path = path
        self.etag = etag
        self.size = size
        self.max_bytes = max_bytes
        self.heads = heads

    @contextlib.contextmanager
    def open(self):
        """Yield ``(length, chunks)``: the object's bytes as a GET as the caller streams them.

        ``chunks`` yields exactly ``length`` bytes in total or raises :class:`SourceChanged`.
        The GET is closed when the context ends, whatever happened.

        :raises HTTPException: the GET's own refusal (403, 404...), 413 over ``max_bytes``.
        :raises SourceChanged: the GET's ETag is not ``etag`` (the object was overwritten
            since its HEAD; the path is forgotten by ``heads``).  A GET without ETag streams:
            the object server checks the bytes against ``etag`` (400 when they differ).
        """
        length, headers, app_iter = self.swift.open_object(self.path, self.max_bytes)
        try:
            if self.etag and cacheable_etag(headers) not in ('', self.etag):
                if self.heads is not None:
                    self.heads.forget(self.path)
                raise SourceChanged('%s is no longer ETag %s' % (self.path, self.etag))
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


def resolve(swift, path, max_bytes, heads=None):
    """Authorize a GET of ``path`` as the caller (HEAD) and describe it; with ``heads`` (a
    :class:`~.etag_cache.HeadCache`), a path HEADed a moment ago is authorized from its
    container's ACL instead (:meth:`.SwiftAccess.authorize_read`, no request to the object)
    and described as then.

    :returns: an :class:`ObjectSource`.
    :raises HTTPException: 403/404 naming the path, 413 when it is larger than
        ``max_bytes`` (``zerovm_maxinput``).
    """
    etag, size, prevalidated = _remembered(swift, path, heads) or _head(swift, path, heads)
    if size > max_bytes:
        raise swob.HTTPRequestEntityTooLarge(
            body='%s is %d bytes, more than zerovm_maxinput (%d)\n' % (path, size, max_bytes),
            content_type='text/plain')
    source = ObjectSource(swift, path, etag, size, max_bytes, heads)
    source.prevalidated = prevalidated  # a valid prevalidation record for etag (SPEC S4)
    return source


def _remembered(swift, path, heads):
    """``(etag, size)`` of a path in ``heads`` that the caller may read, else None (then
    the HEAD decides, and its refusal is the answer as it would have been)."""
    known = heads.get(path) if heads is not None else None
    if known is None:
        return None
    try:
        swift.authorize_read(path)
    except swob.HTTPException:
        return None
    return tuple(known) + (False,)  # paths with a prevalidation record are not remembered


def _head(swift, path, heads):
    """``(etag, size)`` from a HEAD as the caller, remembered in ``heads`` (not for a
    symlink: its HEAD authorized the target's container too, which a hit would not)."""
    headers = swift.head(path)
    etag, size = cacheable_etag(headers), int(headers.get('Content-Length') or 0)
    prevalidated = bool(etag) and prevalidate.trusted_record(headers)
    if heads is not None and not headers.get('Content-Location') and not prevalidated:
        heads.put(path, etag, size)
    return etag, size, prevalidated


def cacheable_etag(headers):
    """The object's ETag when it is the MD5 of its bytes ('' for SLO/DLO manifests)."""
    if headers.get('X-Static-Large-Object') or headers.get('X-Object-Manifest'):
        return ''
    return (headers.get('Etag') or '').strip('"')
