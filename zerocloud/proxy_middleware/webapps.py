"""Web apps on stored data: ``/open/`` (SPEC S1.5) and ``/api/`` (S1.6) requests.

Both turn a plain HTTP request into a job (then run like any job, :mod:`.execution`).

``GET /open/<account>/<container>/<object>?<query>``
    (or ``X-Zerovm-Execute: open/1.0`` on the ``/v1/`` path) runs the object's handler.  The
    object is checked with a HEAD as the caller (its 401/403/404 is the answer; an
    anonymous caller may open an object of a public, ``.r:*``, container).  Then:

    * ``application/x-nexe``: the object runs directly, its stdout is the answer; query
      ``args`` is its command line, ``content_type`` the answer's type (``text/plain``);
    * a zapp (tar, S1.5): its ``boot/system.map`` runs with the zapp as the image of its
      sessions (read as the caller, at most ``zerovm_maxinput``);
    * any other type: the *handler template* registered for it, the JSON job stored at
      ``/<account>/.zvm/<type>/<subtype>/config`` (read as the account's own
      configuration, whoever calls; kept in memcache for :data:`TEMPLATE_CACHE_SECONDS`;
      none is a 404 naming it).  Every string value of the template (not the keys) has its
      variables replaced: ``{.object_path}`` by the object's ``swift://`` URL,
      ``{.name}`` or ``{.name=default}`` by query parameter ``name`` (first value; the
      default when absent; absent without default is a 400 naming it).  Values are put
      into the decoded JSON, never into its text, so a query value cannot change the job's
      structure.

    Other methods are a 405 (``Allow: GET``).  A ``Range`` header applies to the program's
    output (one range: 206 with ``Content-Range``; several: the whole output, 200).

``<METHOD> /api/<account>/<container>/<path>?<query>``
    (or ``X-Zerovm-Execute: api/1.0`` on ``/v1/<account>/<container>/<path>``): any of
    GET, HEAD, POST, PUT, DELETE runs the app named by the container's
    ``X-Container-Meta-Rest-Endpoint`` (a ``swift://account/container/object`` URL; the
    setting comes with Swift's container info, cached in memcache).  The app is a JSON job
    object (``application/json``, at most ``zerovm_maxconfig`` bytes, kept in memcache for
    :data:`TEMPLATE_CACHE_SECONDS`; read rights are checked on every call), or a zapp
    (its ``boot/system.map`` runs with the zapp as its image; the zapp is read on every
    call, its type remembered like a JSON app's text).  Its programs see the CGI
    environment (S6) with ``REQUEST_METHOD``, ``QUERY_STRING``, ``HTTP_*`` of this request
    and ``PATH_INFO`` = the (URL-encoded) part of the path after the container (``/`` when
    none); the request body, spooled up to ``zerovm_maxinput`` (else 413), is what their
    path-less readable devices (``stdin``) read.  The app usually answers with a
    ``message/cgi`` or ``message/http`` stdout.  Running it needs POST rights on the
    account, or the setuid grant of the container (:mod:`.setuid`; anonymous callers too).
    No container is a 400, a container without a Rest-Endpoint a 404, an endpoint that is
    not a full ``swift://`` object URL or names an object of another type a 409.

``OPTIONS`` on either is the pre-flight (:mod:`.cors`).
"""
import json
import re
from urllib.parse import parse_qsl, quote

from swift.common import swob
from swift.common.memcached import MemcacheConnectionError
from swift.common.utils import cache_from_env

from zerocloud import job as joblib
from zerocloud import zapp
from zerocloud.proxy_middleware import describe, job_input, payload, setuid
from zerocloud.proxy_middleware.swift_access import SwiftAccess

TEMPLATE_CACHE_SECONDS = 60
REGISTRY_CONTAINER = '.zvm'
NEXE_TYPE = 'application/x-nexe'
JSON_TYPE = 'application/json'
OPEN_METHODS = ('GET',)
API_METHODS = ('GET', 'HEAD', 'POST', 'PUT', 'DELETE')
OBJECT_PATH_VARIABLE = 'object_path'
VARIABLE = re.compile(r'\{\.([A-Za-z0-9_-]+)(?:=([^{}]*))?\}')
CACHE_PREFIX = 'zerocloud/app'
ZAPP_MARK = '\0zapp'  # in the app cache: the app is a zapp (no JSON text starts so)


def _text(body):
    return body + '\n'


