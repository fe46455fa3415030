"""What isolation this machine gives the sandbox: one probe at start-up, and its verdict.

The design (issue 14): **rootless jails**.  Every jail is built in its own user, mount,
pid, network, IPC and UTS namespaces by the jail itself (:mod:`.jail`): it maps its root to
the server's own uid, binds its channels and images by path inside its own mount namespace
(checked against the supervisor's descriptors), pivots and detaches the host's tree.  No
step needs a privilege in the host's namespaces, so the object servers run as an ordinary
user (Swift's ``user = swift``) wherever the kernel lets ordinary users create user
namespaces: the default of Debian, Fedora, RHEL, and of Ubuntu before 24.04.  The same code
runs for root.  Cost, against the former design (detached mounts made by a root supervisor,
old root detached while warm), on a loaded 2-core VM: the session start's critical path
(``SessionRunner.start`` with stdin and stdout files, medians of 3 x 300) went from 1.16-1.54
to 1.42-1.86 ms as root and 1.31-1.82 ms as ``nobody``; ``bench/sandbox.py`` (musl hello,
back-to-back) from 3.2-3.6 to 3.9 ms as root and 4.0-4.6 ms as ``nobody``.  Of it, ~0.1 ms
is the old root's detach, now on the session's path, and ~0.2 ms the first call of the bind
system calls in a fresh jail (ctypes set-up, copy-on-write faults; a second bind costs
~15 us), now rehearsed while warm (``jail._rehearse_binds``; not re-measured: the machine
was saturated).  One path, tested for root and for an ordinary user, is worth that.

Where the kernel or the distribution forbids unprivileged user namespaces
(``kernel.unprivileged_userns_clone=0`` on older Debian, ``user.max_user_namespaces=0``,
Ubuntu 24.04's ``kernel.apparmor_restrict_unprivileged_userns=1``, a container's seccomp
profile), a process holding ``CAP_SYS_ADMIN`` may still create them (except with
``max_user_namespaces=0``): the operator gives the object servers that capability
(``AmbientCapabilities=CAP_SYS_ADMIN``), or on Ubuntu an AppArmor profile with ``userns,`` for
the Python that runs them (``doc/install.md``).  The other candidate, a small privileged
sandbox service (a systemd unit, a Unix socket, peer credentials checked against an
allow-list) that unprivileged servers would talk to, is **not built**: it would keep
``CAP_SYS_ADMIN`` out of the servers on such distributions, at the price of a second daemon.

:func:`probe` clones a child into the jail's namespaces that does what every jail does
(maps, tmpfs root, ``pivot_root``, binds one file by path, detaches the old root) and
returns an :class:`Isolation`.  The supervisor probes once at start (and ``zerocloud run``
once per run, 2-7 ms) and records the verdict beside its socket (:func:`record`), where the
object server reads it to log which mode runs ("sandbox: rootless user namespaces ...");
when the probe fails, no jail is ever cloned and every session ends ``isolation`` with
:attr:`Isolation.reason`, which names what is missing.
"""
import dataclasses
import errno
import os

from zerocloud.sandbox import binds, jail, linux

CAP_SYS_ADMIN = 21
RECORD_SUFFIX = '.isolation'     # beside a supervisor's socket: its verdict, for the log
SYSCTLS = {
    'unprivileged_userns_clone': '/proc/sys/kernel/unprivileged_userns_clone',
    'apparmor_restrict': '/proc/sys/kernel/apparmor_restrict_unprivileged_userns',
    'max_user_namespaces': '/proc/sys/user/max_user_namespaces',
}
ROOTLESS = 'rootless user namespaces'
AVAILABLE = 'sandbox: ' + ROOTLESS      # how a recorded description of a usable sandbox begins
PROBE_TARGET = '/probe'


@dataclasses.dataclass(frozen=True)
class Isolation:
    """The probe's verdict: ``available``, a one-line ``description`` for the log, and the
    ``reason`` every session fails with when it is not available."""
    available: bool
    description: str
    reason: str = ''


def probe(sys, read=None):
    """Build one throw-away jail; return the :class:`Isolation` this process gets.

    Call it from a single-threaded process (the child is cloned without fork hooks).
    ``read(path)`` reads a sysctl (tests replace it).
    """
    read = read or _read_text
    uid = os.geteuid()
    sysadmin = has_cap_sys_admin(read)
    step, error = _run_probe(sys)
    if error is None:
        return Isolation(True, 'sandbox: %s (server uid %d, %s)' % (
            ROOTLESS, uid, 'CAP_SYS_ADMIN held but not needed' if sysadmin
            else 'no CAP_SYS_ADMIN needed'))
    reason = 'isolation: no jail can be built here: %s (%s failed: %s); see doc/install.md' % (
        explain(step, error, uid, sysadmin, read), step, os.strerror(error)
        if isinstance(error, int) else error)
    return Isolation(False, 'sandbox: unavailable: ' + reason, reason)


