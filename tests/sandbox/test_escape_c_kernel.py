"""Escape attempts by static C programs: kernel interfaces, executable memory, CPU modes,
identity and limits.

Where the spec is strict the tests are strict: an i386 (``int 0x80``, 32-bit compatibility
mode) or x32 system call must end the session with status ``seccomp`` and never return; freshly
written code must never run.  Elsewhere "refused inside" and "killed by seccomp" both pass, as
long as nothing was obtained.
"""
import pytest

from tests.sandbox.checks import assert_denied, assert_killed_by_seccomp, assert_status

LIBCS = ('glibc', 'musl')


@pytest.mark.parametrize('attempt', [
    ('mount', 'tmpfs', '/dev'),
    ('mount', 'proc', '/dev/in'),
    ('umount', '/dev/stdin'),
    ('umount', '/'),
    ('pivot-root',),
    ('chroot',),
    ('fsopen',),
    ('open-tree',),
], ids=lambda a: '-'.join(a).replace('/', '_'))
def test_cant_mount_or_change_root(sb, run_sandboxed, attempt):
    result = run_sandboxed(sb('sb_escape_kernel'), attempt, ins={'a': b'x'})
    assert_denied(result, attempt[0])


@pytest.mark.parametrize('how', ['unshare-user', 'unshare-mount', 'unshare-net', 'setns'])
def test_cant_create_or_join_namespaces(sb, run_sandboxed, how):
    result = run_sandboxed(sb('sb_escape_kernel', 'musl'), (how,))
    assert_denied(result, how)


@pytest.mark.parametrize('how', ['keyctl', 'bpf', 'perf', 'userfaultfd', 'io-uring',
                                 'open-by-handle', 'syslog', 'init-module'])
def test_cant_reach_kernel_attack_surface(sb, run_sandboxed, how):
    result = run_sandboxed(sb('sb_escape_kernel'), (how,))
    assert_denied(result, how)


@pytest.mark.parametrize('libc', LIBCS)
def test_cant_use_32bit_syscalls(sb, run_sandboxed, libc):
    """`int 0x80` hidden from the validator: the i386 call must be killed, never return."""
    result = run_sandboxed(sb('sb_int80_hidden', libc))
    assert_killed_by_seccomp(result)
    assert result.stdout == b'calling hidden int 0x80\n', result.describe()


@pytest.mark.parametrize('libc', LIBCS)
def test_cant_switch_to_32bit_mode(sb, run_sandboxed, libc):
    """A far return to the 32-bit code segment, then `int 0x80`: killed at the first call."""
    result = run_sandboxed(sb('sb_far32_hidden', libc))
    assert_killed_by_seccomp(result)
    assert result.retcode != 42
    assert result.stdout == b'switching to 32-bit mode\n', result.describe()


@pytest.mark.parametrize('libc', LIBCS)
def test_cant_use_x32_syscalls(sb, run_sandboxed, libc):
    result = run_sandboxed(sb('sb_escape_kernel', libc), ('x32-write',))
    assert_killed_by_seccomp(result)


@pytest.mark.parametrize('route', ['mmap-rwx', 'mprotect-exec', 'personality-rie',
                                   'pkey-mprotect', 'memfd-mmap', 'channel-mmap',
                                   'stack-exec', 'shm-exec'])
@pytest.mark.parametrize('libc', LIBCS)
def test_cant_map_rwx(sb, run_sandboxed, route, libc):
    """No route gives memory that holds code the program wrote and that then runs."""
    result = run_sandboxed(sb('sb_escape_mem', libc), (route,), output=True)
    assert_denied(result, route)
    assert b'written code ran' not in result.stdout


@pytest.mark.parametrize('libc', LIBCS)
def test_cant_run_int80_generated_at_run_time(sb, run_sandboxed, libc):
    """`int 0x80` written into memory at run time: it can't be made executable, or, if it
    could, the call is killed."""
    result = run_sandboxed(sb('sb_escape_mem', libc), ('int80-generated',))
    assert b'written code ran' not in result.stdout, result.describe()
    if result.status == 'ok':
        assert b'DENIED int80-generated' in result.stdout, result.describe()
    else:
        assert_killed_by_seccomp(result)


@pytest.mark.parametrize('how', ['setuid', 'setgid', 'setgroups'])
def test_cant_change_identity(sb, run_sandboxed, how):
    result = run_sandboxed(sb('sb_escape_proc'), (how,))
    assert_denied(result, how)


def test_cant_raise_rlimits(sb, run_sandboxed):
    result = run_sandboxed(sb('sb_escape_proc'), ('rlimits',))
    assert_denied(result, 'rlimit')
    if result.status == 'ok':
        assert result.stdout.count(b'DENIED rlimit') == 7, result.describe()


def test_cant_escape_memory_limit_by_raising_it(sb, run_sandboxed):
    """Lift RLIMIT_AS/RLIMIT_DATA, then allocate without end: killed for the attempt, or
    stopped at the original limit."""
    limit = 64 << 20
    result = run_sandboxed(sb('sb_limits'), ('membomb-raise',), memory=limit, timeout=20)
    assert_status(result, 'memory-limit', 'seccomp')
    touched = [int(line.split()[1]) for line in result.stdout.splitlines()
               if line.startswith(b'touched ')]
    if result.status == 'memory-limit':
        assert touched, 'the bomb never ran\n' + result.describe()
    assert max(touched, default=0) << 20 <= limit, 'the program used more than its limit'


def test_cant_raise_scheduling_priority(sb, run_sandboxed):
    result = run_sandboxed(sb('sb_escape_proc'), ('nice',))
    assert_denied(result, 'nice')
