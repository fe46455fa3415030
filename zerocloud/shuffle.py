"""Spooled shuffles: the channels of a connected job that runs in waves.

A connected job whose channels form no cycle (map -> reduce -> merge) can run without all of
its sessions at once: the proxy runs it stage by stage (:mod:`zerocloud.proxy_middleware.
waves`), each session an independent one that waits for a slot like any other.  A session
of such a job carries a :class:`Shuffle` instead of a mesh:

* its ``outs`` (``out/red-1``...) are written to **spool files** on the object server that
  runs it, under ``<zerovm_work_dir>/shuffle/<token>/`` (one directory per job, shared by
  the server's processes), named by :func:`spool_name` of the producer and its device; a
  spool appears under its name only when its session ended with exit code 0 (until then
  it is ``<name>.part``), so a consumer never reads a partial stream;
* its ``ins`` name, for each of its ``in/<producer>`` devices, the producer, the
  producer's device and the object server (``ip:port``) that holds the spool; the object
  server running the consumer reads a spool of its own from disk and fetches the others
  from their servers (:data:`FETCH_HEADER` requests) before the program starts.

The program sees the same ``/dev/in/<producer>`` and ``/dev/out/<consumer>`` names as in a
job whose sessions run together; its inputs are complete files (read to end-of-file), its
outputs files it writes sequentially.  The proxy removes the job's spools from every server
when the job ends (a ``DELETE`` with :data:`FETCH_HEADER`); the object servers also remove
spool directories older than :data:`SPOOL_TTL_SECONDS` (a proxy that died mid-job).

The ``token`` is 32 random hex digits: a spool can be fetched only by who knows it (the
object servers' backend network, like every ``X-Backend-*`` request).
"""
import dataclasses
import hashlib
import re

from zerocloud import wire

FETCH_HEADER = 'X-Backend-Zerocloud-Shuffle'
SPOOL_DIR = 'shuffle'      # under zerovm_work_dir, and the first part of the spool paths
SPOOL_TTL_SECONDS = 24 * 3600
TOKEN = re.compile(r'^[0-9a-f]{32}$')
SPOOL_NAME = re.compile(r'^[0-9a-f]{64}$')
SERVER = re.compile(r'^[0-9A-Za-z.:\[\]-]+:[0-9]{1,5}$')


@dataclasses.dataclass(frozen=True)
class Shuffle:
    """The spooled channels of one session: ``token`` (the job's spools), ``instance`` (this
    session's), ``outs`` (its ``out/<consumer>`` devices, spooled here) and ``ins``:
    ``(device, producer, producer device, server)`` for each of its ``in/<producer>``
    devices (the producer's device is ``out/<instance>``).

    On the wire (:meth:`to_dict`) the names alone: ``out`` the consumers, ``in`` the
    producers grouped by server (``{"10.0.0.2:6010": ["map-1", "map-7"]}``), about a dozen
    bytes per producer, so a reducer of 50,000 mappers fits in the session frame.
    """
    token: str
    instance: str
    outs: tuple = ()
    ins: tuple = ()

    @classmethod
    def of(cls, token, instance, consumers=(), producers=()):
        """The shuffle of ``instance``: ``consumers`` (names), ``producers`` (``(name,
        server)`` pairs)."""
        return cls(token, instance, tuple('out/' + name for name in consumers),
                   tuple(('in/' + name, name, 'out/' + instance, server)
                         for name, server in producers))

    def to_dict(self):
        servers = {}
        for _device, producer, _producer_device, server in self.ins:
            servers.setdefault(server, []).append(producer)
        return {'token': self.token, 'instance': self.instance,
                'out': [device[len('out/'):] for device in self.outs], 'in': servers}

    @classmethod
    def from_dict(cls, data):
        """Validate the ``session.shuffle`` object.

        :raises zerocloud.wire.WireError: naming the bad field.
        """
        if not isinstance(data, dict) or set(data) != {'token', 'instance', 'out', 'in'}:
            raise wire.WireError('session.shuffle: must have exactly token, instance, out '
                                 'and in')
        token, instance, outs, ins = data['token'], data['instance'], data['out'], data['in']
        if not isinstance(token, str) or not TOKEN.match(token):
            raise wire.WireError('session.shuffle.token: must be 32 hex digits')
        if not is_name(instance):
            raise wire.WireError('session.shuffle.instance: must be an instance name')
        if not isinstance(outs, list) or not all(is_name(name) for name in outs):
            raise wire.WireError('session.shuffle.out: must be a list of instance names')
        if not isinstance(ins, dict) or not all(
                SERVER.match(server) and isinstance(names, list) and
                all(is_name(name) for name in names) for server, names in ins.items()):
            raise wire.WireError('session.shuffle.in: must map ip:port to lists of instance '
                                 'names')
        producers = [(name, server) for server, names in ins.items() for name in names]
        if len(set(outs)) != len(outs) or len({name for name, _ in producers}) != \
                len(producers):
            raise wire.WireError('session.shuffle: an instance is named twice')
        return cls.of(token, instance, outs, producers)


def is_name(name):
    """True for an instance name usable as a file name (of a ``/dev/in`` entry)."""
    return isinstance(name, str) and name not in ('', '.', '..') and '/' not in name and \
        '\0' not in name


def job_path(token):
    """The path of the job's spools in the backend requests of object servers."""
    return '/%s/%s' % (SPOOL_DIR, token)


def spool_name(producer, device):
    """The file name of ``producer``'s spooled ``device`` (64 hex digits: any instance
    name, non-ASCII or long, gives a safe, fixed-length name)."""
    return hashlib.sha256(('%s\0%s' % (producer, device)).encode('utf-8')).hexdigest()
