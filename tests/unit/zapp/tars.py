"""Building tars for the zapp tests: ordinary ones and hostile ones, in memory."""
import gzip
import io
import tarfile

JOB = b'[{"name": "hello", "exec": {"path": "file://python:python"}}]'


def member(name, data=b'', kind=tarfile.REGTYPE, mode=0o644, linkname='', size=None,
           devmajor=0, devminor=0):
    """``(TarInfo, data)`` of one member; ``size`` may lie about the data."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.linkname = linkname
    info.size = len(data) if size is None else size
    info.devmajor, info.devminor = devmajor, devminor
    info.mtime = 1700000000
    return info, data


def regular(name, data=b'', mode=0o644):
    return member(name, data, mode=mode)


def directory(name, mode=0o755):
    return member(name, kind=tarfile.DIRTYPE, mode=mode)


def symlink(name, target):
    return member(name, kind=tarfile.SYMTYPE, linkname=target, mode=0o777)


def hardlink(name, target):
    return member(name, kind=tarfile.LNKTYPE, linkname=target)


def tar_bytes(*members, fmt=tarfile.PAX_FORMAT):
    """A tar of ``members`` (``(TarInfo, data)`` pairs), headers written as given: a
    member whose size lies gets exactly its data (the archive is then damaged)."""
    out = io.BytesIO()
    for info, data in members:
        out.write(info.tobuf(fmt, 'utf-8', 'surrogateescape'))
        out.write(data)
        out.write(b'\0' * (-len(data) % tarfile.BLOCKSIZE))
    out.write(b'\0' * (2 * tarfile.BLOCKSIZE))
    out.write(b'\0' * (-out.tell() % tarfile.RECORDSIZE))
    return out.getvalue()


def zapp_bytes(*members, map_data=JOB, compress=False):
    """A tar with ``boot/system.map`` after ``members``, gzip-compressed if asked."""
    data = tar_bytes(*members, regular('boot/system.map', map_data))
    return gzip.compress(data, compresslevel=1) if compress else data


def write(path, data):
    with open(path, 'wb') as handle:
        handle.write(data)
    return str(path)
