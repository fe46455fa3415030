"""Rules for a node's ``devices`` (Servlets.md rules 1-5, 9-14, 16, 19, 20; Url.md).

A device entry is ``{"name": ..., "path": ..., "content_type": ..., "meta": ...,
"mode": ..., "min_size": ...}`` (deprecated: ``"device"`` for ``"name"``).  What a path may be
depends on the device's access kind:

============  ===============================  ============================================
access        devices                          path
============  ===============================  ============================================
readable      stdin, input, script             swift:// object or container, wildcards ok;
                                               none = the request payload (one per node)
image         image                            swift:// object, required, wildcards ok
writable      stdout, stderr, output           swift:// object (wildcards take the text
                                               captured by the readable wildcard) or
                                               zvm://node:device; none = the HTTP response
network       debug                            tcp://host:port or udp://host:port, required
sysimage      system images (``python`` ...)   none (the operator configured it)
============  ===============================  ============================================

``mode`` (``file``, ``char``, ``pipe`` or ``block``; how each is shown: :mod:`zerocloud.job`)
is only for readable and writable devices, and only ``pipe`` or ``char`` for a ``zvm://`` one.
"""
from zerocloud.job import fields
from zerocloud.job.errors import JobError, show
from zerocloud.job.model import (DEVICE_MODES, IMAGE, NETWORK, READABLE, STANDARD_DEVICES,
                                 STREAM_MODES, WRITABLE, DeviceSpec, device_access)
from zerocloud.job.urls import NetUrl, SwiftUrl, ZvmUrl, parse_url

MAX_MIN_SIZE = 2 ** 63 - 1
DEVICE_KEYS = frozenset(('name', 'device', 'path', 'content_type', 'meta', 'mode', 'min_size'))


def _device_name(problems, where, raw, sysimages):
    if 'name' in raw and 'device' in raw:
        problems.add(where, 'give "name" or its deprecated spelling "device", not both')
        return None
    key = 'device' if 'device' in raw else 'name'
    if key not in raw:
        problems.add(f'{where}.name', 'required')
        return None
    name = fields.check_text(problems, f'{where}.{key}', raw[key], limit=128)
    if name is not None and name not in STANDARD_DEVICES and name not in sysimages:
        problems.add(f'{where}.{key}', f'unknown device {show(name)} (allowed: '
                     f'{", ".join(STANDARD_DEVICES + tuple(sysimages))})')
        return None
    return name


def _url_fits(name, access, url):
    """Why ``url`` cannot be the path of device ``name``, or None when it can."""
    if access == NETWORK:
        if not isinstance(url, NetUrl):
            return 'debug needs a tcp://host:port or udp://host:port path'
        return None
    if isinstance(url, ZvmUrl):
        if access == WRITABLE:
            return None
        return f'zvm:// paths are only for writable devices, not {name}'
    if not isinstance(url, SwiftUrl) or url.container is None:
        return f'{name} needs a swift://account/container[/object] path'
    if url.object is None and access != READABLE:
        return f'{name} needs a swift:// object path, not a container'
    return None


def _device_url(problems, where, name, text, sysimages):
    access = device_access(name)
    if name in sysimages and name not in STANDARD_DEVICES:
        problems.add(where, f'system image {name} has no path (the operator configures it)')
        return None
    if access == NETWORK and isinstance(text, str) and '*' in text:
        problems.add(where, 'wildcard not allowed on debug')
        return None
    try:
        url = parse_url(text, where=where)
    except JobError as err:
        problems.items.extend(err.problems)
        return None
    why = _url_fits(name, access, url)
    if why:
        problems.add(where, why)
        return None
    return url


