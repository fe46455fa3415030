"""Reading a zapp from a stream in one pass: its system map, and a spool of its bytes.

A zapp arrives as a request body (``wsgi.input``) that may be far larger than memory.
:func:`read_zapp` reads it once, front to back:

- every raw byte read is written to ``spool`` (an open binary file, optional) and hashed
  (MD5, the ETag the image cache keys on), so the caller can send the very same tar to the
  object servers afterwards without reading the request again;
- gzip is recognised by its magic bytes (``1f 8b``), whatever the declared Content-Type
  says, and inflated here with :mod:`zlib` (CRC and length checked; concatenated gzip
  members accepted); bzip2, xz and zstd are refused by name;
- the tar is walked with :mod:`tarfile` in stream mode (nothing seeks, the member list is
  not kept), and ``boot/system.map`` (or, when absent, ``boot/cluster.map``; a leading
  ``./`` is ignored) is read into memory, at most ``max_map_bytes``;
- a damaged header anywhere is an error (:mod:`tarfile` alone would take one after the
  first member for the end of the archive); after the end marker the rest is read too, so
  the spool is complete and the gzip trailer checked.

Nothing is held whole: memory stays at a few chunks of :data:`CHUNK_BYTES` plus the map.
Extended headers (pax, GNU long names), which :mod:`tarfile` reads into memory, are bounded
by :data:`MAX_EXTENDED_HEADER_BYTES` (:class:`BoundedTarInfo`).

Errors are :mod:`zerocloud.zapp.errors` exceptions with a ``status``: no map 400 naming
``boot/system.map``; ``corrupt gzip: ...`` and ``corrupt tar: ...`` 400; bounds 413.

Usage (the proxy, with a spool file of its own)::

    from zerocloud.zapp import ZappError, read_zapp
    try:
        head = read_zapp(environ['wsgi.input'], spool=spool_file, max_bytes=max_nexe)
    except ZappError as err:
        return err.status, str(err)
    job = parse_job(head.system_map, ...)       # head.md5 keys the image cache
"""
import contextlib
import dataclasses
import hashlib
import tarfile
import zlib

from zerocloud.zapp.errors import (BadSystemMap, CorruptGzip, CorruptTar, MissingSystemMap,
                                   UnsupportedCompression, ZappTooLarge)

SYSTEM_MAP = 'boot/system.map'
CLUSTER_MAP = 'boot/cluster.map'
MAP_NAMES = (SYSTEM_MAP, CLUSTER_MAP)
#: Content-Types that announce a zapp (SPEC S1.2); gzip is recognised by magic under any.
TAR_CONTENT_TYPES = ('application/x-tar', 'application/x-gtar', 'application/x-ustar',
                     'application/gzip', 'application/x-gzip', 'application/x-compressed-tar')
GZIP_MAGIC = b'\x1f\x8b'
OTHER_COMPRESSIONS = ((b'BZh', 'bzip2'), (b'\xfd7zXZ\x00', 'xz'),
                      (b'\x28\xb5\x2f\xfd', 'zstd'))
MAGIC_BYTES = 6
CHUNK_BYTES = 1 << 16
DEFAULT_MAX_MAP_BYTES = 65536               # zerovm_maxconfig
MAX_EXTENDED_HEADER_BYTES = 1 << 16
EXTENDED_HEADER_TYPES = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE,
                         tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)


def is_zapp_content_type(content_type):
    """True when ``content_type`` (parameters allowed) announces a zapp (S1.2)."""
    return (content_type or '').split(';')[0].strip().lower() in TAR_CONTENT_TYPES


@dataclasses.dataclass(frozen=True)
class ZappHead:
    """What :func:`read_zapp` learned in its pass over the stream."""
    system_map: bytes       # the job description
    map_name: str           # boot/system.map or boot/cluster.map
    compression: str        # 'gzip' or 'none'
    raw_bytes: int          # bytes read from the stream (= written to the spool)
    tar_bytes: int          # bytes of the tar itself (inflated)
    md5: str                # hex MD5 of the raw bytes
    members: int            # tar members (extended headers not counted)


