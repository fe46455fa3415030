"""Recognising our requests and the checks every job POST passes before it runs (SPEC S1, S7).

Pure request inspection over swob: which requests are ours (:func:`classify`), the forged
header scrub, the POST authorization and the bounded body read.
"""
import dataclasses
import re
import sys

from swift.common import constraints, swob

from zerocloud import wire
from zerocloud.job.errors import encodable, show

EXECUTE_HEADER = 'X-Zerovm-Execute'
SOURCE_HEADER = 'X-Zerovm-Source'
JOB_VERSIONS = ('1.0', '')
JSON_TYPES = ('application/json',)
TAR_TYPES = ('application/x-tar', 'application/x-gtar', 'application/x-ustar',
             'application/gzip', 'application/x-gzip', 'application/x-compressed-tar')
OPEN_SEGMENTS = ('open', 'api')
API_VERSIONS = ('v1', 'v1.0')
PROTOCOL_KEY = 'zerocloud.server_protocol'
HTTP_VERSION = re.compile(r'HTTP/[0-9]\.[0-9]\Z')
HANDLER_FRAME = 'handle_one_response'   # eventlet.wsgi.HttpProtocol's method that calls the app
MAX_FRAMES = 100


@dataclasses.dataclass(frozen=True)
class Route:
    """What kind of our request this is: ``kind`` is ``job``, ``zapp``, ``script``,
    ``source``, ``open`` or ``api``;
    account, container and object are native (not WSGI or quoted) strings."""
    kind: str
    version: str
    account: str
    container: str = None
    obj: str = None


def classify(req):
    """Return a :class:`Route` when ``req`` is ours (S1), else ``None``.

    Ours: the path has an account and either ``X-Zerovm-Execute`` is present or the version
    segment is ``open`` or ``api``.  Nothing is read or changed.
    """
    try:
        version, account, container, obj = req.split_path(2, 4, rest_with_last=True)
    except ValueError:
        return None
    names = [None if part is None else swob.wsgi_to_str(part)
             for part in (account, container, obj)]
    if version in OPEN_SEGMENTS:
        return Route(version, '1.0', *names)
    header = req.headers.get(EXECUTE_HEADER)
    if header is None or version not in API_VERSIONS:
        return None
    kind, _, number = header.strip().rpartition('/')
    return Route(kind or 'job', number, *names)


def strip_forged_headers(req):
    """Remove client-sent ``X-Backend-Zerocloud-*`` headers (only the proxy may set them)."""
    for name in [name for name in req.headers if wire.is_zerocloud_header(name)]:
        del req.headers[name]


def request_protocol(environ):
    """The HTTP version of the client's request line (``HTTP/1.1``), for ``SERVER_PROTOCOL``.

    WSGI servers give it as ``SERVER_PROTOCOL``, but eventlet's (the server Swift runs)
    always writes ``HTTP/1.0`` there and keeps the request line's version on its request
    handler only.  When the environ says ``HTTP/1.0``, the handler serving this request is
    found among the caller's frames (eventlet calls the application from its
    ``handle_one_response`` in the same green thread) and its ``request_version`` is used;
    under any other server, or if none is found, the environ's value stands.  The answer is
    kept in the environ under ``zerocloud.server_protocol``; call this before any thread
    switch (the proxy filter does, on entry).
    """
    known = environ.get(PROTOCOL_KEY)
    if known:
        return known
    protocol = str(environ.get('SERVER_PROTOCOL') or 'HTTP/1.0')
    if protocol == 'HTTP/1.0':
        protocol = _handler_version() or protocol
    environ[PROTOCOL_KEY] = protocol
    return protocol


def _handler_version():
    """``request_version`` of the eventlet handler up the stack, or None."""
    frame = sys._getframe(1)
    for _ in range(MAX_FRAMES):
        if frame is None:
            return None
        if frame.f_code.co_name == HANDLER_FRAME:
            version = getattr(frame.f_locals.get('self'), 'request_version', None)
            if isinstance(version, str) and HTTP_VERSION.match(version):
                return version
        frame = frame.f_back
    return None


