"""The rendezvous protocol that wires the sessions of a connected job (DESIGN decision 7).

For a job with channels (``connect`` or ``zvm://``) the proxy middleware opens a TCP listener
for the job and gives every session its address, a random per-job ``token`` and the names of
its peers.  Each object server, after admitting its session:

1. opens two listeners for the session's incoming channels: TCP, and an abstract Unix
   socket with a random name;
2. connects to the rendezvous and sends ``register`` (token, instance, host, port, and its
   ``host_id`` with the Unix socket's name);
3. receives ``peers`` (the listening addresses of its sources and destinations) once
   *every* instance has registered, or ``cancel`` (a peer could not be placed, the registration deadline passed);
4. connects each outgoing channel to its destination's listener and sends the channel
   handshake (:func:`encode_handshake`), accepts and checks its incoming ones.  A channel
   between two sessions with the same ``host_id`` (:func:`is_local`) is a Unix stream
   connection to the destination's abstract socket; any other is TCP.  Both ends decide
   alike (they compare the same two registrations), so each knows how many connections
   to accept on which listener;
5. only then starts the program, its sockets as ``/dev/out/<dst>`` and ``/dev/in/<src>``;
6. keeps the rendezvous connection open while the program runs and sends ``ended`` (ok or
   not, with the reason) when it ends.  A ``cancel`` (or the connection dropping) stops it.

The proxy cancels every other instance as soon as one fails to be placed, to register, to
start, or ends in failure; the first failure is the one the response names.

Messages are JSON objects, one per line (``\\n``), at most :data:`MAX_LINE` bytes::

    object -> proxy  {"op": "register", "token": T, "instance": "map-1", "host": h, "port": p,
                      "host_id": id, "unix": name}
    proxy -> object  {"op": "peers", "peers": {"map-1": [h, p, id, name], ...}}
    object -> proxy  {"op": "ended", "ok": true|false, "reason": "..."}
    proxy -> object  {"op": "cancel", "reason": "..."}

``host_id`` names the kernel and network namespace the session runs in: the servers that
can reach each other's abstract Unix sockets (see
:func:`zerocloud.object_middleware.mesh.host_identity`); ``unix`` is the name of its
abstract socket.  A registration without them (``[h, p]`` in ``peers``) is reached over
TCP only.

The channel handshake, sent by the source on its new connection, is one line
``zerocloud-channel <token> <src> <dst>\\n``; it is the same over both transports, and so
are half-closing, end-of-file and cancellation.

This module is pure (no sockets, no eventlet): messages and the :class:`Registry` state.
"""
import json
import re
import secrets

MAX_LINE = 4 << 20        # the peers of a session with 4096 channels fit
HANDSHAKE_WORD = 'zerocloud-channel'
REGISTER, PEERS, ENDED, CANCEL = 'register', 'peers', 'ended', 'cancel'
_NAME = re.compile(r'^[A-Za-z0-9_.-]{1,128}$')
_HOST_ID = re.compile(r'^[A-Za-z0-9_.:-]{1,128}$')


class ProtocolError(ValueError):
    """A message or handshake that does not follow this protocol."""


def new_token():
    """A fresh random job token (128 bits, hex)."""
    return secrets.token_hex(16)


def encode(op, **fields):
    """One message line (bytes) with ``op`` and ``fields``."""
    return json.dumps(dict(fields, op=op), sort_keys=True).encode('utf-8') + b'\n'


def decode(line):
    """The message dict of one line.

    :raises ProtocolError: for anything but a JSON object with a known ``op``.
    """
    if len(line) > MAX_LINE or not line.endswith(b'\n'):
        raise ProtocolError('message line too long or truncated')
    try:
        message = json.loads(line.decode('utf-8'))
    except (UnicodeDecodeError, ValueError) as err:
        raise ProtocolError('message is not JSON: %s' % err)
    if not isinstance(message, dict) or message.get('op') not in (REGISTER, PEERS, ENDED,
                                                                    CANCEL):
        raise ProtocolError('unknown message %r' % (str(message)[:80],))
    return message


def encode_handshake(token, source, destination):
    """The first line a source sends on a channel connection."""
    return ('%s %s %s %s\n' % (HANDSHAKE_WORD, token, source, destination)).encode('ascii')


