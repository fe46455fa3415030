"""Unpacking an untrusted image tar into a directory, safely and within bounds.

:func:`unpack` reads the tar file (plain or gzip, :mod:`.tarstream`) in stream mode and
creates ``target``.  What it decides, member by member, before anything is written:

=============================================  ===========================================
member                                         decision
=============================================  ===========================================
absolute name (``/etc/passwd``)                refused (``UnsafeMember``)
a ``..`` component (``a/../../x``)             refused
a name already unpacked (tar's "last wins")    refused: nothing is ever overwritten
a path through a symlink of the tar            refused: nothing is written via a link
symlink with an absolute target                refused
symlink whose target leaves the tree           refused; ``..`` only at the start of the
                                               target and no higher than the link's own
                                               directory, so the check is exact (no
                                               ``realpath`` of half-built trees)
hard link to anything but an earlier regular   refused
file of the tar
character/block device, FIFO, other types      refused (a zapp has no use for them; an
                                               unknown type is not written as a file)
setuid, setgid, sticky, write bits             stripped (neutralised): files become
                                               ``0o444``, or ``0o555`` when the owner
                                               could execute them; directories ``0o555``
                                               at the end; owners are not restored
=============================================  ===========================================

After these checks Python's ``data`` extraction filter (:func:`tarfile.data_filter`) runs
too, as a second opinion; it is not relied upon (Python 3.11.7's can be bypassed with long
symlink chains, CVE-2025-4517).  Containment rests on the rules above and on an ``lstat``
of every parent directory on disk (none may be a symlink) before each member is written.

Bounds, checked while extracting (a tar bomb stops at the bound, never after): at most
``max_members`` members and ``max_bytes`` bytes of regular files, counted from the files as
written (their ``st_size``, each inode once), a member larger than what is left refused
before it is written.  Extended headers are bounded by :class:`.tarstream.BoundedTarInfo`.

On any error the partial tree is removed and a :class:`~zerocloud.zapp.errors.ZappError`
raised naming the member.  :func:`remove_tree` removes an unpacked (read-only) tree.
"""
import dataclasses
import os
import posixpath
import shutil
import stat
import tarfile

from zerocloud.zapp.errors import CorruptTar, UnsafeMember, ZappTooLarge
from zerocloud.zapp.tarstream import (ZappStream, gzip_blamed_first, iter_members,
                                      member_name, open_tar)

DEFAULT_MAX_BYTES = 256 << 20       # like zerovm_maxnexe
DEFAULT_MAX_MEMBERS = 100000
FILE_MODE = 0o444
EXECUTABLE_MODE = 0o555
DIRECTORY_MODE = 0o555
WORK_DIRECTORY_MODE = 0o700


@dataclasses.dataclass(frozen=True)
class UnpackLimits:
    """Bounds of one unpack: bytes of regular files and members of the tar."""
    max_bytes: int = DEFAULT_MAX_BYTES
    max_members: int = DEFAULT_MAX_MEMBERS


@dataclasses.dataclass(frozen=True)
class Unpacked:
    """The outcome of :func:`unpack`: where, how many bytes of files, how many members."""
    path: str
    bytes: int
    members: int


class _Tree:
    """What has been unpacked so far (the tar's own view, checked against the disk)."""

    def __init__(self, root, limits):
        self.root = root
        self.limits = limits
        self.names = set()
        self.directories = set()
        self.symlinks = set()
        self.files = set()
        self.inodes = set()
        self.bytes = 0
        self.members = 0


def unpack(tar_path, target, limits=UnpackLimits()):
    """Unpack the tar (plain or gzip) at ``tar_path`` into the new directory ``target``.

    :returns: :class:`Unpacked`; the tree is read-only (see the module docstring).
    :raises ZappError: an unsafe member, a bound crossed, a corrupt tar or gzip; the
        partial tree is removed first.
    :raises OSError: ``target`` exists, or the disk fails (the partial tree is removed).
    """
    os.mkdir(target, WORK_DIRECTORY_MODE)
    tree = _Tree(target, limits)
    try:
        with open(tar_path, 'rb') as raw:
            source = ZappStream(raw)
            with gzip_blamed_first(source), open_tar(source) as tar:
                tar.errorlevel = 2      # every extraction problem raises, none is skipped
                for member in iter_members(tar, limits.max_members):
                    tree.members += 1
                    _extract(tar, member, tree)
            source.drain()
        _seal(target)
    except BaseException:
        remove_tree(target)
        raise
    return Unpacked(target, tree.bytes, tree.members)


def _extract(tar, member, tree):
    name = _checked_name(member)
    if not name:
        return      # the archive's own root entry (``./``)
    _check_member(member, name, tree)
    _check_disk_parents(tree.root, name)
    changes = {'name': name}
    if member.islnk():
        changes['linkname'] = posixpath.normpath(member.linkname)
    member = member.replace(deep=False, **changes)
    try:
        tar.extract(member, tree.root, set_attrs=not member.isdir(),
                    filter=_neutralise)
    except tarfile.FilterError as err:
        raise UnsafeMember('member %s: %s' % (name, err)) from None
    except tarfile.TarError as err:
        raise CorruptTar('corrupt tar: member %s: %s' % (name, err)) from None
    except OSError as err:
        raise OSError(err.errno, 'unpacking member %s: %s' % (name, err.strerror)) from None
    _record(member, name, tree)


