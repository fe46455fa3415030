"""The child side of a session: build the jail, then exec the program inside it.

:func:`enter_warm` runs in the process created by ``clone()`` with fresh user, mount, pid,
net, ipc and uts namespaces (it is pid 1 of its pid namespace), possibly long before its
session is known (a pre-warmed jail, :mod:`zerocloud.sandbox.warm`).  It never returns: it
either executes the program or reports why it could not over the status pipe and exits
with code 126.

Steps, each failing closed (0, 1 and 2 happen before the session's plan arrives):

0. keep only its control socket and sync pipes (``close_range``);

1. write its own uid/gid maps: the jail's root is the supervisor's own uid outside, without
   any capability once set-up ends; default signal dispositions and an empty signal mask
   (only step 5 changes them: SIGXFSZ blocked);
2. make every mount a slave (host mounts still propagate in: a device mounted after the
   jail was cloned is found), mount an empty tmpfs and ``pivot_root`` into it, keeping the
   old root at ``/.old-root``: the warm jail waits in an empty root;
3. (the plan has arrived) bind each file channel and each image from its host path under
   the old root (:func:`attach_binds`: ``openat2`` with no symlinks and nothing outside the
   old root, then ``fstat`` must give the device and inode of the descriptor the
   supervisor passed: the path alone is never trusted), as a ``open_tree`` copy marked
   read-only unless writable, always ``nosuid,nodev,noexec`` (images may keep exec); then
   detach the whole old root recursively and make every mount private; create FIFOs for
   pipes and sockets, symlinks, empty tmpfs masks; remount the root read-only;
4. (with FIFOs) tell the parent they exist, wait for it to open their other ends; open the
   standard channels through their ``/dev`` paths onto fds 0, 1, 2 (so even those fds live on
   ``noexec`` mounts);
5. rlimits (address space, CPU, file size, open files (at most the inherited hard limit),
   processes, no core) and SIGXFSZ blocked (a write refused at the file size limit leaves
   it pending for the monitor to see), ``PR_SET_PDEATHSIG`` (set at clone time), drop
   every capability, ``no_new_privs``,
   close every other fd (``close_range``);
6. load the seccomp filter with a user-notification listener, tell the parent its number
   and ``execveat`` the program's fd: the exec waits for the parent, which takes the
   listener with ``pidfd_getfd`` and lets exactly that exec through.

With the compiled launcher (:mod:`zerocloud.sandbox.launcher`, the default where it is
built), its factory mode clones the jail and does steps 0 and 1, and the clone goes on in
the launcher's code: the rest of step 2 while warm, then steps 3-6 (same steps, same
order, in C).  The Python functions here then serve the pre-started python jails' helper,
the probe, and machines without the launcher.

Why binds are made here, by path, and not by the supervisor from its descriptors: the
kernel lets ``open_tree(OPEN_TREE_CLONE)`` copy only mounts of the caller's own mount
namespace, and copying in the host's namespace needs ``CAP_SYS_ADMIN`` there, which Swift's
servers running as ``user = swift`` do not have.  Inside its own user and mount namespaces
the jail holds every capability over its copy of the mounts, but a descriptor opened before
the copy refers to the host's mounts (refused, EINVAL); a path opened after it refers to the
copy.  Hence: the same code for root and for unprivileged servers (the ``rootless`` design,
measured in :mod:`zerocloud.sandbox.isolation`).
"""
import dataclasses
import fcntl
import os
import pickle
import signal
import socket
import stat

from zerocloud.sandbox import fdpass, linux
from zerocloud.sandbox.lockdown import EXIT_JAIL_FAILED, OLD_ROOT, restrict
from zerocloud.sandbox.lockdown import fail as _fail, park as _park, place as _place

STAGING_DIR = '/tmp'        # any directory: the tmpfs hides it only in the session's mounts
HOSTNAME = 'zerocloud'
WARM_NAME = 'zc-warm'        # a pre-warmed jail waiting for its session (ps shows it)
JAIL_NAME = 'zc-jail'
SAFE_FLAGS = linux.MS_NOSUID | linux.MS_NODEV
PLAN_HEADER_BYTES = 8        # the plan's length, big-endian, before the pickled plan


@dataclasses.dataclass(frozen=True)
class Bind:
    """Bind the host path ``source`` at ``target`` with ``attributes`` (``MOUNT_ATTR_*``).

    ``fd`` is the descriptor the supervisor holds for it (a channel's own fd, or an
    ``O_PATH`` fd of an image directory): ``source`` must still be that file.
    """
    fd: int
    source: str
    target: str
    directory: bool
    attributes: int


