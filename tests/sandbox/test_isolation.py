"""Which isolation the sandbox gets, and failing closed without it (issue 14).

- A supervisor started as an ordinary user (``nobody``, no capability) records "rootless user
  namespaces" and runs sessions (C and Python, file and pipe channels, through its warm
  jails), its jails running as that uid outside.
- With user namespaces disabled (a real kernel limit: a user namespace whose
  ``user.max_user_namespaces`` is 0), ``zerocloud run`` and the supervisor refuse every
  session with status ``isolation`` naming what is missing; the program never runs and no
  jail is ever made.
- :func:`zerocloud.sandbox.isolation.explain` names the cause an operator can act on for
  each way the kernel says no (read from the sysctls it consults).
"""
import errno
import os
import subprocess

import pytest

from tests.sandbox import runner, unprivileged
from zerocloud.sandbox import (ChannelSpec, Limits, SessionSpec, SupervisorClient,
                               isolation, start_supervisor)

SCRIPT = 'import sys\nprint(sys.stdin.read().upper(), end="")\n'


@pytest.fixture
def workdir():
    path = unprivileged.workdir()
    yield path
    unprivileged.remove(path)


def start_as(workdir, disable_userns=False):
    """A supervisor in ``workdir``, run as nobody (or where user namespaces are off)."""
    python = unprivileged.python_wrapper(workdir, disable_userns)
    return start_supervisor(os.path.join(workdir, 'sandbox.sock'), python=python)


def run_session(handle, workdir, program, argv, stdin, kind='file'):
    """One session with ``stdin`` (bytes) in a file channel and stdout in a file: (report,
    stdout bytes).  The files belong to nobody, as a server's spools do."""
    paths = [os.path.join(workdir, name) for name in ('in', 'out', 'script')]
    with open(paths[0], 'wb') as f:
        f.write(stdin)
    with open(paths[2], 'w') as f:
        f.write(SCRIPT)
    open(paths[1], 'wb').close()
    unprivileged.hand_over(workdir)
    channels = [ChannelSpec('stdin', 'r', kind), ChannelSpec('stdout', 'w', 'file'),
                ChannelSpec('script', 'r', 'file')]
    fds = [os.open(paths[0], os.O_RDONLY), os.open(paths[1], os.O_RDWR),
           os.open(paths[2], os.O_RDONLY)]
    try:
        spec = SessionSpec(program=program, argv=argv, channels=channels,
                           limits=Limits(wall_seconds=20))
        report = SupervisorClient(handle.socket_path).run(spec, fds)
    finally:
        for fd in fds:
            os.close(fd)
    with open(paths[1], 'rb') as f:
        return report, f.read()


def uids_of(pid):
    with open('/proc/%d/status' % pid) as f:
        return [line.split()[1:] for line in f if line.startswith('Uid:')][0]


def test_an_unprivileged_supervisor_runs_sessions_in_rootless_jails(workdir, sb):
    handle = start_as(workdir)
    try:
        assert uids_of(handle.pid) == [str(unprivileged.UID)] * 4
        recorded = isolation.recorded(handle.socket_path)
        assert recorded.startswith(isolation.AVAILABLE), recorded
        assert 'uid %d' % unprivileged.UID in recorded, recorded
        assert recorded.endswith('; jail launcher: compiled'), recorded   # nobody runs it too
        for kind in ('file', 'pipe', 'file', 'pipe'):     # warm jails from the factory too
            report, out = run_session(handle, workdir, runner.PYTHON,
                                      ['python', '/dev/script'], b'rootless %s' % kind.encode(),
                                      kind)
            assert (report.status, out) == ('ok', b'ROOTLESS %s' % kind.upper().encode()), \
                report
        report, out = run_session(handle, workdir, sb('sb_args'), ['sb_args', 'x'], b'')
        assert report.status == 'ok' and b'x' in out, (report, out)
    finally:
        handle.stop()


