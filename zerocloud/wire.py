"""The proxy <-> object server wire contract for one sandbox session (version 2).

The proxy middleware dispatches each session of a job to the object server that holds the
session's object with a backend request::

    EXECUTE /<device>/<partition>/<account>[/<container>/<object>] HTTP/1.1
    X-Backend-Zerocloud-Version: 2
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
    JSON: the :class:`Session` description (:meth:`Session.to_json`), validated by the object
    server when it arrives (:meth:`Session.from_json`): an unknown or ill-typed field is a
    400 naming it (``session.devices[1].access: ...``), never a default.  Exactly one.
``executable``
    The executable's bytes, omitted when the proxy believes the server caches the ETag named in
    ``session.executable.etag``.  If it does not, the object server answers
    ``409`` with ``X-Backend-Zerocloud-Need: executable`` and runs nothing; the proxy then sends
    the request again with everything.
``image``
    The user image (a zapp: a tar, plain or gzip) of a session whose ``session.image`` is
    set, omitted when the proxy believes the server caches its ETag (the MD5 of these
    bytes; ``session.image.etag``, empty when not cacheable: then always sent).  If the
    server has it neither sent nor cached, the answer is ``409`` with
    ``X-Backend-Zerocloud-Need: image`` and the proxy sends everything again.  The server
    unpacks it once per ETag (:mod:`zerocloud.zapp`) and shows it read-only at ``/``.
``in:<device>``
    The bytes of a readable device that is not the co-located object: the request payload
    for a ``payload`` device, or a remote object (a ``remote`` device with its ``etag``).  A
    remote input is omitted when the proxy believes the server caches its ETag; if it does
    not, the answer is ``409`` with ``X-Backend-Zerocloud-Need: inputs`` and the proxy sends
    everything again.

The proxy streams these parts from their GET into the request (:func:`frame_header` before a
part of known length); the object server spools them to files as they arrive.

If the co-located object's file is not its bytes (a large object's manifest, an erasure-coded
fragment, ciphertext), the answer is ``409`` with ``X-Backend-Zerocloud-Need: object``; the
proxy then sends the request again with that device as a ``remote`` one (no ETag) whose
bytes it streams from its own GET.

Response body frames (status 200 means the session was admitted; the report says how it
went):

``wait``
    Empty: sent at least every :data:`HEARTBEAT_SECONDS` while the program runs, so the proxy
    knows the server is alive and the server notices at once (a failed write) when the proxy
    hung up: it then stops the session.
``out:<device>``
    Bytes the program wrote on a writable device (``stdout``, ``stderr``, ``output``...).
``report``
    JSON (:func:`report_to_json`): the session :class:`~zerocloud.report.Report` as a
    dict plus ``node`` (the object server that ran it), ``local_object`` (whether the
    co-located object file was given to the program) and ``retry`` (true when the program
    never started because of this server, e.g. its sandbox supervisor was lost: the proxy
    may run the session on another server).  Exactly one, last before ``end``.

Any other status is an error from the object server whose body is a plain-text message.
A ``404`` marked with ``X-Backend-Zerocloud-Final: 1`` (a program missing from the session's
images) is the answer itself: another replica would answer the same.

The reading side (:class:`~zerocloud.wire_decode.FrameReader` for the frames,
:func:`~zerocloud.wire_decode.decode_json` and the field decoders behind
:meth:`Session.from_json`) is in :mod:`zerocloud.wire_decode`.

This module is pure: no Swift, no eventlet, no sandbox import.
"""
import dataclasses
import json
import re
import typing

WIRE_VERSION = '2'
EXECUTE_METHOD = 'EXECUTE'

HEADER_PREFIX = 'X-Backend-Zerocloud-'
VERSION_HEADER = HEADER_PREFIX + 'Version'
NEED_HEADER = HEADER_PREFIX + 'Need'
NODE_HEADER = 'X-Nexe-Node'
CONNECTED_HEADER = HEADER_PREFIX + 'Connected'
BUSY_HEADER = HEADER_PREFIX + 'Busy'   # on a 503 of a full server: the proxy tries later
FINAL_HEADER = HEADER_PREFIX + 'Final'  # on a 404 that no other server would answer otherwise

