"""The one adapter for raw Linux system calls the standard library does not offer (x86-64).

Everything here is a thin ctypes wrapper that raises ``OSError`` on failure.  The libc
handle is created by :func:`syscalls` (call it once and keep the object); nothing is
imported or opened at module import time beyond the constants.
"""
import ctypes
import errno
import os
import struct

# clone/unshare flags
CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
JAIL_NAMESPACES = (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                   CLONE_NEWPID | CLONE_NEWNET)
CLONE_PARENT = 0x00008000    # the child's parent is our parent (jail factory)
SIGCHLD = 17

# mount flags
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MNT_DETACH = 2

# prctl
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NAME = 15
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36

# seccomp
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
SECCOMP_IOCTL_NOTIF_RECV = 0xc0502100
SECCOMP_IOCTL_NOTIF_SEND = 0xc0182101
SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1
NOTIF_FORMAT = '=QII iI Q 6Q'       # seccomp_notif: id pid flags | nr arch ip args[6]
NOTIF_RESP_FORMAT = '=QqiI'         # seccomp_notif_resp: id val error flags

AT_EMPTY_PATH = 0x1000

NR = {'clone': 56, 'mount': 165, 'umount2': 166, 'pivot_root': 155, 'seccomp': 317,
      'pidfd_open': 434, 'pidfd_send_signal': 424, 'pidfd_getfd': 438,
      'close_range': 436, 'execveat': 322, 'capset': 126, 'open_tree': 428,
      'move_mount': 429, 'mount_setattr': 442, 'openat2': 437}
OPEN_TREE_CLONE = 1
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
MOVE_MOUNT_F_EMPTY_PATH = 4
MOUNT_ATTR_RDONLY = 1
MOUNT_ATTR_NOSUID = 2
MOUNT_ATTR_NODEV = 4
MOUNT_ATTR_NOEXEC = 8
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08


class _SockFprog(ctypes.Structure):
    _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.c_void_p)]


class _OpenHow(ctypes.Structure):
    _fields_ = [('flags', ctypes.c_uint64), ('mode', ctypes.c_uint64),
                ('resolve', ctypes.c_uint64)]


