"""The reading side of the proxy <-> object server wire: frames and session descriptions.

:class:`FrameReader` reads a body's frames (``<name> <length>\\n`` then the bytes, up to the
``end`` frame) from a ``read(n)`` callable under a size limit; :func:`read_parts` and
:func:`bytes_reader` read small bodies whole (tests and tools).  :func:`decode_json` decodes
the JSON object of a frame, and the private field decoders here validate a ``session``
frame field by field for :meth:`zerocloud.wire.Session.from_json`.

The protocol itself (the request, the frames, their order, the answers) is described in
:mod:`zerocloud.wire`, which also holds its constants, the frame encoding and the session
types.  This module is pure too: no Swift, no eventlet, no sandbox import.
"""
import dataclasses
import json
import re

from zerocloud.job.model import DEVICE_MODES
from zerocloud.wire import (
    END, LOCAL, MAX_HEADER_LINE, PAYLOAD, READ, REMOTE, USER_IMAGE, WRITE, _NAME, Device,
    Executable, Mesh, SessionLimits, UserImage, WireError)

_HEADER = re.compile(rb'^([a-z0-9:_.-]{1,100}) (0|[1-9][0-9]{0,15})\n$')


class _Fields:
    """Typed access to one JSON object of the session, each error located."""

    def __init__(self, data, where, required=(), optional=()):
        if not isinstance(data, dict):
            raise WireError('%s: must be an object' % where)
        unknown = sorted(set(data) - set(required) - set(optional))
        if unknown:
            raise WireError('%s.%s: unknown field' % (where, unknown[0][:60]))
        missing = [key for key in required if key not in data]
        if missing:
            raise WireError('%s.%s: missing' % (where, missing[0]))
        self.data = data
        self.where = where

    def get(self, key, kind, default=dataclasses.MISSING):
        value = self.data.get(key)
        if value is None and key not in self.data:
            return kind() if default is dataclasses.MISSING else default
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise WireError('%s.%s: must be %s' % (self.where, key, _KIND_NAMES[kind]))
        return value

    def text(self, key, choices=None):
        value = self.get(key, str)
        if choices is not None and value not in choices:
            raise WireError('%s.%s: must be one of %s' % (self.where, key, ', '.join(choices)))
        return value

    def texts(self, key):
        values = self.get(key, list)
        if not all(isinstance(value, str) for value in values):
            raise WireError('%s.%s: must be a list of strings' % (self.where, key))
        return values

    def number(self, key, kind):
        value = self.get(key, kind)
        if value < 0 or value != value or value == float('inf'):
            raise WireError('%s.%s: must be a finite number >= 0' % (self.where, key))
        return value


_KIND_NAMES = {bool: 'true or false', str: 'a string', list: 'a list', dict: 'an object', int: 'an integer',
               float: 'a number'}


def _executable(data):
    fields = _Fields(data, 'session.executable',
                     optional=('etag', 'image', 'path', 'prevalidated'))
    executable = Executable(fields.get('etag', str), fields.get('image', str),
                            fields.get('path', str), fields.get('prevalidated', bool))
    if executable.prevalidated and not executable.etag:
        raise WireError('session.executable.prevalidated: only for a Swift object known by '
                        'its etag')
    if (executable.image and not executable.path) or \
            (executable.path and executable.etag):
        raise WireError('session.executable: either an etag (a Swift object, sent in the '
                        'body unless cached; empty when not cacheable), or a path (with '
                        'the image holding it, or none: searched in the session\'s images)')
    return executable


def _user_image(data):
    if data is None:
        return None
    return UserImage(_Fields(data, 'session.image', optional=('etag',)).get('etag', str))


def _images(names, image):
    """The mount order; the user image is first exactly when ``session.image`` is set."""
    if (USER_IMAGE in names) != (image is not None) or \
            (image is not None and names[0] != USER_IMAGE):
        raise WireError('session.images: %r must come first exactly when session.image is '
                        'set' % USER_IMAGE)
    if len(set(names)) != len(names):
        raise WireError('session.images: an image is named twice')
    return tuple(names)


def _devices(items):
    devices, names = [], set()
    for index, item in enumerate(items):
        where = 'session.devices[%d]' % index
        fields = _Fields(item, where, required=('name', 'access'),
                         optional=('source', 'etag', 'mode'))
        device = Device(fields.text('name'), fields.text('access', (READ, WRITE)),
                        fields.get('source', str), fields.get('etag', str),
                        fields.text('mode', DEVICE_MODES) if 'mode' in item else '')
        sources = (LOCAL, REMOTE, PAYLOAD) if device.access == READ else ('',)
        if device.source not in sources:
            raise WireError('%s.source: must be %s for a %s device' % (
                where, ' or '.join(s or 'absent' for s in sources), device.access))
        if device.etag and device.source != REMOTE:
            raise WireError('%s.etag: only a remote device has one' % where)
        if not _NAME.match(device.name) or device.name in names:
            raise WireError('%s.name: bad or repeated device name %r' % (where, device.name))
        names.add(device.name)
        devices.append(device)
    return tuple(devices)