class BoundedTarInfo(tarfile.TarInfo):
    """A :class:`tarfile.TarInfo` that refuses extended headers (pax, GNU long name/link)
    larger than :data:`MAX_EXTENDED_HEADER_BYTES`, before :mod:`tarfile` reads them into
    memory (a 2 GiB pax header inflates from a 2 MiB gzip), and a damaged header anywhere
    (where :mod:`tarfile` stops silently after the first member)."""

    @classmethod
    def frombuf(cls, buf, encoding, errors):
        try:
            info = super().frombuf(buf, encoding, errors)
        except (tarfile.EOFHeaderError, tarfile.EmptyHeaderError):
            raise       # the end marker, or the end of the data at a header boundary
        except tarfile.HeaderError as err:
            # tarfile would take a damaged header after the first one for the end
            raise CorruptTar('corrupt tar: %s' % (str(err) or 'damaged header')) from None
        if info.type in EXTENDED_HEADER_TYPES and info.size > MAX_EXTENDED_HEADER_BYTES:
            raise ZappTooLarge('corrupt tar: an extended header of %d bytes (at most %d)'
                               % (info.size, MAX_EXTENDED_HEADER_BYTES))
        return info


class ZappStream:
    """A file-like ``read()`` of the tar inside a raw zapp stream (inflated when gzip).

    Every raw byte read is copied to ``spool`` and hashed; ``max_bytes`` bounds the raw
    bytes, ``max_tar_bytes`` the tar's (inflated) bytes, both counted as they are read.

    :raises ZappError: (from :meth:`read`) the corruption or bound crossed.
    """

    def __init__(self, raw, spool=None, max_bytes=None, max_tar_bytes=None):
        self._raw = raw
        self._spool = spool
        self._max_bytes = max_bytes
        self._max_tar_bytes = max_tar_bytes
        self._md5 = hashlib.md5(usedforsecurity=False)
        self.raw_bytes = 0
        self.tar_bytes = 0
        self._pending = b''
        self._raw_eof = False
        first = self._peek()
        self.compression = _compression(first)
        self._inflater = None
        if self.compression == 'gzip':
            self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            self._input = first
        else:
            self._deliver(first)
            self._input = b''

    @property
    def md5(self):
        """Hex MD5 of the raw bytes read so far."""
        return self._md5.hexdigest()

    def read(self, size=-1):
        """Up to ``size`` tar bytes (fewer only at the end); all of them for ``size < 0``."""
        size = size if size is not None and size >= 0 else float('inf')
        while len(self._pending) < size and self._fill():
            pass
        if size == float('inf'):
            size = len(self._pending)
        data, self._pending = self._pending[:size], self._pending[size:]
        return data

    def drain(self):
        """Read to the end: the spool gets every byte, the gzip trailer is checked (what
        follows the tar's end marker is not looked at, as tar itself does)."""
        while self.read(CHUNK_BYTES):
            pass

    def _peek(self):
        """The first raw bytes, at least :data:`MAGIC_BYTES` unless the stream is shorter."""
        first = b''
        while len(first) < MAGIC_BYTES:
            data = self._read_raw()
            if not data:
                break
            first += data
        return first

    def _read_raw(self):
        if self._raw_eof:
            return b''
        data = self._raw.read(CHUNK_BYTES)
        if not data:
            self._raw_eof = True
            return b''
        self.raw_bytes += len(data)
        if self._max_bytes is not None and self.raw_bytes > self._max_bytes:
            raise ZappTooLarge('the zapp is larger than %d bytes' % self._max_bytes)
        self._md5.update(data)
        if self._spool is not None:
            self._spool.write(data)
        return data

    def _deliver(self, data):
        self.tar_bytes += len(data)
        if self._max_tar_bytes is not None and self.tar_bytes > self._max_tar_bytes:
            raise ZappTooLarge('the tar is larger than %d bytes (inflated)'
                               % self._max_tar_bytes)
        self._pending += data

    def _fill(self):
        """Add some tar bytes to the pending ones; False at the end of the stream."""
        if self._inflater is None:
            data = self._read_raw()
            self._deliver(data)
            return bool(data)
        return self._inflate()

    def _inflate(self):
        inflater = self._inflater
        if inflater.eof:
            rest = inflater.unused_data or self._read_raw()
            if not rest:
                return False
            if not rest.startswith(GZIP_MAGIC[:len(rest)]):
                raise CorruptGzip('corrupt gzip: data after the end of the gzip stream')
            inflater = self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            self._input = rest
        data = inflater.unconsumed_tail or self._input or self._read_raw()
        self._input = b''
        if not data:
            raise CorruptGzip('corrupt gzip: the stream ends before its end marker')
        try:
            self._deliver(inflater.decompress(data, CHUNK_BYTES))
        except zlib.error as err:
            raise CorruptGzip('corrupt gzip: %s' % err) from None
        return True