@dataclasses.dataclass(frozen=True)
class JailPlan:
    """Everything the child needs, prepared by the parent before ``clone()``."""
    binds: tuple                 # Bind, in mount order
    fifos: tuple                 # jail paths of FIFOs (pipe and socket channels)
    symlinks: tuple              # (jail path, link text)
    masks: tuple                 # jail directories covered by an empty read-only tmpfs
    std_opens: tuple             # (fd 0-2, jail path, os.open flags, host fd or None)
    exec_fd: int
    argv: tuple
    env: tuple                   # 'K=V' strings
    bpf: bytes
    rlimits: tuple               # (resource.RLIMIT_*, soft, hard)
    outside_uid: int             # the jail's root outside (our own uid and gid)
    outside_gid: int
    from_parent: int             # sync pipe, read end
    to_parent: int               # status pipe, write end


def enter_warm(sys, control_fd, from_parent, to_parent, outside_uid, outside_gid,
               name=WARM_NAME):
    """A pre-warmed jail: prepare namespaces and the empty root, then wait for the plan.

    ``name`` is its process name while it waits (:data:`WARM_NAME` in a pool,
    :data:`JAIL_NAME` when cloned for a session that is already waiting).

    Runs right after ``clone()``.  Keeps only the control socket (fd 3) and the sync pipes
    (4: from the parent, 5: to the parent), so it holds nothing of other sessions while it
    waits.  The plan arrives pickled on the control socket with the fds it names (their
    numbers in the parent travel beside them and are translated).  Never returns.
    """
    status_fd = to_parent
    try:
        sys.set_name(name)
        sys.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        _place_control_fds(control_fd, from_parent, to_parent)
        status_fd = 5
        sys.close_range(6)
        fdpass.raise_open_files_limit()          # room for a plan's thousands of fds
        become_root_inside(outside_uid, outside_gid)
        sys.sethostname(HOSTNAME)                # the uts namespace hides the host's name
        stage_root(sys)
        _reset_signals()
        _rehearse_plan()
        _rehearse_binds(sys)
        plan = _receive_plan(3)
        sys.set_name(JAIL_NAME)
        populate_root(plan, sys)
        _launch_program(plan, sys)
    except BaseException as exc:  # report anything, never fall back into the caller
        _fail(status_fd, exc)
    os._exit(EXIT_JAIL_FAILED)


def _place_control_fds(control_fd, from_parent, to_parent):
    """The control socket and the sync pipes onto fds 3, 4 and 5 (all parked above 9
    first: no clobbering)."""
    parked = [_park(fd) for fd in (control_fd, from_parent, to_parent)]
    for number, fd in zip((3, 4, 5), parked):
        os.dup2(fd, number, inheritable=False)


def _receive_plan(control_fd):
    """Read one ``(parent fd numbers, JailPlan)`` message and its fds (in batches,
    :mod:`.fdpass`; one per number); return the plan."""
    fds = []
    with socket.socket(fileno=control_fd) as control:
        try:
            size = int.from_bytes(fdpass.receive_into(control, PLAN_HEADER_BYTES, fds), 'big')
            numbers, plan = pickle.loads(fdpass.receive_into(control, size, fds))
        except OSError as exc:
            raise RuntimeError('the plan did not arrive whole: %s' % exc)
    if len(fds) != len(numbers):
        raise RuntimeError('the plan names %d descriptors, %d arrived'
                           % (len(numbers), len(fds)))
    return _translate_plan(numbers, plan, fds)


def _translate_plan(numbers, plan, fds):
    """The plan with the parent's fd ``numbers`` replaced by the received ``fds``."""
    mapping = dict(zip(numbers, fds))
    return dataclasses.replace(
        plan, exec_fd=mapping[plan.exec_fd],
        binds=tuple(dataclasses.replace(b, fd=mapping[b.fd]) for b in plan.binds),
        std_opens=tuple((n, path, flags, None if orig is None else mapping[orig])
                        for n, path, flags, orig in plan.std_opens))


def _launch_program(plan, sys):
    """Open the channels, restrict everything, load seccomp and exec (never returns)."""
    await_fifo_ends(plan)
    open_std_channels(plan)
    fds = _renumber(plan)
    restrict(plan.rlimits, sys)
    sys.close_range(fds['to_parent'] + 1)
    listener = sys.seccomp_load(plan.bpf, with_listener=True)
    fcntl.fcntl(listener, fcntl.F_SETFD, fcntl.FD_CLOEXEC)
    # The parent takes the listener with pidfd_getfd while execveat waits for its
    # answer; exec then closes the jail's copy (close-on-exec).
    os.write(fds['to_parent'], b'L%d\n' % listener)
    sys.execveat(fds['exec'], plan.argv, plan.env)