def open_object(services, req, route):
    """The :class:`~.job_input.JobInput` of an ``/open/`` request (module docstring).

    :raises HTTPException: 400 without an object path, for a bad query or a bad zapp, the
        object's HEAD error, 405 for a method other than GET, 404 without a handler.
    """
    if not route.obj:
        raise swob.HTTPBadRequest(body=_text('/open/ requests name an object: '
                                             '/open/<account>/<container>/<object>'),
                                  content_type='text/plain')
    path = '/%s/%s/%s' % (route.account, route.container, route.obj)
    setuid.set_origin(req.environ, setuid.Origin(path))
    swift = SwiftAccess(services.app, req, services.config.uses_newest)
    content_type = _main_type(swift.head(path).get('Content-Type'))
    if req.method not in OPEN_METHODS:
        raise swob.HTTPMethodNotAllowed(
            body=_text('/open/ runs objects with GET (%s is %s)' % (path, content_type)),
            content_type='text/plain', headers={'Allow': ', '.join(OPEN_METHODS)})
    if zapp.is_zapp_content_type(content_type):
        system_map, image = job_input.read_stored_zapp(swift, path, services.config)
        return job_input.JobInput(route, system_map, image=image)
    params = query_params(req)
    url = str(joblib.SwiftUrl(route.account, route.container, route.obj))
    if content_type == NEXE_TYPE:
        job = nexe_job(url, params)
    else:
        template = load_template(services, swift, req, route.account, content_type)
        job = fill_template(template, params, url, content_type)
    return job_input.JobInput(route, json.dumps(job).encode('utf-8'))


def _main_type(content_type):
    return (content_type or '').split(';')[0].strip().lower()


def query_params(req):
    """The query string as ``{name: first value}`` (UTF-8, ``+`` and ``%xx`` decoded).

    :raises HTTPException: 400 when it is not UTF-8.
    """
    try:
        pairs = parse_qsl(swob.wsgi_to_str(req.query_string or ''), keep_blank_values=True,
                          encoding='utf-8', errors='strict')
    except UnicodeDecodeError:
        raise swob.HTTPBadRequest(body=_text('query string: not valid UTF-8'),
                                  content_type='text/plain')
    params = {}
    for name, value in pairs:
        params.setdefault(name, value)
    return params


def nexe_job(url, params):
    """The job that runs an ``application/x-nexe`` object directly (query ``args``,
    ``content_type``)."""
    return [{'name': 'open', 'exec': {'path': url, 'args': params.get('args', '')},
             'devices': [{'name': 'stdout',
                          'content_type': params.get('content_type', 'text/plain')}]}]


def load_template(services, swift, req, account, content_type):
    """The decoded handler template for ``content_type`` (module docstring).

    :raises HTTPException: 404 when none is registered, 413 over ``zerovm_maxconfig``,
        400 naming the template when it is not a JSON job text.
    """
    path = '/%s/%s/%s/config' % (account, REGISTRY_CONTAINER, content_type)
    try:
        text = _cached_json(services, swift, req, path, as_owner=True)
    except swob.HTTPException as error:
        if error.status_int != 404:
            raise
        raise swob.HTTPNotFound(body=_text('no handler for Content-Type %s: %s does not '
                                           'exist' % (content_type, path)),
                                content_type='text/plain')
    try:
        return joblib.decode(text, services.config.max_config_bytes)
    except joblib.JobError as err:
        raise swob.HTTPException(status=err.status, body=_text('handler template %s: %s'
                                                                 % (path, err)),
                                 content_type='text/plain')


def _cached_json(services, swift, req, path, as_owner=False, zapp_ok=False):
    """The text of the JSON object at ``path``, from memcache or read (then kept for
    :data:`TEMPLATE_CACHE_SECONDS`); with ``zapp_ok``, None when it is a zapp (its type
    found by a HEAD as the caller and kept the same way).

    :raises HTTPException: its HEAD's or GET's error; 413 over ``zerovm_maxconfig``; 501
        for a zapp without ``zapp_ok``; 409 when the object is not ``application/json``.
    """
    cache, key = cache_from_env(req.environ, True), CACHE_PREFIX + quote(path)
    text = _cache_get(cache, key)
    if text is None and zapp_ok and zapp.is_zapp_content_type(
            _main_type(swift.head(path).get('Content-Type'))):
        text = ZAPP_MARK
        _cache_set(cache, key, text)
    if text == ZAPP_MARK and zapp_ok:
        return None
    if text is not None and text != ZAPP_MARK:
        return text
    content_type, body = swift.read_small(path, services.config.max_config_bytes,
                                          'zerovm_maxconfig', as_owner=as_owner)
    if zapp.is_zapp_content_type(content_type):
        raise swob.HTTPNotImplemented(body=_text('a zapp as an app (%s) is not yet '
                                                 'supported' % path), content_type='text/plain')
    if content_type != JSON_TYPE:
        raise swob.HTTPConflict(body=_text('%s is %s: an app is a JSON job (%s) or a zapp'
                                           % (path, content_type or 'untyped', JSON_TYPE)),
                                content_type='text/plain')
    text = body.decode('utf-8', 'surrogateescape')
    _cache_set(cache, key, text)
    return text


def _cache_set(cache, key, text):
    if cache is not None:
        try:
            cache.set(key, text, time=TEMPLATE_CACHE_SECONDS)
        except MemcacheConnectionError:
            pass   # memcache down: read again next time


def _cache_get(cache, key):
    if cache is None:
        return None
    try:
        text = cache.get(key)
    except MemcacheConnectionError:
        return None
    return text if isinstance(text, str) else None


