"""What the jail binds, and from which host path: file channels, the ``dir`` channel (a
directory of inputs at ``/dev/in``) and image directories.

The jail binds by path inside its own user and mount namespaces (:mod:`.jail` says why), so
the supervisor names, for every descriptor shown as a file, the path that leads to it now:
``readlink("/proc/self/fd/N")``, accepted only when ``lstat`` of that path is the same file
(device and inode) as the descriptor.  The jail checks it once more after its own
``openat2`` (the path may change in between: then the session fails, closed).

A file channel without such a path (unlinked, or replaced since it was opened: an object
overwritten while its session starts; a ``memfd``) is pumped through a FIFO instead, from
or into its descriptor: the program still reads exactly the bytes of the descriptor it was
given (it only loses ``lseek`` on that channel).  An image directory without one is an
``isolation`` failure; a ``dir`` channel without one (or not a directory) fails its session.
"""
import os
import stat

from zerocloud.sandbox import jail, linux

CHANNEL_ATTRS = linux.MOUNT_ATTR_NOSUID | linux.MOUNT_ATTR_NODEV | linux.MOUNT_ATTR_NOEXEC


def host_path(fd):
    """The absolute, symlink-free path leading to ``fd``'s file now, or None."""
    try:
        path = os.readlink('/proc/self/fd/%d' % fd)
        if path.startswith('/') and jail.same_file(os.lstat(path), os.fstat(fd)):
            return path
    except OSError:
        pass
    return None


def file_channel_binds(spec, fds):
    """``{channel index: jail.Bind}`` for the ``file`` channels whose fd is a regular file
    reachable by a path (the others are pumped) and the ``dir`` channel.

    :raises OSError: the ``dir`` channel's fd is not a directory reachable by a path (it
        cannot be pumped: the session fails closed).
    """
    found = {}
    for index, (channel, fd) in enumerate(zip(spec.channels, fds)):
        if channel.kind == 'dir':
            found[index] = _directory_bind(channel, fd)
            continue
        if channel.kind != 'file' or not jail.is_regular_file(fd):
            continue
        source = host_path(fd)
        if source is not None:
            attributes = CHANNEL_ATTRS | (0 if channel.writable else linux.MOUNT_ATTR_RDONLY)
            found[index] = jail.Bind(fd, source, '/dev/' + channel.device, False, attributes)
    return found


def _directory_bind(channel, fd):
    """The read-only bind of a ``dir`` channel's directory at ``/dev/<device>``."""
    source = host_path(fd) if stat.S_ISDIR(os.fstat(fd).st_mode) else None
    if source is None:
        raise OSError('/dev/%s: its descriptor is not a directory with a path the jail can '
                      'follow' % channel.device)
    return jail.Bind(fd, source, '/dev/' + channel.device, True,
                     CHANNEL_ATTRS | linux.MOUNT_ATTR_RDONLY)


def image_binds(mounts, cleanup):
    """A :class:`jail.Bind` for each :class:`images.Mount` (read-only, nosuid, nodev,
    noexec unless executable), holding an ``O_PATH`` fd of it (closed by ``cleanup``).

    :raises OSError: a mount's host path cannot be opened or has no path of its own.
    """
    binds = []
    for mount in mounts:
        flags = os.O_PATH | os.O_CLOEXEC | (os.O_DIRECTORY if mount.directory else 0)
        fd = os.open(mount.host_path, flags)
        cleanup.callback(os.close, fd)
        source = host_path(fd)
        if source is None:
            raise OSError('%s has no path the jail can follow' % mount.host_path)
        attributes = linux.MOUNT_ATTR_RDONLY | linux.MOUNT_ATTR_NOSUID | \
            linux.MOUNT_ATTR_NODEV | (0 if mount.executable else linux.MOUNT_ATTR_NOEXEC)
        binds.append(jail.Bind(fd, source, mount.jail_path, mount.directory, attributes))
    return binds