def decode_handshake(line, token, destination, expected_sources):
    """The source instance named by a handshake ``line`` sent to ``destination``.

    :raises ProtocolError: wrong token, destination, or a source not expected.
    """
    words = line.decode('ascii', 'replace').split()
    if len(words) != 4 or words[0] != HANDSHAKE_WORD:
        raise ProtocolError('bad channel handshake %r' % line[:80])
    if not secrets.compare_digest(words[1], token):
        raise ProtocolError('channel handshake with a wrong token')
    if words[3] != destination or words[2] not in expected_sources:
        raise ProtocolError('unexpected channel %s -> %s' % (words[2], words[3]))
    return words[2]


class Registry:
    """The proxy's view of one job's rendezvous (pure state, no I/O).

    :param token: the job token every registration must carry.
    :param instances: the names of every instance that must register.
    """

    def __init__(self, token, instances):
        self.token = token
        self.expected = tuple(instances)
        self.addresses = {}
        self.failure = None          # (instance, reason) of the first failure

    def register(self, message):
        """Record a ``register`` message; returns the instance name.

        :raises ProtocolError: wrong token, unknown or duplicate instance, bad address.
        """
        if message.get('op') != REGISTER:
            raise ProtocolError('expected register, got %s' % message.get('op'))
        if not isinstance(message.get('token'), str) or \
                not secrets.compare_digest(message['token'], self.token):
            raise ProtocolError('registration with a wrong token')
        name, host, port = message.get('instance'), message.get('host'), message.get('port')
        if name not in self.expected:
            raise ProtocolError('unknown instance %r' % (name,))
        if name in self.addresses:
            raise ProtocolError('instance %s registered twice' % name)
        if not isinstance(host, str) or not isinstance(port, int) or not 0 < port < 65536:
            raise ProtocolError('instance %s: bad address %r:%r' % (name, host, port))
        self.addresses[name] = (host, port) + _local_address(name, message)
        return name

    @property
    def complete(self):
        """True when every instance has registered."""
        return len(self.addresses) == len(self.expected)

    @property
    def missing(self):
        """Instances that have not registered yet, in instance order."""
        return [name for name in self.expected if name not in self.addresses]

    def peers_message(self, neighbours=None):
        """The ``peers`` message sent once :attr:`complete`: the addresses of the instances
        named in ``neighbours`` (an instance's sources and destinations: its message stays
        small in a big job), or of every instance."""
        names = self.addresses if neighbours is None else neighbours
        return encode(PEERS, peers={name: list(self.addresses[name]) for name in names})

    def fail(self, instance, reason):
        """Record a failure; only the first one is kept.  Returns True if it was the first."""
        if self.failure is None:
            self.failure = (instance, reason)
            return True
        return False

    def cancel_message(self):
        """The ``cancel`` message naming the first failure."""
        instance, reason = self.failure or ('', 'cancelled')
        return encode(CANCEL, reason='cancelled: %s failed: %s' % (instance, reason)
                      if instance else reason)

    def deadline_reason(self, seconds):
        """Why the registration deadline failed the job."""
        return 'not placed within %gs (missing: %s)' % (seconds, ', '.join(self.missing[:10]))


def _local_address(name, message):
    """``(host_id, unix name)`` of a registration, or ``()`` without them.

    :raises ProtocolError: only one of them, or either malformed.
    """
    host_id, unix = message.get('host_id'), message.get('unix')
    if host_id is None and unix is None:
        return ()
    if not isinstance(host_id, str) or not _HOST_ID.match(host_id) or \
            not isinstance(unix, str) or not _NAME.match(unix):
        raise ProtocolError('instance %s: bad local address %r %r' % (name, host_id, unix))
    return host_id, unix


def is_local(address, host_id):
    """True when the peer registered at ``address`` (an entry of ``peers``) runs where
    ``host_id`` does: the channel is then a Unix stream to its abstract socket."""
    return len(address) == 4 and address[2] == host_id


def failure_reason(report):
    """Why a session of a connected job failed, or None: a report that is not ``ok`` or a
    non-zero exit (its peers' streams are then incomplete)."""
    if not report.ok:
        return report.status_text
    if report.retcode:
        return 'exited with status %s' % report.retcode
    return None


def check_name(name):
    """True for an instance name usable in handshakes."""
    return bool(_NAME.match(name or ''))