class _CapHeader(ctypes.Structure):
    _fields_ = [('version', ctypes.c_uint32), ('pid', ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [('effective', ctypes.c_uint32), ('permitted', ctypes.c_uint32),
                ('inheritable', ctypes.c_uint32)]


class Syscalls:
    """Raw system calls through libc's ``syscall()``; one instance per process is enough."""

    def __init__(self):
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._syscall = self._libc.syscall
        self._syscall.restype = ctypes.c_long
        self._prctl = self._libc.prctl
        self._prctl.restype = ctypes.c_int

    def _call(self, name, *args):
        result = self._syscall(ctypes.c_long(NR[name]), *args)
        if result == -1:
            err = ctypes.get_errno()
            raise OSError(err, '%s: %s' % (name, os.strerror(err)))
        return result

    def inotify_init1(self, flags):
        """A new inotify instance (an fd)."""
        return self._libc_call('inotify_init1', ctypes.c_int(flags))

    def inotify_add_watch(self, fd, path, mask):
        """Watch ``path`` for the events in ``mask``; returns the watch descriptor."""
        return self._libc_call('inotify_add_watch', ctypes.c_int(fd),
                               ctypes.c_char_p(os.fsencode(path)), ctypes.c_uint32(mask))

    def _libc_call(self, name, *args):
        result = getattr(self._libc, name)(*args)
        if result == -1:
            err = ctypes.get_errno()
            raise OSError(err, '%s: %s' % (name, os.strerror(err)))
        return result

    def clone_into_namespaces(self, flags=JAIL_NAMESPACES):
        """fork() into new namespaces: returns the child's pid in the parent, 0 in the child.

        Like ``os.fork`` but without Python's at-fork hooks: only call it from a
        single-threaded process, and have the child exec or ``os._exit`` soon.
        """
        return self._call('clone', ctypes.c_ulong(flags | SIGCHLD), None, None, None, None)

    def mount(self, source, target, fstype, flags, data=None):
        enc = (lambda s: None if s is None else os.fsencode(s))
        result = self._libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags),
                                  enc(data))
        if result != 0:
            err = ctypes.get_errno()
            raise OSError(err, 'mount %s on %s: %s' % (source, target, os.strerror(err)))

    def openat2(self, dir_fd, path, flags, resolve):
        """``openat2(dir_fd, path, {flags, 0, resolve})``: an fd (``RESOLVE_*`` bound the
        path walk, e.g. no symlinks, nothing outside ``dir_fd``)."""
        how = _OpenHow(flags, 0, resolve)
        return self._call('openat2', ctypes.c_int(dir_fd), os.fsencode(path),
                          ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))

    def detached_copy(self, fd=None, path=None, recursive=False, attributes=0):
        """A detached bind mount (``open_tree(OPEN_TREE_CLONE)``) of an fd or a path.

        The fd or path must belong to this process's own mount namespace (the kernel
        refuses others: EINVAL).  ``attributes`` (``MOUNT_ATTR_*``) are set on the copy
        before it is attached (:meth:`attach`).  Returns its fd.
        """
        flags = OPEN_TREE_CLONE | os.O_CLOEXEC | (AT_RECURSIVE if recursive else 0)
        if fd is None:
            tree = self._call('open_tree', ctypes.c_int(AT_FDCWD), os.fsencode(path),
                              ctypes.c_uint(flags))
        else:
            tree = self._call('open_tree', ctypes.c_int(fd), b'',
                              ctypes.c_uint(flags | AT_EMPTY_PATH))
        if attributes:
            attr = (ctypes.c_uint64 * 4)(attributes, 0, 0, 0)
            try:
                self._call('mount_setattr', ctypes.c_int(tree), b'',
                           ctypes.c_uint(AT_EMPTY_PATH | (AT_RECURSIVE if recursive else 0)),
                           ctypes.byref(attr), ctypes.c_size_t(32))
            except OSError:
                os.close(tree)
                raise
        return tree

    def attach(self, tree_fd, target):
        """Move a detached mount (from :meth:`detached_copy`) onto ``target``."""
        self._call('move_mount', ctypes.c_int(tree_fd), b'', ctypes.c_int(AT_FDCWD),
                   os.fsencode(target), ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH))

    def sethostname(self, name):
        data = name.encode()
        if self._libc.sethostname(data, ctypes.c_size_t(len(data))) != 0:
            err = ctypes.get_errno()
            raise OSError(err, 'sethostname: %s' % os.strerror(err))

    def umount2(self, target, flags):
        self._call('umount2', os.fsencode(target), ctypes.c_int(flags))

    def pivot_root(self, new_root, put_old):
        self._call('pivot_root', os.fsencode(new_root), os.fsencode(put_old))

    def prctl(self, option, arg2=0):
        if self._prctl(ctypes.c_int(option), ctypes.c_ulong(arg2), ctypes.c_ulong(0),
                       ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, 'prctl(%d): %s' % (option, os.strerror(err)))

    def set_name(self, name):
        """Set this process's name (``/proc/<pid>/comm``, 15 bytes at most)."""
        if self._prctl(ctypes.c_int(PR_SET_NAME), ctypes.c_char_p(name.encode()[:15]),
                       ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, 'prctl(PR_SET_NAME): %s' % os.strerror(err))

    def drop_capabilities(self):
        """Clear the effective, permitted and inheritable capability sets."""
        header = _CapHeader(0x20080522, 0)
        data = (_CapData * 2)()
        self._call('capset', ctypes.byref(header), ctypes.byref(data))

    def seccomp_load(self, bpf, with_listener):
        """Install a BPF filter (bytes from ``export_bpf``); returns the listener fd or None."""
        buffer = ctypes.create_string_buffer(bpf, len(bpf))
        prog = _SockFprog(len(bpf) // 8, ctypes.addressof(buffer))
        flags = SECCOMP_FILTER_FLAG_NEW_LISTENER if with_listener else 0
        fd = self._call('seccomp', ctypes.c_uint(SECCOMP_SET_MODE_FILTER), ctypes.c_uint(flags),
                        ctypes.byref(prog))
        return fd if with_listener else None

    def pidfd_open(self, pid):
        return self._call('pidfd_open', ctypes.c_int(pid), ctypes.c_uint(0))

    def pidfd_getfd(self, pidfd, target_fd):
        return self._call('pidfd_getfd', ctypes.c_int(pidfd), ctypes.c_int(target_fd),
                          ctypes.c_uint(0))

    def pidfd_kill(self, pidfd, signum=9):
        """Send a signal through a pidfd; a process already gone is not an error."""
        try:
            self._call('pidfd_send_signal', ctypes.c_int(pidfd), ctypes.c_int(signum), None,
                       ctypes.c_uint(0))
        except OSError as exc:
            if exc.errno != errno.ESRCH:
                raise

    def close_range(self, first, last=0xffffffff):
        self._call('close_range', ctypes.c_uint(first), ctypes.c_uint(last), ctypes.c_uint(0))

    def execveat(self, fd, argv, env):
        """Execute the file open at ``fd``; only returns by raising ``OSError``."""
        argv_c = (ctypes.c_char_p * (len(argv) + 1))(*[os.fsencode(a) for a in argv], None)
        env_c = (ctypes.c_char_p * (len(env) + 1))(*[os.fsencode(e) for e in env], None)
        self._call('execveat', ctypes.c_int(fd), b'', argv_c, env_c,
                   ctypes.c_int(AT_EMPTY_PATH))


IN_CLOSE_WRITE = 0x8
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
_INOTIFY_EVENT = struct.Struct('iIII')


def unpack_inotify_events(data):
    """The watch descriptors of the ``struct inotify_event`` records in ``data``."""
    offset, wds = 0, []
    while offset + _INOTIFY_EVENT.size <= len(data):
        wd, _mask, _cookie, length = _INOTIFY_EVENT.unpack_from(data, offset)
        wds.append(wd)
        offset += _INOTIFY_EVENT.size + length
    return wds


def unpack_notification(raw):
    """Decode a ``struct seccomp_notif`` into ``(id, pid, syscall_nr, arch, args)``."""
    fields = struct.unpack(NOTIF_FORMAT, raw)
    return fields[0], fields[1], fields[3], fields[4], fields[6:12]


def notification_buffer():
    return bytearray(struct.calcsize(NOTIF_FORMAT))


def pack_response(notif_id, error=0, cont=False):
    """Build a ``struct seccomp_notif_resp``: fail with ``-error`` or let the call continue."""
    flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE if cont else 0
    return bytearray(struct.pack(NOTIF_RESP_FORMAT, notif_id, 0, -error if error else 0,
                                 flags))
