"""Everything a job does to Swift as the caller: listings, checks, reads, publishing (S7).

All requests are subrequests through the rest of the pipeline (``make_subrequest``) carrying
the caller's identity, so Swift's own auth and container ACLs decide.  The one exception is
setuid (:mod:`.setuid`): a container whose ``Zerovm-Suid`` ACL admits the caller and whose
``Rest-Endpoint`` is the job's source is *granted* once the caller has been refused there,
and from then on this job's requests to that container are pre-authorized (made as its
owner).
"""
import json

from swift.common import swob
from swift.common.http import is_success
from swift.common.wsgi import make_subrequest
from swift.proxy.controllers.base import get_container_info

from zerocloud.proxy_middleware import request as requests
from zerocloud.proxy_middleware import setuid

SWIFT_SOURCE = 'ZC'
LISTING_PAGE = 10000


def _quoted(path):
    return swob.wsgi_quote(swob.str_to_wsgi(path))


class SwiftAccess:
    """The caller's view of Swift for one job (``req`` is the job's request); the job's
    setuid :class:`~.setuid.Origin` comes from its environ.  ``newest``
    (``zerovm_uses_newest``) reads objects with ``X-Newest: true``: every replica is asked
    and the newest answers, as for a client that sends the header."""

    def __init__(self, app, req, newest=False):
        self.app = app
        self.req = req
        self.read_headers = {'X-Newest': 'true'} if newest else {}  # zerovm_uses_newest
        self.origin = setuid.origin_of(req.environ)
        self.granted = set()   # (account, container) where this job acts as the owner

    def _call(self, method, path, headers=None, body=None, query=''):
        sub = self._subrequest(method, path, headers, body, query)
        return sub.get_response(self.app)

    def _subrequest(self, method, path, headers=None, body=None, query=''):
        """A subrequest as the caller, or pre-authorized in a granted container."""
        sub = make_subrequest(self.req.environ, method=method, path=_quoted(path) + query,
                              headers=headers or {}, body=body, agent='%(orig)s ZeroCloud',
                              swift_source=SWIFT_SOURCE)
        if _container_of(path) in self.granted:
            sub.environ['swift.authorize'] = _allow
            sub.environ['swift.authorize_override'] = True
        return sub

    def _read(self, method, path, query=''):
        """``method`` (GET/HEAD) ``/v1`` + path as the caller; refused (401/403), once more
        as the owner when setuid grants the container."""
        resp = self._call(method, '/v1' + path, dict(self.read_headers), query=query)
        if resp.status_int in (401, 403) and self._setuid_grants(path):
            _close(resp)
            resp = self._call(method, '/v1' + path, dict(self.read_headers), query=query)
        return resp

    def _setuid_grants(self, path, info=None):
        """True when the job's setuid applies to the container of ``path`` (``/a/c[/o]``),
        remembered for the rest of the job."""
        key = _container_of('/v1' + path)
        if key in self.granted:
            return True
        if self.origin is None or key[1] is None:
            return False
        info = info or self.container_info(*key)
        if not setuid.admits(self.req, info, path, self.origin.source):
            return False
        self.granted.add(key)
        return True

    def list_objects(self, account, container, prefix=None):
        """Every object name of a container, all pages, in listing order.

        :raises HTTPException: the listing's error (403, 404...) naming the container.
        """
        return self._list('/%s/%s' % (account, container), prefix)

    def list_containers(self, account, prefix=None):
        """Every container name of an account, all pages, in listing order (for a
        container wildcard such as ``swift://~/logs-*/*.gz``, SPEC S2.3).

        :raises HTTPException: the listing's error (403...) naming the account.
        """
        return self._list('/%s' % account, prefix)

    def _list(self, path, prefix):
        names, marker = [], ''
        while True:
            query = '?format=json&limit=%d&prefix=%s&marker=%s' % (
                LISTING_PAGE, _quoted(prefix or ''), _quoted(marker))
            resp = self._read('GET', path, query=query)
            if not is_success(resp.status_int):
                _close(resp)
                raise _error(resp.status_int, 'listing %s' % path)
            page = [entry['name'] for entry in json.loads(resp.body or b'[]')
                    if 'name' in entry]
            names.extend(page)
            if len(page) < LISTING_PAGE:
                return names
            marker = page[-1]

    def head(self, path):
        """HEAD ``/v1`` + path as the caller (authorizes a read).

        :returns: the response headers.
        :raises HTTPException: 404 "Error 404 Not Found while fetching <path>", 403...
        """
        resp = self._read('HEAD', path)
        _close(resp)
        if not is_success(resp.status_int):
            raise _error(resp.status_int, 'fetching %s' % path)
        return resp.headers

    def get_stream(self, path, max_bytes):
        """Start a GET of an object as the caller without reading it.

        :returns: ``(length, app_iter)``: the caller must iterate and close ``app_iter``.
        :raises HTTPException: the GET's error naming the path, 413 when larger than
            ``max_bytes`` (``zerovm_maxinput``).
        """
        length, _headers, app_iter = self.open_object(path, max_bytes)
        return length, app_iter

    def open_object(self, path, max_bytes):
        """:meth:`get_stream` that also returns the GET's headers: ``(length, headers,
        app_iter)``."""
        resp = self._read('GET', path)
        if not is_success(resp.status_int):
            _close(resp)
            raise _error(resp.status_int, 'fetching %s' % path)
        length = resp.content_length
        if length is None or length > max_bytes:
            _close(resp)
            raise swob.HTTPRequestEntityTooLarge(
                body='%s is larger than zerovm_maxinput (%d bytes)\n' % (path, max_bytes)
                if length is not None else '%s has no length\n' % path,
                content_type='text/plain')
        return length, resp.headers, resp.app_iter

    def read_small(self, path, max_bytes, option, as_owner=False):
        """GET a small object (a job, a handler template) whole, as the caller (``as_owner``:
        pre-authorized, for the account's own configuration).

        :returns: ``(main content type in lower case, body bytes)``.
        :raises HTTPException: the GET's error naming the path; 413 naming ``option`` when
            it is larger than ``max_bytes``.
        """
        if as_owner:
            sub = self._subrequest('GET', '/v1' + path)
            sub.environ['swift.authorize'] = _allow
            resp = sub.get_response(self.app)
        else:
            resp = self._read('GET', path)
        try:
            if not is_success(resp.status_int):
                raise _error(resp.status_int, 'fetching %s' % path)
            body = b''
            for chunk in resp.app_iter:
                body += chunk
                if len(body) > max_bytes:
                    raise swob.HTTPRequestEntityTooLarge(
                        body='%s is larger than %s (%d bytes)\n' % (path, option, max_bytes),
                        content_type='text/plain')
        finally:
            _close(resp)
        content_type = (resp.headers.get('Content-Type') or '').split(';')[0]
        return content_type.strip().lower(), body

    def authorize_read(self, path):
        """Check that the caller may GET ``path`` (account owner or container read ACL),
        without touching the object itself.

        :raises HTTPException: 401/403 from the auth system, 404 for a missing container.
        """
        self._authorize(path, 'GET', 'read_acl')

    def _authorize(self, path, method, acl_name):
        """Authorize ``method path`` as the caller, else by setuid (:mod:`.setuid`).

        :raises HTTPException: the caller's denial when setuid does not apply, 404 for a
            missing container.
        """
        info = self._existing_container(path)
        try:
            requests.authorize(self.req, method, '/v1' + path, acl=info.get(acl_name))
        except swob.HTTPException as denial:
            if denial.status_int not in (401, 403) or not self._setuid_grants(path, info):
                raise

    def _existing_container(self, path):
        _, account, container, _ = swob.split_path('/v1' + path, 4, 4, True)
        info = self.container_info(account, container)
        if not is_success(info.get('status') or 404):
            raise swob.HTTPNotFound(body='Error 404 Not Found while fetching %s '
                                         '(no container /%s/%s)\n' % (path, account, container),
                                    content_type='text/plain')
        return info

    def authorize_write(self, path):
        """Check that the caller may PUT ``path`` (account owner or container write ACL).

        :raises HTTPException: 401/403 from the auth system, 404 for a missing container.
        """
        self._authorize(path, 'PUT', 'write_acl')

    def container_info(self, account, container):
        env = dict(self.req.environ,
                   PATH_INFO=swob.str_to_wsgi('/v1/%s/%s' % (account, container)))
        return get_container_info(env, self.app, swift_source=SWIFT_SOURCE)

    def put_file(self, path, handle, size, content_type, meta):
        """PUT ``size`` bytes read from the open file ``handle`` as the caller (streamed).

        :returns: the PUT's response (status and body already read).
        """
        headers = {'Content-Type': content_type, 'Content-Length': str(size)}
        headers.update(('X-Object-Meta-%s' % key, value) for key, value in meta.items())
        headers = {swob.str_to_wsgi(key): swob.str_to_wsgi(value)  # UTF-8, as Swift keeps it
                   for key, value in headers.items()}
        sub = self._subrequest('PUT', '/v1' + path, headers)
        sub.environ['wsgi.input'] = handle
        sub.content_length = size
        resp = sub.get_response(self.app)
        resp.body  # read (small), so the subrequest's resources are released
        return resp

    def delete(self, path):
        """DELETE an object as the caller; returns the status code."""
        resp = self._call('DELETE', '/v1' + path)
        _close(resp)
        return resp.status_int


def _container_of(path):
    """``(account, container)`` of a ``/v1/a/c[/o]`` path (native strings)."""
    parts = path.split('/', 4)
    return parts[2], parts[3] if len(parts) > 3 else None


def _allow(req):
    """``swift.authorize`` of a pre-authorized subrequest: everything is allowed."""
    return None


def _close(resp):
    close = getattr(resp.app_iter, 'close', None)
    if close is not None:
        close()


def _error(status, what):
    if status == 404:
        return swob.HTTPNotFound(body='Error 404 Not Found while %s\n' % what,
                                 content_type='text/plain')
    if status in (401, 403, 413):
        return swob.status_map[status](body='Error %d while %s\n' % (status, what),
                                       content_type='text/plain')
    return swob.HTTPServiceUnavailable(body='Error %d while %s\n' % (status, what),
                                       content_type='text/plain')
