"""What a job POST brings: the job, the data of its path-less devices, its image (S1.1-S1.4).

:func:`read_job_input` reads the request by its form (:func:`.request.check_job_form`):

``job`` / ``script``
    The body is the JSON job or the script (at most ``zerovm_maxconfig``).
``zapp``
    The body is a tar: its ``boot/system.map`` is the job, the tar the image of every
    session (:func:`.zapps.read_posted`).
``source`` (``X-Zerovm-Source: swift://account/container/object``, S1.4)
    The job, script or zapp is that object, chosen by its Content-Type
    (``application/json``: a job; a zapp type: a zapp; anything else: a script whose
    first line is ``#!<interpreter URL>``); ``~`` or ``.`` as the account is the caller's.
    It is read as the caller (a HEAD first: 401/403/404 name it).  The request body
    (spooled, at most ``zerovm_maxinput``) is the data of every path-less readable device
    (``stdin``, ``input``; Servlets.md rule 2), as for ``/api/`` calls: a script from an
    object reads it on ``stdin`` (its ``script`` device is the object itself).
"""
import dataclasses
from typing import Optional

from swift.common import swob

from zerocloud import job as joblib
from zerocloud import zapp
from zerocloud.proxy_middleware import describe, payload, zapps
from zerocloud.proxy_middleware import request as requests
from zerocloud.proxy_middleware.swift_access import SwiftAccess

JSON_TYPE = 'application/json'


@dataclasses.dataclass(frozen=True)
class JobInput:
    """A job ready to run: its route (``kind`` ``job`` or ``script``), the job or script
    bytes, the payload of path-less devices (bytes or a spooled body) and the image of its
    sessions (or None).  :meth:`close` when the job is over."""
    route: object
    body: bytes
    payload: object = b''
    image: Optional[object] = None

    def close(self):
        for part in (self.payload, self.image):
            getattr(part, 'close', lambda: None)()


def read_job_input(services, req, route):
    """Read the job of ``req`` by ``route.kind`` (module docstring).

    :raises HTTPException: 413 over a bound, 400 for a bad zapp or source header, the
        source object's 401/403/404.
    """
    config = services.config
    if route.kind == 'zapp':
        system_map, image = zapps.read_posted(req, config)
        return JobInput(dataclasses.replace(route, kind='job'), system_map, image=image)
    if route.kind == 'source':
        return read_source(services, req, route)
    return JobInput(route, requests.read_body(req, config.max_config_bytes))


def source_url(req, route):
    """The object named by ``X-Zerovm-Source`` (a :class:`~zerocloud.job.SwiftUrl`).

    :raises HTTPBadRequest: not a ``swift://account/container/object`` URL.
    """
    text = swob.wsgi_to_str(req.headers.get(requests.SOURCE_HEADER) or '')
    try:
        url = joblib.parse_url(text, account=route.account, where=requests.SOURCE_HEADER)
    except joblib.JobError as err:
        url, problem = None, str(err)
    else:
        problem = '%s: %s is not a swift://account/container/object URL' % (
            requests.SOURCE_HEADER, text[:200])
    if not isinstance(url, joblib.SwiftUrl) or url.object is None or url.has_wildcard:
        raise swob.HTTPBadRequest(body='%s\n' % problem, content_type='text/plain')
    return url


def read_source(services, req, route):
    """The :class:`JobInput` of an ``X-Zerovm-Source`` request.

    :raises HTTPException: 400 for a bad header, the object's 401/403/404 naming it, 413
        over ``zerovm_maxconfig`` (job, script) or ``zerovm_maxinput`` (zapp, body).
    """
    config = services.config
    url = source_url(req, route)
    swift = SwiftAccess(services.app, req, config.uses_newest)
    content_type = (swift.head(url.path).get('Content-Type') or '').split(';')[0].strip()
    data = payload.spool_body(req, config.max_input_bytes)
    try:
        job_route = dataclasses.replace(route, kind='job')
        if zapp.is_zapp_content_type(content_type):
            system_map, image = read_stored_zapp(swift, url.path, config)
            return JobInput(job_route, system_map, data, image)
        _type, body = swift.read_small(url.path, config.max_config_bytes, 'zerovm_maxconfig')
        if content_type.lower() == JSON_TYPE:
            return JobInput(job_route, body, data)
        job, _script = describe.script_job(body, route, script_url=str(url))
        return JobInput(job_route, job, data)
    except BaseException:
        data.close()
        raise


def read_stored_zapp(swift, path, config):
    """``(system map, SpooledImage)`` of a zapp object, read once through its GET as the
    caller (also an ``/open/`` or ``/api/`` zapp, :mod:`.webapps`).

    :raises HTTPException: the GET's error naming the path, 413 over ``zerovm_maxinput``,
        400 for a bad zapp.
    """
    _length, app_iter = swift.get_stream(path, config.max_input_bytes)
    try:
        return zapps.read_zapp_stream(ChunkReader(app_iter), config, path)
    finally:
        getattr(app_iter, 'close', lambda: None)()


class ChunkReader:
    """A ``read(n)`` over an iterable of byte chunks (a GET's ``app_iter``)."""

    def __init__(self, chunks):
        self._chunks = iter(chunks)
        self._pending = b''

    def read(self, size=-1):
        while not self._pending:
            self._pending = next(self._chunks, None)
            if self._pending is None:
                self._pending = b''
                return b''
        if size is None or size < 0:
            size = len(self._pending)
        data, self._pending = self._pending[:size], self._pending[size:]
        return data
