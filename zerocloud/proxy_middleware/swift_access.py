"""Everything a job does to Swift as the caller: listings, checks, reads, publishing (S7).

All requests are subrequests through the rest of the pipeline (``make_subrequest``) carrying
the caller's identity, so Swift's own auth and container ACLs decide.
"""
import json

from swift.common import swob
from swift.common.http import is_success
from swift.common.wsgi import make_subrequest
from swift.proxy.controllers.base import get_container_info

from zerocloud.proxy_middleware import request as requests

SWIFT_SOURCE = 'ZC'
LISTING_PAGE = 10000


def _quoted(path):
    return swob.wsgi_quote(swob.str_to_wsgi(path))


class SwiftAccess:
    """The caller's view of Swift for one job (``req`` is the job's POST)."""

    def __init__(self, app, req):
        self.app = app
        self.req = req

    def _call(self, method, path, headers=None, body=None, query=''):
        sub = make_subrequest(self.req.environ, method=method, path=_quoted(path) + query,
                              headers=headers or {}, body=body, agent='%(orig)s ZeroCloud',
                              swift_source=SWIFT_SOURCE)
        return sub.get_response(self.app)

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
            resp = self._call('GET', '/v1' + path, query=query)
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
        resp = self._call('HEAD', '/v1' + path)
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
        resp = self._call('GET', '/v1' + path)
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
        return length, resp.app_iter

    def authorize_read(self, path):
        """Check that the caller may GET ``path`` (account owner or container read ACL),
        without touching the object itself.

        :raises HTTPException: 401/403 from the auth system, 404 for a missing container.
        """
        info = self._existing_container(path)
        requests.authorize(self.req, 'GET', '/v1' + path, acl=info.get('read_acl'))

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
        info = self._existing_container(path)
        requests.authorize(self.req, 'PUT', '/v1' + path, acl=info.get('write_acl'))

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
        sub = make_subrequest(self.req.environ, method='PUT', path=_quoted('/v1' + path),
                              headers=headers, agent='%(orig)s ZeroCloud',
                              swift_source=SWIFT_SOURCE)
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
