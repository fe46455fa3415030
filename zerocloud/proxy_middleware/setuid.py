"""Setuid apps (SPEC S7): a container lets chosen callers run its app against its data.

A container owner sets two pieces of metadata::

    X-Container-Meta-Rest-Endpoint: swift://AUTH_owner/app/app.json
    X-Container-Meta-Zerovm-Suid: .r:*            (a Swift ACL: who may use the app)

When a job comes from an object (its *source*: the ``/api/`` endpoint, or the executable an
``/open/`` request runs directly) an :class:`Origin` naming that source is kept in the
request's environ.  Each path the job touches is authorized as the caller first; when the
caller is refused (401/403), the path is still granted if **all** of these hold for the
path's own container:

* its ``Zerovm-Suid`` ACL admits the caller (asked of the auth system exactly as a container
  read ACL is, for an object of that container: ``.r:*`` admits anyone, ``AUTH_other`` or
  ``other:user`` name accounts and users);
* its ``Rest-Endpoint`` names exactly the job's source (a full ``swift://`` URL; ``~`` and
  wildcards never match).

A granted path is then read and written as the container's owner (pre-authorized
subrequests); nothing else is: another container, a job from another source, or a caller
outside the ACL keeps the caller's own rights.  Running an ``/api/`` app needs POST rights
on the account, or the setuid grant of the ``/api/`` container itself (:func:`authorize_run`).

The :class:`Origin` travels with chained jobs (the ``job_chain`` filter copies the
``zerocloud.*`` environ entries), so the jobs an app answers with keep its setuid; it is
set only by this filter, never from client input.
"""
import dataclasses
from typing import Optional

from swift.common import swob

from zerocloud import job as joblib
from zerocloud.proxy_middleware import request as requests

ORIGIN_KEY = 'zerocloud.origin'
SUID_META = 'zerovm-suid'
ENDPOINT_META = 'rest-endpoint'
PROBE_OBJECT = '.zerocloud-setuid'   # object name probed when no object is at hand


@dataclasses.dataclass(frozen=True)
class Origin:
    """Where the running job came from: ``source`` is the Swift path (``/a/c/o``) of the
    object that gave the job; ``account``/``container`` name the ``/api/`` container
    whose setuid may grant the right to run (None for ``/open/``)."""
    source: str
    account: Optional[str] = None
    container: Optional[str] = None


def set_origin(environ, origin):
    """Record the job's :class:`Origin` in the request's environ."""
    environ[ORIGIN_KEY] = origin


def origin_of(environ):
    """The job's :class:`Origin`, or None (a job POSTed by its caller)."""
    origin = environ.get(ORIGIN_KEY)
    return origin if isinstance(origin, Origin) else None


def endpoint_path(value):
    """The Swift path ``/a/c/o`` named by a ``Rest-Endpoint`` value, or None when it is
    not a full ``swift://account/container/object`` URL (no ``~``, no wildcard)."""
    try:
        url = joblib.parse_url(swob.wsgi_to_str(value or '').strip())
    except joblib.JobError:
        return None
    if not isinstance(url, joblib.SwiftUrl) or url.object is None or url.has_wildcard \
            or url.account in joblib.urls.HOME_ACCOUNTS:
        return None
    return url.path


def admits(req, info, path, source):
    """True when container ``info`` grants setuid on ``path`` (``/a/c/o`` or ``/a/c``) to
    the caller of ``req`` for a job from ``source`` (see the module docstring)."""
    meta = info.get('meta') or {}
    acl = meta.get(SUID_META)
    if not source or not acl or endpoint_path(meta.get(ENDPOINT_META)) != source:
        return False
    parts = path.split('/', 3)
    if len(parts) < 4 or not parts[3]:
        path = '/%s/%s/%s' % (parts[1], parts[2], PROBE_OBJECT)
    try:
        requests.authorize(req, 'GET', '/v1' + path, acl=acl)
    except swob.HTTPException:
        return False
    return True


def authorize_run(req, account, container_info):
    """Check that the caller may run a job in ``account``: POST rights on it, or the setuid
    grant of the ``/api/`` container this request (or the chain it belongs to) started from.

    :param container_info: ``(account, container) -> info dict`` (Swift's container info).
    :raises HTTPException: the auth system's denial (401/403) when neither applies.
    """
    try:
        requests.authorize(req, 'POST', '/v1/%s' % account)
    except swob.HTTPException:
        origin = origin_of(req.environ)
        if origin is None or origin.container is None or origin.account != account:
            raise
        info = container_info(origin.account, origin.container)
        if not admits(req, info, '/%s/%s' % (origin.account, origin.container),
                      origin.source):
            raise