def await_fifo_ends(plan):
    """With FIFOs: tell the parent they exist and wait until it opened their other ends."""
    if plan.fifos:
        os.write(plan.to_parent, b'R')
        _expect(plan.from_parent, b'G')


def become_root_inside(uid, gid):
    """Map the jail's root to our own uid/gid outside (allowed without privilege) and
    become it (every capability, over this user namespace only)."""
    for name, text in (('setgroups', 'deny'), ('uid_map', '0 %d 1' % uid),
                       ('gid_map', '0 %d 1' % gid)):
        fd = os.open('/proc/self/' + name, os.O_WRONLY)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)


def _expect(fd, token):
    got = os.read(fd, 1)
    if got != token:
        raise RuntimeError('supervisor went away during set-up (got %r)' % got)


def _rehearse_plan():
    """Decode a dummy plan while warm: a forked child copies each page of the parent's heap
    it first writes (Python writes reference counts everywhere), so the decoding code and
    objects are copied now, not while a session waits (it halves the plan's decoding)."""
    dummy = JailPlan(
        binds=(Bind(7, '/s', '/dev/stdin', False, 0),), fifos=('/dev/stdout',),
        symlinks=(('/a', 'b'),), masks=('/m',), std_opens=((0, '/dev/stdin', 0, 7),),
        exec_fd=8, argv=('a',), env=('A=b',), bpf=b'\0' * 8, rlimits=((0, 1, 1),),
        outside_uid=0, outside_gid=0, from_parent=4, to_parent=5)
    _translate_plan(*pickle.loads(pickle.dumps(([7, 8], dummy))), [7, 8])