def _checked_name(member):
    """The member's normalised name.  :raises UnsafeMember: absolute or with ``..``."""
    if member.name.startswith('/'):
        raise UnsafeMember('member %s: absolute path' % member.name)
    if '..' in member.name.split('/'):
        raise UnsafeMember('member %s: ".." in the path' % member.name)
    return member_name(member)


def _check_member(member, name, tree):
    """Type, duplicates, parents, links and the byte budget (see the module docstring)."""
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        raise UnsafeMember('member %s: %s not allowed in an image'
                           % (name, _kind(member)))
    if name in tree.names or (name in tree.directories and not member.isdir()):
        raise UnsafeMember('member %s: given twice (nothing is overwritten)' % name)
    parent = posixpath.dirname(name)
    while parent:
        if parent in tree.symlinks or parent in tree.files:
            raise UnsafeMember('member %s: its path goes through %s, which is not a '
                               'directory' % (name, parent))
        parent = posixpath.dirname(parent)
    if member.issym():
        _check_symlink(member, name)
    elif member.islnk():
        link = member.linkname
        target = '' if link.startswith('/') or '..' in link.split('/') else \
            posixpath.normpath(link)
        if target not in tree.files:
            raise UnsafeMember('member %s: hard link to %r, which is not an earlier regular '
                               'file of the tar' % (name, member.linkname))
    elif member.isreg() and member.size > tree.limits.max_bytes - tree.bytes:
        raise ZappTooLarge('member %s: %d bytes would pass the image bound of %d bytes'
                           % (name, member.size, tree.limits.max_bytes))


def _check_symlink(member, name):
    """A symlink target: relative, ``..`` only leading, never above the tree's root."""
    target = member.linkname
    if not target or target.startswith('/'):
        raise UnsafeMember('member %s: symlink to %r (absolute or empty)' % (name, target))
    parts = [part for part in target.split('/') if part not in ('', '.')]
    ups = 0
    while ups < len(parts) and parts[ups] == '..':
        ups += 1
    if '..' in parts[ups:]:
        raise UnsafeMember('member %s: symlink to %r (".." after a name)' % (name, target))
    if ups > name.count('/'):
        raise UnsafeMember('member %s: symlink to %r, outside the image' % (name, target))


def _check_disk_parents(root, name):
    """Every existing parent of ``name`` under ``root`` is a real directory (no symlink)."""
    path = root
    for part in name.split('/')[:-1]:
        path = os.path.join(path, part)
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISDIR(mode):
            raise UnsafeMember('member %s: %s is not a directory on disk' % (name, part))


def _neutralise(member, dest_path):
    """The ``data`` filter, then read-only modes (see the module docstring)."""
    member = tarfile.data_filter(member, dest_path)
    if member.isreg() or member.islnk():
        executable = member.mode is not None and member.mode & 0o100
        return member.replace(mode=EXECUTABLE_MODE if executable else FILE_MODE, deep=False)
    return member.replace(mode=None, deep=False)


def _record(member, name, tree):
    tree.names.add(name)
    parent = posixpath.dirname(name)
    while parent and parent not in tree.directories:
        tree.directories.add(parent)    # made implicitly if the tar did not list it
        parent = posixpath.dirname(parent)
    if member.isdir():
        tree.directories.add(name)
    elif member.issym():
        tree.symlinks.add(name)
    else:
        info = os.lstat(os.path.join(tree.root, name))
        if member.isreg():
            tree.files.add(name)
        if (info.st_dev, info.st_ino) not in tree.inodes:
            tree.inodes.add((info.st_dev, info.st_ino))
            tree.bytes += info.st_size
            if tree.bytes > tree.limits.max_bytes:
                raise ZappTooLarge('member %s: the image passed its bound of %d bytes'
                                   % (name, tree.limits.max_bytes))


def _kind(member):
    if member.ischr() or member.isblk():
        return 'device node'
    if member.isfifo():
        return 'FIFO'
    return 'member type %r' % member.type


def _seal(root):
    """Make every directory of the tree read-only (files already are)."""
    for directory, subdirectories, _files in os.walk(root, topdown=False):
        for sub in subdirectories:
            path = os.path.join(directory, sub)
            if not os.path.islink(path):
                os.chmod(path, DIRECTORY_MODE)
    os.chmod(root, DIRECTORY_MODE)


def remove_tree(root):
    """Remove an unpacked tree (its read-only directories made writable first); a missing
    ``root`` is not an error."""
    if not os.path.lexists(root):
        return
    if not os.path.islink(root):
        os.chmod(root, WORK_DIRECTORY_MODE)
        for directory, subdirectories, _files in os.walk(root):
            for sub in subdirectories:
                path = os.path.join(directory, sub)
                if not os.path.islink(path):
                    os.chmod(path, WORK_DIRECTORY_MODE)
    shutil.rmtree(root) if not os.path.islink(root) else os.unlink(root)
