"""The proxy <-> object server wire format for one sandbox session (version 1).

The proxy middleware dispatches each session of a job to the object server that holds the
session's object with a backend request::

    EXECUTE /<device>/<partition>/<account>[/<container>/<object>] HTTP/1.1
    X-Backend-Zerocloud-Version: 1
    X-Backend-Zerocloud-Executable-Etag: <etag of the executable, or empty>
    X-Backend-Storage-Policy-Index: <policy of the object>
    X-Backend-Zerocloud-Connected: 1      (only for a session of a connected job)
    Content-Length: <length of the body>

``EXECUTE`` is a method no stock Swift server accepts, so a request that reaches an object
server without our middleware fails with 405 and changes nothing.  The gatekeeper strips
``X-Backend-*`` headers from clients, so only the proxy can send these.

Both bodies are a sequence of **frames**; nothing else.  A frame is one ASCII header line
``<name> <length>\\n`` followed by exactly ``<length>`` bytes.  Names are ``[a-z0-9:_.-]+``.
Several frames may carry the same name: their payloads are concatenated in order (that is how
large parts are streamed).  A body always ends with the frame ``end 0``; a body that stops
before it is truncated and is rejected.

Request body frames (in this order):

``session``
    JSON: the session description (:func:`session_to_json`): instance name, argv, env,
    devices, limits, and for a connected job ``mesh`` (rendezvous address, job token,
    ``in``/``out`` lists of ``[device, peer instance]``, see
    :mod:`zerocloud.channels.rendezvous`).  Exactly one.
``executable``
    The executable's bytes, omitted when the proxy believes the server caches the ETag named in
    ``X-Backend-Zerocloud-Executable-Etag``.  If it does not, the object server answers
    ``409`` with ``X-Backend-Zerocloud-Need: executable`` and runs nothing; the proxy then sends
    the request again with everything.
``in:<device>``
    The bytes of a readable device that is not the co-located object: the request payload
    for a path-less device, or a remote object (a device with ``source: remote`` and its
    ``etag`` in the session description).  A remote input is omitted when the proxy believes
    the server caches its ETag; if it does not, the answer is ``409`` with
    ``X-Backend-Zerocloud-Need: inputs`` and the proxy sends everything again.

Response body frames (status 200 means the session was attempted; the report says how it
went):

``out:<device>``
    Bytes the program wrote on a writable device (``stdout``, ``stderr``, ``output``...).
``report``
    JSON (:func:`report_to_json`): the session :class:`~zerocloud.report.Report` as a
    dict plus ``node`` (the object server that ran it) and ``local_object`` (whether the
    co-located object file was given to the program).  Exactly one, last before ``end``.

Any other status is an error from the object server whose body is a plain-text message.

This module is pure: no Swift, no eventlet, no sandbox import.
"""
import json
import re

WIRE_VERSION = '1'
EXECUTE_METHOD = 'EXECUTE'

HEADER_PREFIX = 'X-Backend-Zerocloud-'
VERSION_HEADER = HEADER_PREFIX + 'Version'
EXECUTABLE_ETAG_HEADER = HEADER_PREFIX + 'Executable-Etag'
NEED_HEADER = HEADER_PREFIX + 'Need'
NODE_HEADER = 'X-Nexe-Node'
CONNECTED_HEADER = HEADER_PREFIX + 'Connected'

# The most channels (devices plus /dev/in and /dev/out streams) one session may have: each is a
# descriptor in the one SCM_RIGHTS message to the sandbox supervisor, which carries at most
# 253 (zerocloud.sandbox.supervisor.MAX_FDS); the rest is headroom.  The proxy refuses bigger
# instances with a 400 before anything runs.
MAX_SESSION_CHANNELS = 240

NEED_EXECUTABLE = 'executable'
NEED_INPUTS = 'inputs'
END = 'end'
SESSION = 'session'
EXECUTABLE = 'executable'
INPUT_PREFIX = 'in:'
REPORT = 'report'
OUTPUT_PREFIX = 'out:'

MAX_HEADER_LINE = 128
_NAME = re.compile(r'^[a-z0-9:_.-]{1,100}$')
_HEADER = re.compile(rb'^([a-z0-9:_.-]{1,100}) (0|[1-9][0-9]{0,15})\n$')


class WireError(ValueError):
    """A body that does not follow this format (garbage, truncated, too large)."""


def is_zerocloud_header(name):
    """True for a header name in our private ``X-Backend-Zerocloud-*`` namespace."""
    return name.lower().startswith(HEADER_PREFIX.lower())


def encode_frame(name, data):
    """Return one frame carrying ``data`` (bytes) under ``name``.

    :raises WireError: for a name outside ``[a-z0-9:_.-]``.
    """
    if not _NAME.match(name):
        raise WireError('invalid frame name %r' % (name,))
    return b'%s %d\n' % (name.encode('ascii'), len(data)) + bytes(data)


def encode_end():
    """Return the frame that closes a body."""
    return encode_frame(END, b'')


def encode_request(session, executable=None, inputs=None):
    """Return a complete request body: session description, optional executable and inputs.

    :param inputs: ``{device name: bytes}`` for readable devices the server cannot read
        locally (sent as ``in:<device>`` frames).
    """
    parts = [encode_frame(SESSION, session_to_json(session))]
    if executable is not None:
        parts.append(encode_frame(EXECUTABLE, executable))
    for device, data in sorted((inputs or {}).items()):
        parts.append(encode_frame(INPUT_PREFIX + device, data))
    parts.append(encode_end())
    return b''.join(parts)


def session_to_json(session):
    """Encode a session description (a JSON-able dict) as UTF-8 JSON bytes."""
    return json.dumps(session, sort_keys=True, separators=(',', ':')).encode('utf-8')


def report_to_json(report_dict, node='', local_object=False):
    """Encode a report dict (``Report.to_dict()``) and where it ran as JSON bytes."""
    data = dict(report_dict, node=node, local_object=bool(local_object))
    return json.dumps(data, sort_keys=True).encode('utf-8')


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

    Iterating yields ``(name, chunk)`` pairs, with chunks of at most ``chunk_size`` bytes (a
    large frame is yielded in pieces), and stops after the ``end`` frame.

    :raises WireError: on a malformed header line, a body that stops early, or more than
        ``max_bytes`` payload bytes in total.
    """

    def __init__(self, read, max_bytes, chunk_size=65536):
        self._read = read
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
