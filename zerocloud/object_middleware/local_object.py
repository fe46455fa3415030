"""The one adapter to Swift's DiskFile API: open the co-located object for zero-copy reading.

The object's data file is opened read-only through the public DiskFile API
(``DiskFileRouter(conf, logger)[policy].get_diskfile(...)``, ``open()``, ``reader()``) and a
duplicate of its file descriptor is handed to the sandbox, so the bytes never leave the disk.
"""
import dataclasses
import os

from swift.common import swob
from swift.common.storage_policy import EC_POLICY, POLICIES
from swift.obj import diskfile

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
            next replica), 501 for erasure-coded or encrypted objects (their local file is a
            fragment or ciphertext), 507 when the device is not mounted.
        """
        policy = POLICIES.get_by_index(policy_index)
        if policy is None:
            raise swob.HTTPBadRequest(body='unknown storage policy %r\n' % policy_index)
        if policy.policy_type == EC_POLICY:
            raise swob.HTTPNotImplemented(
                body='zerocloud: objects of erasure-coded policy %s cannot be read locally '
                     '(not yet supported)\n' % policy.name)
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


def _take_fd(reader, metadata, container, obj):
    """Duplicate the reader's data-file descriptor, then close the reader."""
    try:
        if ENCRYPTION_SYSMETA in {key.lower() for key in metadata}:
            raise swob.HTTPNotImplemented(
                body='zerocloud: encrypted object %s/%s cannot be read locally '
                     '(not yet supported)\n' % (container, obj))
        # DiskFileReader keeps its open file in _fp; this is the only private access.
        return os.dup(reader._fp.fileno())
    finally:
        reader.close()
