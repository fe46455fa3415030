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
SPOOL_TTL_SECONDS = 24 * 3600
TOKEN = re.compile(r'^[0-9a-f]{32}$')
SPOOL_NAME = re.compile(r'^[0-9a-f]{64}$')
SERVER = re.compile(r'^[0-9A-Za-z.:\[\]-]+:[0-9]{1,5}$')


@dataclasses.dataclass(frozen=True)
class Shuffle:
    """The spooled channels of one session: ``token`` (the job's spools), ``instance`` (this
    session's), ``outs`` (its ``out/...`` devices, spooled here) and ``ins``: ``(device,
    producer, producer device, server)`` for each of its ``in/...`` devices."""
    token: str
    instance: str
    outs: tuple = ()
    ins: tuple = ()

    def to_dict(self):
        return {'token': self.token, 'instance': self.instance, 'out': list(self.outs),
                'in': [list(item) for item in self.ins]}

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
        if not isinstance(instance, str) or not instance:
            raise wire.WireError('session.shuffle.instance: must be a non-empty string')
        if not isinstance(outs, list) or not all(
                isinstance(device, str) and device.startswith('out/') for device in outs):
            raise wire.WireError('session.shuffle.out: must be a list of out/<peer> devices')
        if not isinstance(ins, list) or not all(_is_input(item) for item in ins):
            raise wire.WireError('session.shuffle.in: must be a list of [in/<peer> device, '
                                 'producer, out/<peer> device, ip:port]')
        devices = list(outs) + [item[0] for item in ins]
        if len(set(devices)) != len(devices):
            raise wire.WireError('session.shuffle: a device is named twice')
        return cls(token, instance, tuple(outs), tuple(tuple(item) for item in ins))

    @property
    def devices(self):
        """Every sandbox device of the shuffle: ins, then outs."""
        return tuple(item[0] for item in self.ins) + self.outs


def _is_input(item):
    return (isinstance(item, list) and len(item) == 4 and
            all(isinstance(part, str) and part for part in item) and
            item[0].startswith('in/') and item[2].startswith('out/') and
            SERVER.match(item[3]) is not None)


def spool_name(producer, device):
    """The file name of ``producer``'s spooled ``device`` (64 hex digits: any instance
    name, non-ASCII or long, gives a safe, fixed-length name)."""
    return hashlib.sha256(('%s\0%s' % (producer, device)).encode('utf-8')).hexdigest()
