"""The one adapter to Swift's DiskFile API: open the co-located object for zero-copy reading.

The object's data file is opened read-only through the public DiskFile API
(``DiskFileRouter(conf, logger)[policy].get_diskfile(...)``, ``open()``, ``reader()``) and a
duplicate of its file descriptor is handed to the sandbox, so the bytes never leave the disk.

When the data file is not the object's bytes -- a fragment of an erasure-coded policy,
ciphertext of the encryption middleware, the manifest of a static or dynamic large object --
the answer is ``409`` with ``X-Backend-Zerocloud-Need: object``: the proxy then sends the
object's bytes as its own GET gives them (assembled, decrypted, decoded), and the session
runs here without the zero-copy shortcut.
"""
import dataclasses
import os

from swift.common import swob
from swift.common.storage_policy import EC_POLICY, POLICIES
from swift.obj import diskfile

from zerocloud import wire

ENCRYPTION_SYSMETA = 'x-object-sysmeta-crypto-body-meta'


@dataclasses.dataclass(frozen=True)
class LocalObject:
    """An open local object: ``fd`` (owned by the caller: close it) and its metadata."""
    fd: int
    path: str
    metadata: dict

    @property
    def content_length(self):
        return int(self.metadata.get('Content-Length', 0))


class LocalObjects:
    """Opens local objects of any storage policy (one DiskFile router per server process)."""

    def __init__(self, conf, logger):
        self._router = diskfile.DiskFileRouter(conf, logger)

    def open(self, device, partition, account, container, obj, policy_index):
        """Return a :class:`LocalObject` for ``/account/container/obj`` on ``device``.

        :raises HTTPException: 404 when this server has no copy (the proxy then tries the
            next replica), 409 (``Need: object``) when the file is not the object's bytes,
            507 when the device is not mounted.
        """
        policy = POLICIES.get_by_index(policy_index)
        if policy is None:
            raise swob.HTTPBadRequest(body='unknown storage policy %r\n' % policy_index)
        if policy.policy_type == EC_POLICY:
            raise need_stream('its policy %s is erasure-coded (the file is a fragment)'
                              % policy.name)
        try:
            disk_file = self._router[policy].get_diskfile(
                device, partition, account, container, obj, policy=policy)
            with disk_file.open():
                metadata = disk_file.get_metadata()
                reader = disk_file.reader()
        except diskfile.DiskFileDeviceUnavailable:
            raise swob.HTTPInsufficientStorage(body='device %s unavailable\n' % device)
        except (diskfile.DiskFileNotExist, diskfile.DiskFileQuarantined):
            raise swob.HTTPNotFound(body='Error 404 Not Found while fetching /%s/%s/%s\n'
                                         % (account, container, obj))
        return LocalObject(_take_fd(reader, metadata, container, obj),
                           '/%s/%s/%s' % (account, container, obj), metadata)

    def diskfile(self, device, partition, account, container, obj, policy_index):
        """The (unopened) DiskFile of ``/account/container/obj`` on ``device``.

        :raises DiskFileDeviceUnavailable: when the device is not mounted.
        """
        policy = POLICIES.get_by_index(policy_index)
        return self._router[policy].get_diskfile(device, partition, account, container, obj,
                                                 policy=policy)


def need_stream(why):
    """The 409 that asks the proxy for the object's bytes as its GET gives them."""
    return swob.HTTPConflict(body='the local file is not the object: %s\n' % why,
                             headers={wire.NEED_HEADER: wire.NEED_OBJECT})


def not_the_bytes(metadata):
    """Why the data file does not hold the object's bytes, or None when it does."""
    keys = {key.lower() for key in metadata}
    if ENCRYPTION_SYSMETA in keys:
        return 'it is encrypted'
    if 'x-static-large-object' in keys:
        return 'it is a static large object manifest'
    if 'x-object-manifest' in keys:
        return 'it is a dynamic large object manifest'
    return None


def _take_fd(reader, metadata, container, obj):
    """Duplicate the reader's data-file descriptor, then close the reader.

    :raises HTTPException: 409 (``Need: object``) when the file is not the object's bytes.
    """
    try:
        why = not_the_bytes(metadata)
        if why is not None:
            raise need_stream(why)
        # DiskFileReader keeps its open file in _fp; this is the only private access.
        return os.dup(reader._fp.fileno())
    finally:
        reader.close()