def test_zerocloud_run_fails_closed_without_user_namespaces(workdir, sb):
    """The CLI where user namespaces are disabled: 125, ``isolation`` naming the limit."""
    wrapper = unprivileged.python_wrapper(workdir, disable_userns=True)
    result = runner.run_sandboxed(sb('sb_args'), ('ran',), workdir=workdir,
                                  popen_kwargs={'executable': wrapper})
    assert result.exit_code == 125, result.describe()
    assert result.status == 'isolation', result.describe()
    assert 'user.max_user_namespaces=0' in result.report['reason'], result.describe()
    assert result.stdout == b'', 'the program ran'


def test_supervisor_fails_closed_without_user_namespaces(workdir):
    handle = start_as(workdir, disable_userns=True)
    try:
        recorded = isolation.recorded(handle.socket_path)
        assert recorded.startswith('sandbox: unavailable: isolation: '), recorded
        assert 'user.max_user_namespaces=0' in recorded, recorded
        report, out = run_session(handle, workdir, runner.PYTHON, ['python', '/dev/script'],
                                  b'never read')
        assert report.status == 'isolation', report
        assert 'user namespaces are disabled (user.max_user_namespaces=0)' in report.reason
        assert out == b''
        assert not _children_named(handle.pid, ('zc-factory', 'zc-warm', 'zc-jail'))
    finally:
        handle.stop()
    assert not os.path.exists(handle.socket_path + isolation.RECORD_SUFFIX)


def _children_named(pid, names):
    found = []
    for entry in os.listdir('/proc'):
        try:
            with open('/proc/%s/stat' % entry) as f:
                stat = f.read()
        except (OSError, ValueError):
            continue
        name, fields = stat[stat.index('(') + 1:stat.rindex(')')], stat.rsplit(')', 1)[1]
        if int(fields.split()[1]) == pid and name in names:
            found.append((int(entry), name))
    return found


def fake_sysctls(values, cap_sys_admin=False):
    """A ``read(path)`` answering ``values`` ({sysctl key: text}) and a CapEff line."""
    def read(path):
        if path == '/proc/self/status':
            return 'CapEff:\t%016x' % ((1 << isolation.CAP_SYS_ADMIN) if cap_sys_admin else 0)
        keys = [key for key, known in isolation.SYSCTLS.items() if known == path]
        return values.get(keys[0], '') if keys else ''
    return read


CLONE = 'creating the namespaces (clone)'
MOUNT = 'mounting the jail root (tmpfs, pivot_root)'


@pytest.mark.parametrize('step, error, sysctls, sysadmin, expected', [
    (CLONE, errno.EPERM, {'unprivileged_userns_clone': '0'}, False,
     'unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone=0) and '
     'the server (uid 1000) lacks CAP_SYS_ADMIN'),
    (MOUNT, errno.EPERM, {'apparmor_restrict': '1'}, False,
     'unprivileged user namespaces are restricted by AppArmor '
     '(kernel.apparmor_restrict_unprivileged_userns=1) and the server (uid 1000) lacks '
     'CAP_SYS_ADMIN'),
    (CLONE, errno.EPERM, {}, True, 'user namespaces are not permitted to this process (a '
     'seccomp filter or a security module, e.g. a container runtime\'s)'),
    (CLONE, errno.ENOSPC, {'max_user_namespaces': '0'}, False,
     'user namespaces are disabled (user.max_user_namespaces=0)'),
    (CLONE, errno.ENOSPC, {'max_user_namespaces': '15'}, False,
     'the limit of user namespaces is reached (user.max_user_namespaces=15)'),
    (CLONE, errno.EINVAL, {}, False,
     'the kernel lacks user, mount, pid, network, IPC or UTS namespaces'),
])
def test_explain_names_what_is_missing(step, error, sysctls, sysadmin, expected):
    read = fake_sysctls(sysctls, sysadmin)
    assert isolation.explain(step, error, 1000, isolation.has_cap_sys_admin(read),
                             read) == expected


def test_cap_sys_admin_is_read_from_the_effective_set():
    assert isolation.has_cap_sys_admin(fake_sysctls({}, True))
    assert not isolation.has_cap_sys_admin(fake_sysctls({}, False))
    as_root = subprocess.run(['grep', 'CapEff', '/proc/self/status'], capture_output=True,
                             text=True).stdout
    assert isolation.has_cap_sys_admin() == (int(as_root.split()[1], 16) >> 21 & 1 == 1)