def _rehearse_binds(sys):
    """Run the bind code's system calls once while warm, on the empty root's ``/dev`` (a
    copy never attached): their first call in a new process costs ~0.2 ms (ctypes set-up,
    copy-on-write faults), later ones ~15 us per bind."""
    root = os.open('/', os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        found = sys.openat2(root, 'dev', os.O_PATH | os.O_CLOEXEC | os.O_DIRECTORY,
                            linux.RESOLVE_NO_SYMLINKS | linux.RESOLVE_BENEATH)
    finally:
        os.close(root)
    try:
        same_file(os.fstat(found), os.fstat(found))
        os.close(sys.detached_copy(fd=found, attributes=linux.MOUNT_ATTR_RDONLY))
    finally:
        os.close(found)


def stage_root(sys):
    """Slave mounts; an empty tmpfs with /dev, /dev/in and /dev/out becomes the root
    (``pivot_root``), the old root stays at ``/.old-root`` until :func:`attach_binds`.
    Session-independent: done while warm."""
    sys.mount(None, '/', None, linux.MS_REC | linux.MS_SLAVE)
    sys.mount('tmpfs', STAGING_DIR, 'tmpfs', SAFE_FLAGS | linux.MS_NOEXEC, 'size=1m,mode=0755')
    for path in ('/dev', '/dev/in', '/dev/out', '/' + OLD_ROOT):
        os.mkdir(STAGING_DIR + path, 0o755)
    sys.pivot_root(STAGING_DIR, STAGING_DIR + '/' + OLD_ROOT)
    os.chdir('/')


def attach_binds(sys, binds):
    """Bind every :class:`Bind` from the old root, then detach the old root (all of it) and
    make every remaining mount private (nothing propagates in or out any more)."""
    old_root = os.open('/' + OLD_ROOT, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for bind in binds:
            _bind(sys, old_root, bind)
    finally:
        os.close(old_root)
    sys.umount2('/' + OLD_ROOT, linux.MNT_DETACH)
    os.rmdir('/' + OLD_ROOT)
    sys.mount(None, '/', None, linux.MS_REC | linux.MS_PRIVATE)


def populate_root(plan, sys):
    """Channels and images (:func:`attach_binds`), masks, FIFOs, symlinks in the (pivoted,
    empty) root; then remount the root read-only."""
    attach_binds(sys, plan.binds)
    for path in plan.masks:
        sys.mount('tmpfs', path, 'tmpfs',
                  SAFE_FLAGS | linux.MS_NOEXEC | linux.MS_RDONLY, 'size=4k,mode=0555')
    for path in plan.fifos:
        os.mkfifo(path, 0o600)
    for path, text in plan.symlinks:
        _make_parents(path)
        os.symlink(text, path)
    sys.mount(None, '/', None, linux.MS_REMOUNT | linux.MS_RDONLY | SAFE_FLAGS | linux.MS_NOEXEC)


def _make_parents(path):
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)


def _bind(sys, old_root, bind):
    """Bind ``bind.source`` (found under ``old_root`` without following any symlink, and
    checked to be the file of ``bind.fd``) at ``bind.target``."""
    flags = os.O_PATH | os.O_CLOEXEC | os.O_NOFOLLOW | (os.O_DIRECTORY if bind.directory else 0)
    resolve = linux.RESOLVE_NO_SYMLINKS | linux.RESOLVE_NO_MAGICLINKS | linux.RESOLVE_BENEATH
    try:
        found = sys.openat2(old_root, bind.source.lstrip('/'), flags, resolve)
    except OSError as exc:
        raise OSError(exc.errno, 'cannot bind %s for %s: %s'
                      % (bind.source, bind.target, os.strerror(exc.errno)))
    try:
        if not same_file(os.fstat(found), os.fstat(bind.fd)):
            raise OSError('cannot bind %s for %s: the path no longer leads to the file the '
                          'supervisor holds' % (bind.source, bind.target))
        tree = sys.detached_copy(fd=found, recursive=bind.directory,
                                 attributes=bind.attributes)
    finally:
        os.close(found)
    try:
        _make_parents(bind.target)
        if bind.directory:
            os.makedirs(bind.target, mode=0o755, exist_ok=True)
        elif not os.path.exists(bind.target):
            os.close(os.open(bind.target, os.O_CREAT | os.O_WRONLY, 0o600))
        sys.attach(tree, bind.target)
    finally:
        os.close(tree)


def same_file(one, other):
    """True when two ``os.stat_result`` are the same file (device and inode)."""
    return (one.st_dev, one.st_ino) == (other.st_dev, other.st_ino)


def open_std_channels(plan):
    """Put the standard channels on fds 0-2.

    A write-only host file keeps its own open file description (shared offset, so a shell's
    ``> file`` sequence stays intact; a write-only fd can be neither mapped nor executed).
    Anything readable is reopened through its ``noexec`` jail path (so it can never be
    mapped executable), keeping the offset and ``O_APPEND``.  An absent standard channel is
    an empty pipe (EOF / EPIPE), never an fd inherited from the supervisor.
    """
    opened = []
    for fd_number, path, flags, original in plan.std_opens:
        if original is not None and \
                fcntl.fcntl(original, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY:
            opened.append((fd_number, os.dup(original)))
            continue
        fd = os.open(path, flags | os.O_CLOEXEC)
        if original is not None:
            if fcntl.fcntl(original, fcntl.F_GETFL) & os.O_APPEND:
                fcntl.fcntl(fd, fcntl.F_SETFL, os.O_APPEND)
            else:
                os.lseek(fd, os.lseek(original, 0, os.SEEK_CUR), os.SEEK_SET)
        opened.append((fd_number, fd))
    parked = []
    for fd_number, fd in opened:                 # out of the way of 0-2 first
        parked.append((fd_number, fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)))
        os.close(fd)
    given = {fd_number for fd_number, _fd in parked}
    for number in (0, 1, 2):                     # an absent channel is an empty pipe,
        if number not in given:                  # never an fd inherited from the host
            parked.append((number, _empty_pipe_end(readable=number == 0)))
    for fd_number, fd in parked:
        os.dup2(fd, fd_number)
        os.close(fd)


def _empty_pipe_end(readable):
    """A pipe end with nothing behind it: reads see EOF, writes get EPIPE."""
    read_end, write_end = os.pipe()
    keep, drop = (read_end, write_end) if readable else (write_end, read_end)
    os.close(drop)
    return keep


def _renumber(plan):
    """Move the exec fd and the sync pipes to 3, 4, 5 (close-on-exec); return the map."""
    wanted = {'exec': plan.exec_fd, 'from_parent': plan.from_parent,
              'to_parent': plan.to_parent}
    parked = {name: _park(fd) for name, fd in wanted.items()}
    result = {}
    for number, name in enumerate(('exec', 'from_parent', 'to_parent'), start=3):
        _place(parked[name], number)
        result[name] = number
    return result


def _reset_signals():
    """Default dispositions and an empty mask (session-independent: done while warm).

    exec resets caught signals itself; ignored ones (Python ignores SIGPIPE and SIGXFSZ, a
    parent may have ignored more: Python records those at start-up) must be reset here.
    """
    for signum in signal.valid_signals():
        if signum in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            if signal.getsignal(signum) not in (signal.SIG_DFL, None):
                signal.signal(signum, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, ())


def is_regular_file(fd):
    """True when ``fd`` is a regular file (shown by bind mount rather than pumped)."""
    return stat.S_ISREG(os.fstat(fd).st_mode)
