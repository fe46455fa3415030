"""Prevalidation (SPEC S4, ``zerovm_prevalidate = yes``): executables validated when stored.

When
    After the object server stored a ``PUT`` (``201``) of an object whose Content-Type is
    ``application/x-nexe`` or whose request carries ``X-Zerovm-Validate``, or a ``POST``
    (``202``) to such an object (a POST replaces the ``.meta`` file, which held the record:
    it is written again).  Every object server that stores a replica validates its own copy
    before it answers (an executable over 16 MiB, :data:`SYNC_VALIDATION_BYTES`, right
    after it answered, so that a long scan never delays the answer past the proxy's
    ``node_timeout``), so each replica carries its own record.

What
    The stored data file is read (at most ``zerovm_maxnexe`` bytes; a larger one is
    rejected) and validated off the event loop (a thread) with the code a session uses
    (:func:`zerocloud.sandbox.validate.validate_bytes`).  The verdict is written as object
    *sysmeta* ``X-Object-Sysmeta-Zerocloud-Valid: <etag>:valid`` (or ``:rejected``) in a
    new ``.meta`` file through the DiskFile API, with the object's own timestamp plus an
    offset (``<t>_0000000000000001``): newer than the object, older than any later client
    POST or PUT.  The ``.meta`` keeps the object's user metadata (a ``.meta`` replaces it
    when read), so nothing the client stored changes.  Replication carries the ``.meta``.

Why it cannot be forged
    Clients cannot set ``X-Object-Sysmeta-*`` through the proxy (Swift's gatekeeper strips
    it), and the record names the ETag it was computed for: after an overwrite the ETag
    differs and the record no longer applies (the proxy compares it with the ETag of its
    HEAD, :mod:`zerocloud.proxy_middleware.prevalidate`).  An object whose data file is not
    its bytes (EC fragment, ciphertext, large-object manifest) is not validated (no record:
    sessions validate it, and the PUT's ``X-Zerovm-Valid`` is ``false``).

A failure to validate or write is logged and never changes the PUT's answer: without a
record, a session validates the executable as usual.
"""
import dataclasses
import os

from swift.common.request_helpers import get_name_and_placement, is_sys_meta
from swift.common.storage_policy import EC_POLICY
from swift.common.utils import Timestamp
from swift.obj import diskfile

from zerocloud import green
from zerocloud.object_middleware import local_object
from zerocloud.sandbox import validate

RECORD_HEADER = 'X-Object-Sysmeta-Zerocloud-Valid'
VALIDATE_HEADER = 'X-Zerovm-Validate'
NEXE_TYPE = 'application/x-nexe'
VALID, REJECTED = 'valid', 'rejected'
#: Data-file metadata that a ``.meta`` file must not repeat (the data file's own wins).
_DATAFILE_ONLY = frozenset(('x-timestamp', 'content-type', 'content-length', 'etag', 'name',
                            'deleted', 'x-static-large-object', 'content-type-timestamp'))
_STORED = {'PUT': 201, 'POST': 202}
#: Larger executables are validated after the answer (which then reports no record yet).
SYNC_VALIDATION_BYTES = 16 * 1024 * 1024


def record_value(etag, verdict):
    """The sysmeta value recording ``verdict`` (a :class:`~zerocloud.sandbox.validate.Verdict`)
    for the object of ``etag``."""
    return '%s:%s' % (etag, VALID if verdict.state == 0 else REJECTED)


def wants_validation(req, content_type):
    """Whether a stored object of ``content_type`` is validated after ``req``."""
    return content_type.split(';')[0].strip().lower() == NEXE_TYPE or \
        VALIDATE_HEADER in req.headers


