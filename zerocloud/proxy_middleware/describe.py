"""From a planned instance to the session description an object server runs (S3, S6).

Also the job that runs a POSTed script (S1.3) and the placement helpers.
"""
import json
from urllib.parse import quote

from swift.common import swob

from zerocloud import job as joblib
from zerocloud import limits
from zerocloud import wire
from zerocloud.proxy_middleware import request as requests

#: Environ key of a ``PATH_INFO`` other than the request's path (``/api/``: the part after
#: the container), set by :mod:`.webapps`.
PATH_INFO_KEY = 'zerocloud.path_info'
EXCLUDED_HEADERS = ('HTTP_X_AUTH_TOKEN', 'HTTP_X_STORAGE_TOKEN', 'HTTP_AUTHORIZATION',
                    'HTTP_COOKIE', 'HTTP_X_SERVICE_TOKEN', 'HTTP_X_AUTH_KEY')


def _not_yet(message):
    return swob.HTTPNotImplemented(body='%s is not yet supported\n' % message,
                                   content_type='text/plain')


def channel_count(instance, spooled=False):
    """The channels of ``instance``'s session: its devices and network channels; its
    ``/dev/in`` channels count as one when ``spooled`` (run in waves: one directory)."""
    ins = min(1, len(instance.in_channels)) if spooled else len(instance.in_channels)
    return len(instance.devices) + ins + len(instance.out_channels)


def check_supported(instance, spooled=False):
    """Refuse what this version cannot run (the ``debug`` device, a container without
    wildcard as an input) and what cannot run at all (replicated channels, more channels
    than one session can carry; ``spooled``: the job may run in waves, where any number of
    inputs is one channel).

    :raises HTTPException: 501 naming the feature and the instance; 400 naming the instance
        whose channels exceed ``wire.MAX_SESSION_CHANNELS`` or that is replicated with
        network channels.
    """
    channels = channel_count(instance, spooled)
    if channels > wire.MAX_SESSION_CHANNELS:
        raise swob.HTTPBadRequest(
            body='%s: %d channels (devices, /dev/in and /dev/out), at most %d per session; '
            'restructure the job: add a combining layer (connect the sources to several '
            'intermediate nodes, each with fewer inputs, and those to %s) or split the '
            'node\n' % (instance.name, channels, wire.MAX_SESSION_CHANNELS, instance.name),
            content_type='text/plain')
    if instance.replicate > 1 and (instance.in_channels or instance.out_channels):
        raise swob.HTTPBadRequest(
            body='%s: "replicate" cannot be used on a node with network channels (/dev/in, '
                 '/dev/out): each copy would need its own peers; replicate the nodes around '
                 'it or drop "replicate"\n' % instance.name, content_type='text/plain')
    for device in instance.devices.values():
        if device.name == 'debug':
            raise _not_yet('the %s device (%s)' % (device.name, instance.name))
        if isinstance(device.url, joblib.SwiftUrl) and device.url.object is None:
            raise _not_yet('a container as input (%s of %s: %s)'
                           % (device.name, instance.name, device.url))


def swift_path(url):
    """``/account/container/object`` of a swift object URL, else None."""
    if isinstance(url, joblib.SwiftUrl) and url.object is not None:
        return url.path
    return None


def placement_url(instance):
    """The object the instance runs next to, or None (anywhere)."""
    url = instance.placement
    if isinstance(url, joblib.SwiftUrl) and url.object is not None:
        return url
    return None


def placement_path(instance):
    url = placement_url(instance)
    return None if url is None else url.path


def payload_devices(instance):
    """Path-less readable devices: they receive the request payload (empty for a JSON job)."""
    return [device.name for device in instance.devices.values()
            if device.access == joblib.READABLE and device.url is None
            and device.name in joblib.model.READABLE_DEVICES]


def describe(instance, req, config, parts):
    """The :class:`zerocloud.wire.Session` an object server runs for ``instance``.

    :param parts: the session's :class:`~.dispatch.Parts` (executable, image and remote
        input sources, whose ETags the description carries).

    The user image (``parts.image``: a zapp, or the object of the ``image`` device) is
    the first image (mounted at ``/``); an executable ``file://<path>`` (or
    ``file://image:<path>``, or a bare path) is looked up by the object server in the
    session's images in order, the user image first.
    """
    placement = placement_path(instance)
    devices, images = [], []
    channel_devices = {channel.device for channel in
                       tuple(instance.in_channels) + tuple(instance.out_channels)}
    for device in instance.devices.values():
        if '/dev/' + device.name in channel_devices or isinstance(device.url, joblib.ZvmUrl):
            continue  # a network channel (zvm://), wired by the rendezvous
        if device.access == joblib.IMAGE:
            continue  # the user image: parts.image
        mode = device.mode or ''      # only a mode the job wrote changes the device
        if device.name in config.sysimage_devices:
            images.append(device.name)
        elif device.access == joblib.WRITABLE:
            devices.append(wire.Device(device.name, wire.WRITE, mode=mode))
        elif device.url is None:
            devices.append(wire.Device(device.name, wire.READ, wire.PAYLOAD, mode=mode))
        elif swift_path(device.url) == placement:
            devices.append(wire.Device(device.name, wire.READ, wire.LOCAL, mode=mode))
        else:
            devices.append(wire.Device(device.name, wire.READ, wire.REMOTE,
                                       parts.remote[device.name].etag, mode=mode))
    url = instance.exec.url
    if isinstance(url, joblib.ImageUrl):
        executable = wire.Executable(image=url.image or '', path=url.path)
        if url.image and url.image not in images:
            images.insert(0, url.image)
    else:
        executable = wire.Executable(
            etag=parts.executable.etag,
            prevalidated=config.prevalidate and getattr(parts.executable, 'prevalidated', False))
    user_image = None
    if parts.image is not None:
        user_image = wire.UserImage(parts.image.etag)
        images.insert(0, wire.USER_IMAGE)
    env = dict(instance.exec.env)
    env.update(cgi_environment(instance, req))  # ours wins (SPEC S6)
    return wire.Session(
        name=instance.name, argv=(instance.exec.argv0,) + tuple(instance.exec.args),
        env=tuple(sorted(env.items())), executable=executable, devices=tuple(devices),
        limits=wire.SessionLimits(config.timeout_seconds, config.max_input_bytes,
                                  config.max_output_bytes),
        images=tuple(images), image=user_image)