# The most channels (devices plus /dev/in and /dev/out streams) one session may have.  Each is
# a descriptor passed to the sandbox supervisor (in batches of 253, zerocloud.sandbox.fdpass)
# and a socket or file the object server holds while the session runs; the supervisor holds
# about as many again (FIFOs, mounts) and the program may open each.  The object server and
# the supervisor lift their soft RLIMIT_NOFILE to the hard limit at start; a hard limit of
# max_pool x (2 x 4096 + 64) covers every session at this size.  The proxy refuses bigger
# instances with a 400 before anything runs (advertised in /info as max_session_channels).
MAX_SESSION_CHANNELS = 4096

NEED_EXECUTABLE = 'executable'
NEED_INPUTS = 'inputs'
NEED_OBJECT = 'object'
NEED_IMAGE = 'image'
END = 'end'
SESSION = 'session'
EXECUTABLE = 'executable'
IMAGE = 'image'
USER_IMAGE = 'image'      # the user image's name in Session.images (always first)
INPUT_PREFIX = 'in:'
REPORT = 'report'
WAIT = 'wait'
HEARTBEAT_SECONDS = 0.5
OUTPUT_PREFIX = 'out:'

MAX_HEADER_LINE = 128
_NAME = re.compile(r'^[a-z0-9:_.-]{1,100}$')


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


def frame_header(name, length):
    """Return the header line of a frame of ``length`` bytes (its payload streams after it).

    :raises WireError: for a name outside ``[a-z0-9:_.-]``.
    """
    if not _NAME.match(name):
        raise WireError('invalid frame name %r' % (name,))
    return b'%s %d\n' % (name.encode('ascii'), length)


def encode_request(session, executable=None, inputs=None):
    """Return a complete request body (small parts held in memory: tests and tools).

    :param session: a :class:`Session`.
    :param inputs: ``{device name: bytes}`` for readable devices the server cannot read
        locally (sent as ``in:<device>`` frames).
    """
    parts = [encode_frame(SESSION, session.to_json())]
    if executable is not None:
        parts.append(encode_frame(EXECUTABLE, executable))
    for device, data in sorted((inputs or {}).items()):
        parts.append(encode_frame(INPUT_PREFIX + device, data))
    parts.append(encode_end())
    return b''.join(parts)


def report_to_json(report_dict, node='', local_object=False, retry=False):
    """Encode a report dict (``Report.to_dict()``) and where it ran as JSON bytes.

    :param retry: the program never started because of this server (the proxy may run the
        session elsewhere).
    """
    data = dict(report_dict, node=node, local_object=bool(local_object), retry=bool(retry))
    return json.dumps(data, sort_keys=True).encode('utf-8')


# ---------------------------------------------------------------------------------------
# The session description: frozen types, validated field by field where they arrive
# (the field decoders: zerocloud.wire_decode).

READ, WRITE = 'read', 'write'
LOCAL, REMOTE, PAYLOAD = 'local', 'remote', 'payload'


@dataclasses.dataclass(frozen=True)
class Device:
    """A channel of the session that the object server prepares.

    ``access`` is ``read`` or ``write``; a readable device has a ``source``: ``local`` (the
    co-located object's file), ``remote`` (an object stored elsewhere, sent in an
    ``in:<name>`` frame or cached by its ``etag``) or ``payload`` (the request payload, sent
    in an ``in:<name>`` frame, possibly empty).  Writable devices have no source.

    ``mode`` is the device mode the job wrote (``file``, ``char``, ``pipe`` or ``block``;
    how each is shown: :mod:`zerocloud.job`), or ``''`` when it wrote none (the device is
    shown as the file the server prepares).
    """
    name: str
    access: str
    source: str = ''
    etag: str = ''
    mode: str = ''


@dataclasses.dataclass(frozen=True)
class Executable:
    """What to run: a Swift object known by its ``etag`` (sent in the ``executable`` frame
    or cached; an empty etag means "always sent", e.g. a large object), or ``path`` inside
    ``image`` (a system image, or ``image``: the user image); ``path`` without ``image`` is
    searched in the session's images in order (the user image first).  ``prevalidated``:
    the object's prevalidation record (SPEC S4) says the bytes of ``etag`` are valid; the
    object server runs them without validating again (``X-Nexe-Validation: 2``)."""
    etag: str = ''
    image: str = ''
    path: str = ''
    prevalidated: bool = False


@dataclasses.dataclass(frozen=True)
class UserImage:
    """The session's user image (a zapp), sent in the ``image`` frame unless cached by
    ``etag`` (the MD5 of its bytes; '' when not cacheable: always sent)."""
    etag: str = ''


