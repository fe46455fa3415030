"""Zapps in the proxy: a tar becomes the job and the ``image`` of its sessions (SPEC S1.2).

A zapp is a tar (plain or gzip) whose ``boot/system.map`` is the job (:mod:`zerocloud.zapp`).
It reaches the proxy three ways, all ending in the same image part of each session:

- **POSTed** (``Content-Type: application/x-tar``, ``x-gtar``, ``x-ustar``, ``gzip``,
  ``x-gzip``, ``x-compressed-tar``; gzip is recognised by its magic bytes):
  :func:`read_posted` reads the body once, keeping the system map and spooling the tar
  to an unlinked temporary file (:class:`SpooledImage`), at most ``zerovm_maxinput``
  bytes (the map at most ``zerovm_maxconfig``);
- **stored, named by X-Zerovm-Source** (:mod:`.job_input`): the object's GET goes
  through :func:`read_zapp_stream` the same way;
- **stored, named by an ``image`` device** of a JSON job
  (``{"name": "image", "path": "swift://~/apps/app.zapp"}``): :func:`instance_image`
  gives the object itself (:class:`~.sources.ObjectSource`, authorized with a HEAD as the
  caller), streamed from its GET only to the servers that do not cache it.

The image travels like the executable (:mod:`.dispatch`): an ``image`` frame, left out when
the server is known to cache its ETag (the MD5 of the tar's bytes); a server that lacks it
answers ``409 Need: image``.  The object server unpacks it once per ETag and shows it
read-only at ``/`` (:mod:`zerocloud.object_middleware.images`).

Errors, each before anything runs: no ``boot/system.map`` 400 naming it; corrupt gzip or
tar 400; bzip2/xz/zstd 400; a map that is not a valid job 400 listing every problem with
its location (as ``zerocloud check``); over ``zerovm_maxinput`` or ``zerovm_maxconfig`` 413.
A hostile tar (``..`` or absolute members, links out of the tree, device nodes...) is
refused by the object server when it unpacks it: 400 naming the member.
"""
import tempfile

from swift.common import swob

from zerocloud import job as joblib
from zerocloud import zapp
from zerocloud.proxy_middleware.payload import SpooledPayload

SPOOL_PREFIX = 'zerocloud-zapp-'


class SpooledImage(SpooledPayload):
    """A zapp's ``size`` bytes in an unlinked file, with ``etag`` (their MD5): the image
    part of every session of its job (streamed by :meth:`open`, as an object source is)."""

    def __init__(self, handle, size, etag):
        super().__init__(handle, size)
        self.etag = etag


def _text(message):
    return '%s\n' % message


def read_posted(req, config):
    """The job and image of a POSTed zapp: ``(system map bytes, SpooledImage)``; the caller
    closes the image when the job is over.

    :raises HTTPException: 413 over ``zerovm_maxinput``, 400 for a body shorter than its
        Content-Length and those of :func:`read_zapp_stream`.
    """
    if req.content_length is not None and req.content_length > config.max_input_bytes:
        raise swob.HTTPRequestEntityTooLarge(
            body=_text('the zapp is larger than zerovm_maxinput (%d bytes)'
                       % config.max_input_bytes), content_type='text/plain')
    system_map, image = read_zapp_stream(req.environ['wsgi.input'], config, 'the zapp')
    if req.content_length is not None and image.size < req.content_length:
        image.close()
        raise swob.HTTPBadRequest(body=_text('request body shorter than Content-Length'),
                                  content_type='text/plain')
    return system_map, image


def read_zapp_stream(stream, config, what):
    """Read a zapp from ``stream`` (``read(n)``) once: ``(system map, SpooledImage)``.

    :param what: names the zapp in messages (``the zapp``, or its object path).
    :raises HTTPException: the :class:`~zerocloud.zapp.ZappError`'s status (400 missing
        map, corrupt gzip or tar; 413 over a bound) with its message; 400 when the stream
        cannot be read or the map is not a valid job (:func:`check_map`).
    """
    handle = tempfile.TemporaryFile(prefix=SPOOL_PREFIX)
    try:
        head = zapp.read_zapp(stream, spool=handle, max_bytes=config.max_input_bytes,
                              max_map_bytes=config.max_config_bytes)
        handle.flush()
        check_map(head, config, what)
    except zapp.ZappError as err:
        handle.close()
        raise swob.HTTPException(status=err.status, body=_text('%s: %s' % (what, err)),
                                 content_type='text/plain')
    except (IOError, ValueError) as err:
        handle.close()
        raise swob.HTTPBadRequest(body=_text('cannot read %s: %s' % (what, err)),
                                  content_type='text/plain')
    except BaseException:
        handle.close()
        raise
    return head.system_map, SpooledImage(handle, head.raw_bytes, head.md5)


def check_map(head, config, what):
    """Refuse a system map that is not a valid job, every problem located.

    :raises HTTPException: 400 (or the parser's status) naming the map and its problems.
    """
    try:
        joblib.parse_job(head.system_map, max_config_bytes=config.max_config_bytes,
                         sysimages=config.sysimage_devices, in_zapp=True)
    except joblib.JobError as err:
        raise swob.HTTPException(
            status=err.status, content_type='text/plain',
            body=_text('%s: %s is not a valid job:\n%s' % (what, head.map_name, err)))


def instance_image(instance, posted, resolve):
    """The image of ``instance``: the object its ``image`` device names (``resolve(path)``
    authorizes a read as the caller and gives its :class:`~.sources.ObjectSource`), else the
    job's own zapp ``posted`` (or None)."""
    device = instance.devices.get('image')
    url = None if device is None else device.url
    if isinstance(url, joblib.SwiftUrl) and url.object is not None:
        return resolve(url.path)
    return posted