def check_job_form(req, route):
    """Check the form of a job request; return its :class:`Route` with ``kind`` set to
    ``job`` (a JSON job, S1.1), ``zapp`` (a tar, S1.2), ``script`` (a script with a ``#!``
    line, S1.3) or ``source`` (``X-Zerovm-Source``, S1.4); :mod:`.job_input` reads it.

    :raises HTTPException: 412 for a path that is not UTF-8 or holds NUL (as Swift answers
        it), 400 for an unknown ``X-Zerovm-Execute`` version or a JSON job or zapp posted
        to a container or object path, 405 for a method other than POST.
    """
    _check_path(req)
    if route.kind != 'job' or route.version not in JOB_VERSIONS:
        raise _unsupported_version(req, '1.0')
    if req.method != 'POST':
        raise swob.HTTPMethodNotAllowed(
            body='jobs are submitted with POST\n', content_type='text/plain',
            headers={'Allow': 'POST'})
    if SOURCE_HEADER in req.headers:
        return dataclasses.replace(route, kind='source')
    content_type = (req.headers.get('Content-Type') or '').split(';')[0].strip().lower()
    if content_type in TAR_TYPES + JSON_TYPES:
        if route.container is not None:
            raise swob.HTTPBadRequest(body='a %s is POSTed to the account (/v1/<account>), '
                                           'not to %s\n' % ('zapp' if content_type in TAR_TYPES
                                                            else 'JSON job', req.path),
                                      content_type='text/plain')
        return dataclasses.replace(route, kind='zapp' if content_type in TAR_TYPES else 'job')
    if route.container is not None and route.obj is None:
        raise swob.HTTPBadRequest(body='a script is POSTed to the account or to an object, '
                                       'not to a container (%s)\n' % req.path,
                                  content_type='text/plain')
    return dataclasses.replace(route, kind='script')


def check_webapp_form(req, route):
    """Check the form of an ``/open/`` or ``/api/`` request (:mod:`.webapps`).

    :raises HTTPException: 412 for a path that is not UTF-8 or holds NUL, 400 for an
        ``X-Zerovm-Execute`` other than ``open/1.0`` or ``api/1.0``.
    """
    _check_path(req)
    if route.version != '1.0':
        raise _unsupported_version(req, '%s/1.0' % route.kind)


def _check_path(req):
    if not constraints.check_utf8(swob.wsgi_to_str(req.path_info)):
        raise swob.HTTPPreconditionFailed(
            body='request path %s: not valid UTF-8, or holds NUL\n' % req.path,
            content_type='text/plain')


def _unsupported_version(req, expected):
    return swob.HTTPBadRequest(
        body='X-Zerovm-Execute: unsupported value %s (expected %s)\n'
             % (_shown(req.headers.get(EXECUTE_HEADER)), expected), content_type='text/plain')


def _shown(header_value, limit=80):
    """A header value (WSGI string) as a bounded, escaped repr of its UTF-8 text."""
    return show(swob.wsgi_to_str(header_value or ''), limit)


def authorize(req, method, path, acl=None):
    """Ask the pipeline's auth (``swift.authorize``) whether the caller may ``method path``
    (``path`` is a native, not quoted, string such as ``/v1/AUTH_test/c/o``).

    Builds a throw-away request that carries the caller's identity, as Swift's proxy
    controllers do (``req.acl`` holds the container ACL for container-level access).

    :raises HTTPException: the auth system's denial (401 or 403).
    """
    authorize_callback = req.environ.get('swift.authorize')
    if authorize_callback is None:
        return  # no auth middleware in the pipeline: Swift runs everything
    env = dict(req.environ, REQUEST_METHOD=method, PATH_INFO=swob.str_to_wsgi(path),
               QUERY_STRING='', SCRIPT_NAME='')
    env.pop('HTTP_X_ACCOUNT_ACCESS_CONTROL', None)
    probe = swob.Request(env)
    if acl is not None:
        probe.acl = acl
    denial = authorize_callback(probe)
    if denial is not None:
        raise _as_exception(denial, '%s %s' % (method, path))


def _as_exception(denial, what):
    status = getattr(denial, 'status_int', 403)
    exception = swob.HTTPUnauthorized if status == 401 else swob.HTTPForbidden
    return exception(body='%s: not authorized (%s)\n' % (encodable(what), status),
                     content_type='text/plain')


def read_body(req, max_bytes):
    """Read the request body, at most ``max_bytes`` (``zerovm_maxconfig``).

    :raises HTTPException: 413 when the body is larger, 400 when it stops short.
    """
    too_large = swob.HTTPRequestEntityTooLarge(
        body='job description larger than zerovm_maxconfig (%d bytes)\n' % max_bytes,
        content_type='text/plain')
    if req.content_length is not None and req.content_length > max_bytes:
        raise too_large
    try:
        body = req.environ['wsgi.input'].read(max_bytes + 1)
    except (IOError, ValueError) as err:
        raise swob.HTTPBadRequest(body='cannot read the request body: %s\n' % err,
                                  content_type='text/plain')
    if len(body) > max_bytes:
        raise too_large
    if req.content_length is not None and len(body) < req.content_length:
        raise swob.HTTPBadRequest(body='request body shorter than Content-Length\n',
                                  content_type='text/plain')
    return body
