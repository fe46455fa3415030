"""CORS for zerocloud responses (``zerovm_use_cors``), the way Swift answers its own.

With ``zerovm_use_cors = yes``, a request that carries ``Origin`` and names a container
(``/open/a/c/o``, ``/api/a/c/...``, a script POSTed to ``/v1/a/c/o``) gets that container's
CORS headers on its answer, errors included, as Swift's ``cors_validation`` gives them:

* nothing unless the origin is allowed by ``X-Container-Meta-Access-Control-Allow-Origin``
  (a space-separated list, or ``*``);
* ``Access-Control-Allow-Origin``: ``*`` when the container allows ``*``, else the origin
  (with ``Vary: Origin``);
* ``Access-Control-Expose-Headers``: the simple response headers, ``etag``,
  ``x-timestamp``, ``x-trans-id``, ``x-openstack-request-id``, every ``X-Object-Meta-*``
  and ``X-Nexe-*`` header of the answer, ``x-chain-total-time``, ``x-chain-length``, and
  the container's ``X-Container-Meta-Access-Control-Expose-Headers``.

A job POSTed to the account names no container and gets no CORS headers (Swift gives
none for accounts either); the jobs a request chains to answer with the CORS headers of
the request's container.  The proxy server's own ``cors_allow_origin`` and
``cors_expose_headers`` (options of ``[app:proxy-server]``) are not applied: only the
container's metadata counts (Swift's default ``strict_cors_mode``).

Pre-flight: ``OPTIONS`` on an ``/api/`` or ``/open/`` path is answered here (the app does
not run): 200 with ``Allow``; with ``Origin``, an allowed origin and an allowed
``Access-Control-Request-Method``, also ``Access-Control-Allow-Origin``,
``-Allow-Methods``, ``-Allow-Headers`` (those requested), ``-Max-Age`` (the container's
``X-Container-Meta-Access-Control-Max-Age``); a refused pre-flight is a 401, as Swift's.
``OPTIONS`` on ``/v1/`` paths is Swift's own.  Without ``zerovm_use_cors`` a pre-flight
gets ``Allow`` only (no CORS headers: browsers refuse the call).
"""
from swift.common import swob
from swift.common.utils import list_from_csv

CONTAINER_KEY = 'zerocloud.cors_container'
EXPOSED = ('cache-control', 'content-language', 'content-type', 'expires', 'last-modified',
           'pragma', 'etag', 'x-timestamp', 'x-trans-id', 'x-openstack-request-id',
           'x-chain-total-time', 'x-chain-length')
EXPOSED_PREFIXES = ('x-object-meta-', 'x-container-meta-', 'x-nexe-')


def remember_container(environ, route):
    """The ``(account, container)`` whose CORS settings apply to this request: the one
    recorded by the request that started the chain (kept in the environ, carried by
    ``job_chain``), else the route's own (or None)."""
    if CONTAINER_KEY not in environ:
        environ[CONTAINER_KEY] = (None if not route.container  # None or '' (/api/acct/)
                                  else (route.account, route.container))
    return environ[CONTAINER_KEY]


def _allowed(cors, origin):
    origins = (cors.get('allow_origin') or '').split()
    return origin in origins or '*' in origins


def add_headers(req, response, cors_info):
    """Give ``response`` the CORS headers for ``req`` (see the module docstring).

    :param cors_info: the container's ``cors`` info (``allow_origin``,
        ``expose_headers``, ``max_age``), or None.
    """
    origin = req.headers.get('Origin')
    if not origin or not cors_info or not _allowed(cors_info, origin):
        return response
    if 'Access-Control-Expose-Headers' not in response.headers:
        exposed = set(EXPOSED)
        exposed.update(name.lower() for name in response.headers
                       if name.lower().startswith(EXPOSED_PREFIXES))
        exposed.update(name.lower() for name in (cors_info.get('expose_headers') or '').split())
        response.headers['Access-Control-Expose-Headers'] = ', '.join(sorted(exposed))
    _allow_origin(response.headers, cors_info, origin)
    return response


def _allow_origin(headers, cors_info, origin):
    if (cors_info.get('allow_origin') or '').strip() == '*':
        headers['Access-Control-Allow-Origin'] = '*'
    else:
        headers['Access-Control-Allow-Origin'] = origin
        headers['Vary'] = headers['Vary'] + ', Origin' if headers.get('Vary') else 'Origin'


def preflight(req, methods, cors_info, use_cors):
    """The answer to an ``OPTIONS`` request on an ``/api/`` or ``/open/`` path.

    :param methods: the methods the path accepts.
    :param cors_info: the container's ``cors`` info, or None.
    """
    allow = ', '.join(methods + ('OPTIONS',))
    response = swob.Response(status=200, headers={'Allow': allow})
    origin = req.headers.get('Origin')
    if not use_cors or not origin:
        return response
    if not cors_info or not _allowed(cors_info, origin) or \
            req.headers.get('Access-Control-Request-Method') not in methods + ('OPTIONS',):
        return swob.HTTPUnauthorized(headers={'Allow': allow})
    headers = response.headers
    _allow_origin(headers, cors_info, origin)
    headers['Access-Control-Allow-Methods'] = allow
    if cors_info.get('max_age') is not None:
        headers['Access-Control-Max-Age'] = cors_info['max_age']
    requested = list_from_csv(req.headers.get('Access-Control-Request-Headers'))
    if requested:
        headers['Access-Control-Allow-Headers'] = ', '.join(requested)
        headers['Vary'] = headers['Vary'] + ', Access-Control-Request-Headers' \
            if headers.get('Vary') else 'Access-Control-Request-Headers'
    return response