class Prevalidator:
    """Validates stored executables after the object server answered (see the module)."""

    def __init__(self, app, config, logger, local_objects):
        self.app = app
        self.config = config
        self.logger = logger
        self.local_objects = local_objects

    def handles(self, req):
        """True for the object PUTs of executables (by their Content-Type or
        ``X-Zerovm-Validate``) and the object POSTs (the stored type decides), which this
        filter looks at after they are stored."""
        return req.method == 'POST' or (req.method == 'PUT' and wants_validation(
            req, req.headers.get('Content-Type', '')))

    def __call__(self, req):
        """Pass ``req`` to the object server; validate and record what it stored."""
        response = req.get_response(self.app)
        if response.status_int == _STORED[req.method]:
            try:
                self.validate_stored(req)
            except Exception:  # never change the answer: without a record, sessions validate
                self.logger.exception('zerocloud: prevalidation of %s failed', req.path)
        return response

    def validate_stored(self, req):
        """Validate the object ``req`` stored and write its record (when it wants one): at
        once up to :data:`SYNC_VALIDATION_BYTES`, so that the answer can report it, in a
        green thread after the answer above (the proxy's ``node_timeout`` must not fire
        while a large executable is scanned)."""
        stored = self._open_stored(req)
        if stored is None:
            return
        if int(stored.metadata.get('Content-Length') or 0) <= SYNC_VALIDATION_BYTES:
            self._record(req.path, stored)
        else:
            green.spawn(self._record_logged, req.path, stored)

    def _open_stored(self, req):
        """The :class:`_Stored` object of ``req`` when it wants validation, else None."""
        device, partition, account, container, obj, policy = \
            get_name_and_placement(req, 5, 5, True)
        if policy.policy_type == EC_POLICY:
            return None  # a fragment is not the executable
        disk_file = self.local_objects.diskfile(device, partition, account, container, obj,
                                                int(policy))
        try:
            with disk_file.open():
                metadata = disk_file.get_metadata()
                if not wants_validation(req, metadata.get('Content-Type', '')) or \
                        local_object.not_the_bytes(metadata):
                    return None
                reader = disk_file.reader()
                try:
                    fd = os.dup(reader._fp.fileno())  # as local_object: the one private access
                finally:
                    reader.close()
                base = _meta_base(disk_file)
                newest = max(disk_file.data_timestamp,
                             Timestamp(base.get('X-Timestamp', disk_file.data_timestamp)))
        except (diskfile.DiskFileNotExist, diskfile.DiskFileQuarantined):
            return None  # overwritten or deleted meanwhile: that request has its own turn
        return _Stored(disk_file, metadata, fd, base, newest)

    def _record(self, path, stored):
        """Validate the open data file (in a thread) and write the record."""
        verdict = green.run_in_thread(_validate_fd, stored.fd, self.config.max_nexe_bytes)
        etag = stored.metadata['ETag']
        stored.base.update({'X-Timestamp': Timestamp(stored.newest, offset=1).internal,
                            RECORD_HEADER: record_value(etag, verdict)})
        stored.disk_file.write_metadata(stored.base)
        self.logger.info('zerocloud: prevalidated %s (etag %s): %s', path, etag,
                         '; '.join(verdict.reasons) or VALID)

    def _record_logged(self, path, stored):
        try:
            self._record(path, stored)
        except Exception:
            self.logger.exception('zerocloud: prevalidation of %s failed', path)


@dataclasses.dataclass(frozen=True)
class _Stored:
    """A stored object to validate: its DiskFile, metadata, an open descriptor of its data
    file (closed by the validation), the ``.meta`` to start from and its newest time."""
    disk_file: object
    metadata: dict
    fd: int
    base: dict
    newest: object


def _meta_base(disk_file):
    """The metadata the new ``.meta`` starts from: the current ``.meta``'s, or the data
    file's user metadata when there is none (a ``.meta`` replaces the data file's)."""
    current = disk_file.get_metafile_metadata()
    if current:
        return dict(current)
    return {key: value for key, value in disk_file.get_datafile_metadata().items()
            if key.lower() not in _DATAFILE_ONLY and not is_sys_meta('object', key)}


def _validate_fd(fd, max_size_bytes):
    """Validate the open file ``fd`` (closed here); runs in a thread."""
    with os.fdopen(fd, 'rb') as f:
        return validate.validate_file(f, max_size_bytes)