@dataclasses.dataclass(frozen=True)
class SessionLimits:
    """Bounds the proxy asks for; the object server applies the smaller of these and its own
    options (``zerovm_timeout``, ``zerovm_maxinput``, ``zerovm_maxoutput``)."""
    timeout_seconds: float
    max_input_bytes: int
    max_output_bytes: int


@dataclasses.dataclass(frozen=True)
class Mesh:
    """The channels of a session of a connected job (:mod:`zerocloud.channels.rendezvous`):
    the rendezvous ``(host, port)``, the job's token, this instance's name, the registration
    deadline, and ``(sandbox device, peer instance)`` pairs (``in/map-1``, ``out/red-2``)."""
    rendezvous: tuple
    token: str
    instance: str
    timeout_seconds: float
    ins: tuple = ()
    outs: tuple = ()


@dataclasses.dataclass(frozen=True)
class Session:
    """Everything an object server needs to run one instance (besides streamed bytes).

    ``env`` is a tuple of ``(name, value)`` pairs (frozen); :meth:`environment` gives a dict.
    ``images`` are images in mount order (the first at ``/``): the user image
    (:data:`USER_IMAGE`, present exactly when ``image`` is set, then always first) and
    system images.
    """
    name: str
    argv: tuple
    env: tuple
    executable: Executable
    devices: tuple
    limits: SessionLimits
    images: tuple = ()
    mesh: typing.Optional[Mesh] = None
    image: typing.Optional[UserImage] = None
    shuffle: typing.Optional[object] = None   # a :class:`zerocloud.shuffle.Shuffle`

    def environment(self):
        return dict(self.env)

    def device(self, name):
        """The :class:`Device` called ``name``, or None."""
        return next((device for device in self.devices if device.name == name), None)

    def to_json(self):
        """UTF-8 JSON bytes (the ``session`` frame)."""
        data = {'name': self.name, 'argv': list(self.argv), 'env': dict(self.env),
                'executable': _non_empty(dataclasses.asdict(self.executable)),
                'devices': [_non_empty(dataclasses.asdict(d)) for d in self.devices],
                'limits': dataclasses.asdict(self.limits), 'images': list(self.images)}
        if self.image is not None:
            data['image'] = dataclasses.asdict(self.image)
        if self.shuffle is not None:
            data['shuffle'] = self.shuffle.to_dict()
        if self.mesh is not None:
            mesh = self.mesh
            data['mesh'] = {'rendezvous': list(mesh.rendezvous), 'token': mesh.token,
                            'instance': mesh.instance,
                            'timeout_seconds': mesh.timeout_seconds,
                            'in': [list(pair) for pair in mesh.ins],
                            'out': [list(pair) for pair in mesh.outs]}
        return json.dumps(data, sort_keys=True, separators=(',', ':')).encode('utf-8')

    @classmethod
    def from_json(cls, payload):
        """Decode and validate a ``session`` frame.

        :raises WireError: naming the first missing, unknown or ill-typed field.
        """
        from zerocloud.wire_decode import (  # lazily: it imports this module
            _Fields, _devices, _executable, _images, _limits, _mesh, _shuffle, _user_image,
            decode_json)
        data = decode_json(SESSION, payload)
        fields = _Fields(data, 'session', required=(
            'name', 'argv', 'env', 'executable', 'devices', 'limits'),
            optional=('images', 'mesh', 'image', 'shuffle'))
        env = fields.get('env', dict)
        for key, value in env.items():
            if not isinstance(value, str) or not key or '=' in key or '\0' in key + value:
                raise WireError('session.env.%s: must be a string without NUL' % key[:60])
        image = _user_image(fields.get('image', dict, None))
        session = cls(
            name=fields.text('name'), argv=tuple(fields.texts('argv')),
            env=tuple(sorted(env.items())),
            executable=_executable(fields.get('executable', dict)),
            devices=_devices(fields.get('devices', list)),
            limits=_limits(fields.get('limits', dict)),
            images=_images(fields.texts('images'), image),
            mesh=_mesh(fields.get('mesh', dict, None)), image=image,
            shuffle=_shuffle(fields.get('shuffle', dict, None)))
        if session.shuffle is not None and session.mesh is not None:
            raise WireError('session.shuffle: not with a mesh (a session\'s channels are '
                            'streamed or spooled, not both)')
        return session


def _non_empty(data):
    return {key: value for key, value in data.items() if value != ''}