def _limits(data):
    fields = _Fields(data, 'session.limits', required=(
        'timeout_seconds', 'max_input_bytes', 'max_output_bytes'))
    return SessionLimits(fields.number('timeout_seconds', float),
                         fields.number('max_input_bytes', int),
                         fields.number('max_output_bytes', int))


def _mesh(data):
    if data is None:
        return None
    fields = _Fields(data, 'session.mesh', required=(
        'rendezvous', 'token', 'instance', 'timeout_seconds'), optional=('in', 'out'))
    address = fields.get('rendezvous', list)
    if len(address) != 2 or not isinstance(address[0], str) or \
            not isinstance(address[1], int) or isinstance(address[1], bool):
        raise WireError('session.mesh.rendezvous: must be [host, port]')
    pairs = {}
    for key in ('in', 'out'):
        items = fields.get(key, list)
        if not all(isinstance(pair, list) and len(pair) == 2 and
                   all(isinstance(part, str) for part in pair) for pair in items):
            raise WireError('session.mesh.%s: must be a list of [device, peer]' % key)
        pairs[key] = tuple(tuple(pair) for pair in items)
    return Mesh(tuple(address), fields.text('token'), fields.text('instance'),
                fields.number('timeout_seconds', float), pairs['in'], pairs['out'])


def _shuffle(data):
    if data is None:
        return None
    from zerocloud.shuffle import Shuffle
    return Shuffle.from_dict(data)


def decode_json(name, payload):
    """Decode the JSON object carried by frame ``name``.

    :raises WireError: when the payload is not a UTF-8 JSON object.
    """
    try:
        value = json.loads(payload.decode('utf-8'))
    except (UnicodeDecodeError, ValueError) as err:
        raise WireError('frame %r is not valid JSON: %s' % (name, err))
    if not isinstance(value, dict):
        raise WireError('frame %r must hold a JSON object' % (name,))
    return value


class FrameReader:
    """Read frames from a file-like ``read(n)`` callable, enforcing a total size limit.

    ``readline(limit)``, when the source has one (a buffered HTTP response), reads each
    frame header in one call instead of byte by byte.

    Iterating yields ``(name, chunk)`` pairs, with chunks of at most ``chunk_size`` bytes (a
    large frame is yielded in pieces), and stops after the ``end`` frame.

    :raises WireError: on a malformed header line, a body that stops early, or more than
        ``max_bytes`` payload bytes in total.
    """

    def __init__(self, read, max_bytes, chunk_size=65536, readline=None):
        self._read = read
        self._readline = readline
        self._max_bytes = max_bytes
        self._chunk_size = chunk_size
        self._total = 0

    def _read_exactly(self, count):
        pieces = []
        while count:
            piece = self._read(count)
            if not piece:
                raise WireError('body truncated (%d bytes missing)' % count)
            pieces.append(piece)
            count -= len(piece)
        return b''.join(pieces)

    def _header(self):
        line = b''
        if self._readline is not None:  # a buffered source: one call per header
            line = self._readline(MAX_HEADER_LINE)
            if not line:
                raise WireError('body truncated before the end frame')
        while not line.endswith(b'\n'):
            if len(line) >= MAX_HEADER_LINE:
                raise WireError('frame header too long')
            byte = self._read(1)
            if not byte:
                raise WireError('body truncated before the end frame')
            line += byte
        match = _HEADER.match(line)
        if not match:
            raise WireError('malformed frame header %r' % (line[:40],))
        name, length = match.group(1).decode('ascii'), int(match.group(2))
        return name, length

    def __iter__(self):
        while True:
            name, length = self._header()
            if name == END:
                if length:
                    raise WireError('the end frame must be empty')
                return
            self._total += length
            if self._total > self._max_bytes:
                raise WireError('body larger than %d bytes' % self._max_bytes)
            if length == 0:
                yield name, b''
            while length:
                piece = self._read_exactly(min(length, self._chunk_size))
                length -= len(piece)
                yield name, piece


def read_parts(read, max_bytes):
    """Read a whole body into ``{name: bytes}`` (frames of one name concatenated)."""
    pieces = {}
    for name, chunk in FrameReader(read, max_bytes):
        pieces.setdefault(name, []).append(chunk)
    return {name: b''.join(chunks) for name, chunks in pieces.items()}


def bytes_reader(data):
    """Return a ``read(n)`` callable over ``data`` (for tests and small bodies)."""
    view = memoryview(data)
    position = [0]

    def read(count):
        start = position[0]
        position[0] = min(len(view), start + count)
        return bytes(view[start:position[0]])
    return read