def _run_probe(sys):
    """``(step, None)`` when a test jail could be built, else ``(failed step, errno or
    message)``."""
    fd = os.open(os.path.abspath(__file__), os.O_RDONLY | os.O_CLOEXEC)
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    try:
        source = binds.host_path(fd)
        uid, gid = os.geteuid(), os.getegid()
        try:
            pid = sys.clone_into_namespaces(linux.JAIL_NAMESPACES)
        except OSError as exc:
            return 'creating the namespaces (clone)', exc.errno
        if pid == 0:  # pragma: no cover - the child
            _probe_child(sys, fd, source, uid, gid, write_end)
        os.close(write_end)
        write_end = None
        answer = _read_all(read_end).decode(errors='replace')
        os.waitpid(pid, 0)
    finally:
        for end in (fd, read_end, write_end):
            if end is not None:
                os.close(end)
    if answer == 'ok':
        return 'probe', None
    step, _sep, detail = answer.partition('\n')
    code, _sep, message = detail.partition(' ')
    return step or 'the probe jail', int(code) if code.isdigit() and int(code) else (
        message or 'the probe jail died')


def _probe_child(sys, fd, source, uid, gid, to_parent):  # pragma: no cover - the child
    """Do what every jail does, with one file; write ``ok`` or ``step\\nerrno message``."""
    step = 'writing the user namespace id maps'
    try:
        jail.become_root_inside(uid, gid)
        step = 'mounting the jail root (tmpfs, pivot_root)'
        jail.stage_root(sys)
        step = 'binding a file by path in the jail mount namespace'
        jail.attach_binds(sys, [jail.Bind(fd, source or '/', PROBE_TARGET, False,
                                          linux.MOUNT_ATTR_RDONLY | binds.CHANNEL_ATTRS)])
        with open(PROBE_TARGET, 'rb') as bound:
            bound.read(1)
        os.write(to_parent, b'ok')
    except BaseException as exc:  # report anything, never return into the caller
        code = exc.errno if isinstance(exc, OSError) and exc.errno else 0
        os.write(to_parent, ('%s\n%d %s' % (step, code, exc)).encode(errors='replace'))
    os._exit(0)


def explain(step, error, uid, sysadmin, read):
    """What is missing, in words an operator can act on, for a probe that failed at
    ``step`` with ``error`` (an errno, or a message)."""
    if error in (errno.EPERM, errno.EACCES):
        if read(SYSCTLS['unprivileged_userns_clone']) == '0':
            missing = ('unprivileged user namespaces are disabled '
                       '(kernel.unprivileged_userns_clone=0)')
        elif read(SYSCTLS['apparmor_restrict']) == '1':
            missing = ('unprivileged user namespaces are restricted by AppArmor '
                       '(kernel.apparmor_restrict_unprivileged_userns=1)')
        else:
            missing = ('user namespaces are not permitted to this process (a seccomp '
                       'filter or a security module, e.g. a container runtime\'s)')
        if not sysadmin:
            missing += ' and the server (uid %d) lacks CAP_SYS_ADMIN' % uid
        return missing
    if error == errno.ENOSPC:
        limit = read(SYSCTLS['max_user_namespaces'])
        if limit == '0':
            return 'user namespaces are disabled (user.max_user_namespaces=0)'
        return 'the limit of user namespaces is reached (user.max_user_namespaces=%s)' % limit
    if error == errno.EINVAL and step.startswith('creating'):
        return 'the kernel lacks user, mount, pid, network, IPC or UTS namespaces'
    return 'the jail could not be built'


def has_cap_sys_admin(read=None):
    """True when this process's effective capabilities include CAP_SYS_ADMIN."""
    for line in (read or _read_text)('/proc/self/status').splitlines():
        if line.startswith('CapEff:'):
            return bool(int(line.split()[1], 16) >> CAP_SYS_ADMIN & 1)
    return False


def record(socket_path, isolation):
    """Write the verdict's description beside a supervisor's socket (before it listens:
    whoever can connect finds it); :func:`recorded` reads it back."""
    path = socket_path + RECORD_SUFFIX
    with open(path + '.tmp', 'w') as f:
        f.write(isolation.description + '\n')
    os.replace(path + '.tmp', path)


def recorded(socket_path):
    """The description a supervisor recorded (:func:`record`), or ''."""
    return _read_text(socket_path + RECORD_SUFFIX)


def forget(socket_path):
    """Remove the record of a supervisor that stops."""
    try:
        os.unlink(socket_path + RECORD_SUFFIX)
    except FileNotFoundError:
        pass


def _read_text(path):
    """A /proc file's text, stripped ('' when it does not exist)."""
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ''


def _read_all(fd):
    data = b''
    while True:
        chunk = os.read(fd, 4096)
        if not chunk:
            return data
        data += chunk