def _compression(first):
    if first.startswith(GZIP_MAGIC):
        return 'gzip'
    for magic, name in OTHER_COMPRESSIONS:
        if first.startswith(magic):
            raise UnsupportedCompression('the zapp is compressed with %s: only gzip (or no '
                                         'compression) is supported' % name)
    return 'none'


@contextlib.contextmanager
def gzip_blamed_first(source):
    """Around a walk of ``source``'s tar: when the tar looks damaged but the gzip layer is
    (damaged deflate data inflates to garbage before the CRC can tell), the rest of the
    stream is read and :class:`CorruptGzip` raised instead of :class:`CorruptTar`."""
    try:
        yield
    except CorruptTar:
        if source.compression == 'gzip':
            source.drain()
        raise


def open_tar(stream):
    """A :class:`tarfile.TarFile` in stream mode over a :class:`ZappStream`.

    :raises ZappError: ``corrupt tar`` when the first header is not a tar header.
    """
    try:
        return tarfile.open(fileobj=stream, mode='r|', tarinfo=BoundedTarInfo)
    except tarfile.ReadError as err:
        raise CorruptTar('corrupt tar: %s' % _tar_message(err)) from None


def iter_members(tar, max_members=None):
    """Yield the members of a stream-mode ``tar`` one by one, without keeping them.

    :raises CorruptTar: a damaged header or a member cut short.
    :raises ZappTooLarge: more than ``max_members`` members.
    """
    count = 0
    while True:
        try:
            member = tar.next()
        except (tarfile.ReadError, RecursionError) as err:
            raise CorruptTar('corrupt tar: %s' % _tar_message(err)) from None
        if member is None:
            return
        tar.members.clear()     # stream mode would keep every TarInfo: a memory bomb
        count += 1
        if max_members is not None and count > max_members:
            raise ZappTooLarge('the tar has more than %d members' % max_members)
        yield member


def _tar_message(err):
    if isinstance(err, RecursionError):
        return 'too many nested extended headers'
    return str(err) or 'unreadable'


def member_name(member):
    """The member's name without ``.`` components, repeated or trailing slashes (``''`` for
    the archive's root entry ``./``); an absolute name keeps its leading ``/``."""
    parts = [part for part in member.name.split('/') if part not in ('', '.')]
    return ('/' if member.name.startswith('/') else '') + '/'.join(parts)


def read_zapp(stream, spool=None, max_map_bytes=DEFAULT_MAX_MAP_BYTES, max_bytes=None,
              max_tar_bytes=None, max_members=None):
    """Read a zapp from ``stream`` in one pass; return its :class:`ZappHead`.

    :param spool: a binary file that receives every raw byte (the whole zapp), or None.
    :param max_map_bytes: the largest system map (``zerovm_maxconfig``).
    :param max_bytes: the largest raw zapp; ``max_tar_bytes`` the largest inflated tar;
        ``max_members`` the most members (None: unbounded).
    :raises ZappError: see the module docstring.
    """
    source = ZappStream(stream, spool, max_bytes, max_tar_bytes)
    maps, members = {}, 0
    with gzip_blamed_first(source), open_tar(source) as tar:
        for member in iter_members(tar, max_members):
            members += 1
            name = member_name(member)
            if name in MAP_NAMES:
                maps[name] = _read_map(tar, member, name, maps, max_map_bytes)
    source.drain()
    name = SYSTEM_MAP if SYSTEM_MAP in maps else CLUSTER_MAP
    if name not in maps:
        raise MissingSystemMap('the zapp has no %s (nor %s): a zapp is a tar whose %s is '
                               'the job' % (SYSTEM_MAP, CLUSTER_MAP, SYSTEM_MAP))
    return ZappHead(maps[name], name, source.compression, source.raw_bytes,
                    source.tar_bytes, source.md5, members)


def _read_map(tar, member, name, found, max_map_bytes):
    if name in found:
        raise BadSystemMap('%s is in the zapp twice' % name)
    if not member.isreg():
        raise BadSystemMap('%s is not a regular file in the zapp' % name)
    if member.size > max_map_bytes:
        raise ZappTooLarge('%s is %d bytes, larger than %d (zerovm_maxconfig)'
                           % (name, member.size, max_map_bytes))
    try:
        return tar.extractfile(member).read()
    except tarfile.ReadError as err:
        raise CorruptTar('corrupt tar: %s: %s' % (name, _tar_message(err))) from None