def _device_mode(problems, where, name, url, mode):
    """The ``mode`` the job wrote (Servlets.md rule 16), or None (problem recorded).

    Only the program's channels (readable and writable devices) have one; a ``zvm://``
    channel is a stream, so only ``pipe`` or ``char`` fit it.
    """
    if mode not in DEVICE_MODES:
        problems.add(where, f'must be one of {", ".join(DEVICE_MODES)}, got {show(mode)}')
        return None
    if device_access(name) not in (READABLE, WRITABLE):
        problems.add(where, f'{name} is not a channel of the program: it has no mode')
        return None
    if isinstance(url, ZvmUrl) and mode not in STREAM_MODES:
        problems.add(where, f'a zvm:// channel is a stream: mode pipe or char, not {mode}')
        return None
    return mode


def parse_device(problems, where, raw, sysimages, in_zapp=False):
    """Check one device entry; return a DeviceSpec or None (problems recorded).

    A path-less ``image`` device means "this zapp" (ZeroCloud's system maps list it): it is
    accepted only ``in_zapp`` (the job is a zapp's ``boot/system.map``).
    """
    if fields.check_object(problems, where, raw, DEVICE_KEYS) is None:
        return None
    name = _device_name(problems, where, raw, sysimages)
    if name is None:
        return None
    url = None
    if 'path' in raw:
        url = _device_url(problems, f'{where}.path', name, raw['path'], sysimages)
        if url is None:
            return None
    elif device_access(name) == IMAGE and not in_zapp:
        problems.add(f'{where}.path', 'required for image in a plain JSON job (a path-less '
                     'image device means "this zapp": only in a zapp\'s boot/system.map)')
        return None
    elif device_access(name) == NETWORK:
        problems.add(f'{where}.path', f'required for {name}')
        return None
    values = {'name': name, 'url': url}
    for key, check in (('content_type', fields.check_content_type),
                       ('meta', fields.check_meta)):
        if key in raw:
            values[key] = check(problems, f'{where}.{key}', raw[key])
    if 'mode' in raw:
        values['mode'] = _device_mode(problems, f'{where}.mode', name, url, raw['mode'])
    if 'min_size' in raw:
        values['min_size'] = fields.check_int(problems, f'{where}.min_size', raw['min_size'],
                                              maximum=MAX_MIN_SIZE)
    if any(value is None for key, value in values.items() if key != 'url'):
        return None
    return DeviceSpec(**values)


def check_device_set(problems, where, devices, count):
    """Rules across the devices of one node: duplicates, path-less inputs, wildcards."""
    seen = {}
    for i, device in devices:
        if device.name in seen:
            problems.add(f'{where}[{i}].name', f'device {device.name} given twice '
                         f'(first at {where}[{seen[device.name]}])')
        seen.setdefault(device.name, i)
    payload = [i for i, d in devices if d.access == READABLE and d.url is None
               and d.name in ('stdin', 'input', 'script')]
    for i in payload[1:]:
        problems.add(f'{where}[{i}].path', 'only one readable device per node may be '
                     'path-less (it receives the request payload)')
    wild = [(i, d) for i, d in devices if d.access in (READABLE, IMAGE)
            and isinstance(d.url, SwiftUrl) and d.url.has_wildcard]
    for i, _ in wild[1:]:
        problems.add(f'{where}[{i}].path', 'only one readable device per node may have a '
                     'wildcard (it sets the number of instances)')
    _check_writable_paths(problems, where, devices, wild[0][1] if wild else None, count)


def _stars(url):
    return (url.container or '').count('*') + (url.object or '').count('*')


def _check_writable_paths(problems, where, devices, wild_device, count):
    captured = _stars(wild_device.url) if wild_device else None
    for i, device in devices:
        url = device.url
        if device.access != WRITABLE or not isinstance(url, SwiftUrl):
            continue
        stars = _stars(url)
        if stars and captured is not None and stars > captured:
            problems.add(f'{where}[{i}].path', f'{stars} wildcards but {wild_device.name} '
                         f'captures only {captured}')
        elif not stars and (wild_device is not None or count > 1):
            problems.add(f'{where}[{i}].path', 'one fixed path for many instances: add a '
                         'wildcard "*" (replaced by the captured text or the instance name)')