def cgi_environment(instance, req):
    """CGI/1.1 variables describing the job request (S6; LOCAL_* come from the server).

    Request headers become ``HTTP_*`` variables (never credentials, cookies or backend
    headers), in name order, as long as they fit in :data:`zerocloud.limits.MAX_REQUEST_ENV_BYTES`
    and :data:`~zerocloud.limits.MAX_REQUEST_ENV_ITEMS` together with the CGI variables; the
    rest are left out, so that a request with many large headers still starts its program.
    """
    env = req.environ
    cgi = {
        'GATEWAY_INTERFACE': 'CGI/1.1',
        'REQUEST_METHOD': req.method,
        'REQUEST_URI': req.path_qs,
        'PATH_INFO': env.get(PATH_INFO_KEY, req.path),
        'QUERY_STRING': req.query_string or '',
        'SCRIPT_NAME': instance.name,
        'SCRIPT_FILENAME': str(instance.exec.url),
        'REMOTE_USER': _user(env.get('REMOTE_USER')),
        'SERVER_NAME': str(env.get('SERVER_NAME', '')),
        'SERVER_PORT': str(env.get('SERVER_PORT', '')),
        'SERVER_PROTOCOL': str(env.get(requests.PROTOCOL_KEY)
                               or env.get('SERVER_PROTOCOL', 'HTTP/1.1')),
        'SERVER_SOFTWARE': 'zerocloud',
    }
    budget = limits.MAX_REQUEST_ENV_BYTES - limits.argv_env_bytes((), cgi.items())
    for key in sorted(env):
        value = env[key]
        if not key.startswith('HTTP_') or key in EXCLUDED_HEADERS or \
                key.startswith('HTTP_X_BACKEND') or not isinstance(value, str):
            continue
        value = swob.wsgi_to_str(value)  # the header's bytes, as the program will see them
        budget -= limits.argv_env_bytes((), [(key, value)])
        if budget < 0 or len(cgi) >= limits.MAX_REQUEST_ENV_ITEMS:
            break  # the rest of the headers do not fit in the program's environment
        cgi[key] = value
    return cgi


def _user(remote_user):
    """The user name from Swift's REMOTE_USER (tempauth: ``account,account:user,...``)."""
    groups = str(remote_user or '').split(',')
    return groups[1] if len(groups) > 1 else groups[0]


def script_job(body, route, script_url=None):
    """The job that runs a POSTed script (S1.3): ``(job JSON bytes, payload bytes)``.

    The first line names the interpreter by URL (``#!file://python:python`` or
    ``#!swift://account/container/interpreter``, optionally followed by arguments); the
    script becomes the path-less ``script`` device, read by the interpreter as
    ``/dev/script``.  POSTed to an object, the script runs next to it with the object as
    stdin.  Its stdout is the response (text/plain).

    A script stored in an object (``X-Zerovm-Source``, S1.4) is read from ``script_url``
    instead, and a path-less ``stdin`` (unless POSTed to an object) receives the payload.

    :raises HTTPException: 400 when the first line is not a ``#!`` line.
    """
    first_line = body.split(b'\n', 1)[0]
    try:
        words = first_line[2:].decode('utf-8').split() if first_line[:2] == b'#!' else []
    except UnicodeDecodeError:
        words = []
    if not words and body.lstrip()[:1] in (b'[', b'{'):
        raise swob.HTTPBadRequest(body='the body looks like a JSON job: send it with '
                                       '"Content-Type: application/json" (without it, the '
                                       'body is a script that starts with "#!")\n',
                                  content_type='text/plain')
    if not words:
        raise swob.HTTPBadRequest(body='a script must start with "#!<interpreter URL>", e.g. '
                                       '#!file://python:python\n', content_type='text/plain')
    devices = [{'name': 'script'}, {'name': 'stdout', 'content_type': 'text/plain'}]
    if script_url is not None:
        devices[0]['path'] = script_url
        if route.obj is None:
            devices.append({'name': 'stdin'})
    if route.obj is not None:
        devices.append({'name': 'stdin', 'path': 'swift://%s/%s/%s' % (
            quote(route.account, safe=''), quote(route.container, safe=''),
            quote(route.obj, safe='/'))})
    node = {'name': 'script', 'exec': {'path': words[0], 'args': words[1:] + ['/dev/script']},
            'devices': devices}
    return json.dumps([node]).encode('utf-8'), body