def fill_template(template, params, object_url, content_type):
    """``template`` (decoded JSON) with the variables of its string values replaced.

    :raises HTTPException: 400 naming the query parameters the template needs and lacks.
    """
    missing = []

    def replace(match):
        name, default = match.group(1), match.group(2)
        if name == OBJECT_PATH_VARIABLE:
            return object_url
        if name in params:
            return params[name]
        if default is None:
            missing.append(name)
            return ''
        return default

    def fill(value):
        if isinstance(value, str):
            return VARIABLE.sub(replace, value)
        if isinstance(value, list):
            return [fill(item) for item in value]
        if isinstance(value, dict):
            return {key: fill(item) for key, item in value.items()}
        return value
    job = fill(template)
    if missing:
        raise swob.HTTPBadRequest(
            body=_text('the handler for %s needs the query parameter(s) %s'
                       % (content_type, ', '.join(sorted(set(missing))))),
            content_type='text/plain')
    return job


def call_api(services, req, route):
    """The :class:`~.job_input.JobInput` of an ``/api/`` request (module docstring);
    the caller closes it when the job is over.

    :raises HTTPException: 400 without a container or for a bad zapp, 404 without the
        container or its endpoint, 409 for a bad endpoint, 401/403 when the caller may not
        run it or read it, 413 for a body or zapp over ``zerovm_maxinput``.
    """
    if not route.container:
        raise swob.HTTPBadRequest(body=_text('/api/ requests name a container: '
                                             '/api/<account>/<container>[/<path>]'),
                                  content_type='text/plain')
    if req.method not in API_METHODS:
        raise swob.HTTPMethodNotAllowed(
            body=_text('/api/ apps answer %s' % ', '.join(API_METHODS)),
            content_type='text/plain', headers={'Allow': ', '.join(API_METHODS)})
    source = endpoint_of(SwiftAccess(services.app, req, services.config.uses_newest), route)
    setuid.set_origin(req.environ, setuid.Origin(source, route.account, route.container))
    swift = SwiftAccess(services.app, req, services.config.uses_newest)
    setuid.authorize_run(req, route.account, swift.container_info)
    swift.authorize_read(source)
    text = _cached_json(services, swift, req, source, zapp_ok=True)
    req.environ[describe.PATH_INFO_KEY] = '/' + (req.path.split('/', 4)[4:] or [''])[0]
    if text is not None:
        return job_input.JobInput(route, text.encode('utf-8', 'surrogateescape'),
                                  payload.spool_body(req, services.config.max_input_bytes))
    system_map, image = job_input.read_stored_zapp(swift, source, services.config)
    try:
        return job_input.JobInput(route, system_map,
                                  payload.spool_body(req, services.config.max_input_bytes),
                                  image)
    except BaseException:
        image.close()
        raise


def endpoint_of(swift, route):
    """The Swift path of the app named by the container's Rest-Endpoint.

    :raises HTTPException: 404 without container or setting, 409 for a bad setting.
    """
    container = '/%s/%s' % (route.account, route.container)
    info = swift.container_info(route.account, route.container)
    if not 200 <= (info.get('status') or 404) < 300:
        raise swob.HTTPNotFound(body=_text('no container %s' % container),
                                content_type='text/plain')
    value = (info.get('meta') or {}).get(setuid.ENDPOINT_META)
    if not value:
        raise swob.HTTPNotFound(body=_text('container %s has no X-Container-Meta-Rest-'
                                           'Endpoint: no app serves /api/ here' % container),
                                content_type='text/plain')
    source = setuid.endpoint_path(value)
    if source is None:
        raise swob.HTTPConflict(body=_text(
            'container %s: X-Container-Meta-Rest-Endpoint %s is not a swift://account/'
            'container/object URL' % (container, swob.wsgi_to_str(value)[:200])),
            content_type='text/plain')
    return source


def ranged(req, response):
    """``response`` (an ``/open/`` answer) made to honour the request's ``Range`` header
    (on a 200 with a known length)."""
    if req.range is not None and response.status_int == 200 \
            and response.content_length is not None:
        # a new response: swob's app_iter setter would close the body it replaces
        ranged_response = swob.Response(status=response.status, request=req,
                                        headers=dict(response.headers),
                                        app_iter=RangedBody(response.app_iter),
                                        conditional_response=True)
        ranged_response.content_length = response.content_length
        return ranged_response
    return response


class RangedBody:
    """An ``app_iter`` whose :meth:`app_iter_range` serves one byte range of it (swob calls
    it for a single ``Range``); closing either closes the body."""

    def __init__(self, body):
        self.body = body

    def __iter__(self):
        return iter(self.body)

    def close(self):
        close = getattr(self.body, 'close', None)
        if close is not None:
            close()

    def app_iter_range(self, start, end):
        return _Slice(iter(self.body), self.close, start, end)


class _Slice:
    """Bytes ``[start, end)`` of an iterator of chunks (the rest is read and dropped)."""

    def __init__(self, chunks, close, start, end):
        self.chunks = chunks
        self.close = close
        self.start = start
        self.end = end
        self.position = 0

    def __iter__(self):
        return self

    def __next__(self):
        while self.position < self.end:
            chunk = next(self.chunks)
            begin, self.position = self.position, self.position + len(chunk)
            piece = chunk[max(0, self.start - begin):max(0, self.end - begin)]
            if piece:
                return piece
        self.close()
        raise StopIteration
