"""Escape attempts by static C programs: the host's files, processes, network and terminal.

Each test is a claim about what a jailed program cannot do, proved by a real attack
(``tests/programs/sb_escape_*.c``) run through ``zerocloud run``, asserting on what leaked,
what changed on the host, and how the session ended.  The attacks themselves are shown to
work outside the sandbox by ``test_attack_programs_work_without_the_sandbox``.
"""
import errno
import fcntl
import hashlib
import os
import socket
import subprocess
import sys
import termios
import time
import tty

from pathlib import Path

import pytest

from tests.sandbox.checks import assert_denied, assert_nothing_leaked, assert_status

LIBCS = ('glibc', 'musl')
#: what the jail's /dev may hold: the channels, plus harmless character devices
CHANNEL_NAMES = {'stdin', 'stdout', 'stderr', 'input', 'output', 'script', 'in', 'out'}
HARMLESS_DEVICES = {'null', 'zero', 'full', 'random', 'urandom'}


def sha256_of(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def entries(stdout):
    """The names a ``list`` attempt printed."""
    return {line[6:].decode() for line in stdout.splitlines() if line.startswith(b'ENTRY ')}


@pytest.fixture
def tcp_server():
    """A listening loopback TCP socket; yields (socket, port)."""
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    server.listen(16)
    server.setblocking(False)
    yield server, server.getsockname()[1]
    server.close()


def connections_received(server):
    """How many connections the kernel completed for ``server`` (never blocks)."""
    count = 0
    while True:
        try:
            conn, _ = server.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


@pytest.mark.parametrize('libc', LIBCS)
def test_cant_read_host_files(sb, run_sandboxed, secret_file, libc):
    path, secret = secret_file
    result = run_sandboxed(sb('sb_escape_fs', libc),
                           ('read', path, '/etc/passwd', '/etc/shadow', '/etc/hostname',
                            os.path.abspath(__file__), sys.executable))
    assert_status(result, 'ok')
    assert_denied(result, 'read')
    assert result.stdout.count(b'DENIED read') == 6, result.describe()
    assert_nothing_leaked(result, secret, b'root:x:0:0', b'root:')


def test_cant_read_host_files_through_dotdot(sb, run_sandboxed, secret_file):
    path, secret = secret_file
    tricks = ['/dev/../etc/passwd', '/dev/in/../../etc/passwd', '/dev/stdin/../../etc/passwd',
              '/../../../../etc/passwd', '/dev/..' + path, '/dev/in/../..' + path]
    result = run_sandboxed(sb('sb_escape_fs', 'musl'), ['read'] + tricks, ins={'a': b'x'})
    assert_denied(result, 'read')
    assert result.stdout.count(b'DENIED read') == len(tricks), result.describe()
    assert_nothing_leaked(result, secret, b'root:')


def test_cant_see_proc_or_sys(sb, run_sandboxed, decoy):
    paths = ['/proc/self/environ', '/proc/self/maps', '/proc/self/root/etc/passwd',
             '/proc/1/cmdline', '/proc/1/mem', '/proc/%d/environ' % decoy.pid,
             '/proc/%d/root/etc/passwd' % decoy.pid, '/sys/kernel/notes',
             '/sys/class/net/lo/address', '/proc/sys/kernel/hostname', '/proc/kallsyms']
    result = run_sandboxed(sb('sb_escape_fs'), ['read'] + paths)
    assert_denied(result, 'read')
    assert result.stdout.count(b'DENIED read') == len(paths), result.describe()
    assert_nothing_leaked(result, b'root:', b'PATH=')


@pytest.mark.parametrize('libc', LIBCS)
def test_root_shows_only_dev(sb, run_sandboxed, libc):
    result = run_sandboxed(sb('sb_escape_fs', libc), ('list', '/'))
    assert_status(result, 'ok')
    assert b'LISTED /' in result.stdout, result.describe()
    assert entries(result.stdout) - {'.', '..'} <= {'dev'}, result.describe()


def test_dev_shows_only_channels(sb, run_sandboxed):
    result = run_sandboxed(sb('sb_escape_fs'), ('list', '/dev'), stdin=b's', input=b'x',
                           ins={'a': b'y'}, outs=('b',), output=True)
    assert_status(result, 'ok')
    seen = entries(result.stdout) - {'.', '..'}
    assert b'LISTED /dev' in result.stdout, result.describe()
    assert {'stdin', 'stdout', 'stderr', 'input', 'output', 'in', 'out'} <= seen
    assert seen <= CHANNEL_NAMES | HARMLESS_DEVICES, result.describe()


@pytest.mark.parametrize('how', ['chdir-up', 'dotdot-fd'])
def test_cant_escape_through_working_directory(sb, run_sandboxed, how):
    result = run_sandboxed(sb('sb_escape_fs'), (how, 'etc/passwd'))
    assert_denied(result, how)
    assert_nothing_leaked(result, b'root:')
    host_root = set(os.listdir('/')) - {'dev'}
    assert not entries(result.stdout) & host_root, 'host root visible\n' + result.describe()


@pytest.mark.parametrize('mode', ['create', 'mkdir'])
def test_cant_create_files_outside_channels(sb, run_sandboxed, tmp_path, token, mode):
    targets = [str(tmp_path / token), '/tmp/' + token, '/' + token, '/dev/' + token,
               '/dev/out/' + token, '/dev/in/' + token]
    program = sb('sb_escape_fs', 'musl')
    for target in targets:
        result = run_sandboxed(program, (mode, target), ins={'a': b'x'}, outs=('b',))
        assert_denied(result, mode)
        assert not os.path.lexists(target), '%s created on the host' % target
    assert not any(token in name for name in os.listdir(tmp_path))


@pytest.mark.parametrize('channel', ['/dev/stdin', '/dev/input', '/dev/script', '/dev/in/a'])
def test_cant_write_read_only_channels(sb, run_sandboxed, tmp_path, channel):
    original = b'read-only channel content\n'
    result = run_sandboxed(sb('sb_escape_fs'), ('write', channel), stdin=original, input=original,
                           script=original, ins={'a': original})
    assert_denied(result, 'write')
    for name in ('stdin', 'input', 'script', 'in-a'):
        assert (tmp_path / ('in-' + name)).read_bytes() == original, name


@pytest.mark.parametrize('attempt', [
    ('symlink', '/etc/passwd', '/dev/out/evil'),
    ('symlink', '/etc/passwd', '/dev/output.link'),
    ('link', '/dev/input', '/dev/out/hard'),
    ('rename', '/dev/output', '/dev/out/moved'),
    ('unlink', '/dev/output'),
    ('unlink', '/dev/out/b'),
    ('truncate', '/dev/input'),
    ('chmod', '/dev/output'),
    ('mknod', '/dev/out/mem'),
], ids=lambda a: '-'.join(a).replace('/', '_'))
def test_cant_replace_channels_or_make_special_files(sb, run_sandboxed, tmp_path, attempt):
    passwd_before = sha256_of('/etc/passwd')
    result = run_sandboxed(sb('sb_escape_fs'), attempt, input=b'input data', output=True,
                           outs=('b',))
    assert_denied(result, attempt[0])
    assert (tmp_path / 'in-input').read_bytes() == b'input data'
    for name in ('out-output', 'out-b'):
        path = tmp_path / name
        assert not path.is_symlink() and (not path.exists() or path.is_file()), name
        if path.exists():
            assert os.stat(path).st_mode & 0o7000 == 0, 'mode changed on the host'
    assert sha256_of('/etc/passwd') == passwd_before


@pytest.mark.parametrize('libc', LIBCS)
def test_cant_use_inherited_descriptors(sb, run_sandboxed, libc):
    """Every open descriptor is one of the session's channels: no directory (the runc
    CVE-2024-21626 kind, openat("..") from a leaked host directory) and no socket."""
    result = run_sandboxed(sb('sb_escape_fs', libc), ('fds',), stdin=b's', input=b'i',
                           ins={'a': b'a'}, outs=('b',), output=True)
    assert_status(result, 'ok')
    kinds = [line.split()[2] for line in result.stdout.splitlines() if line.startswith(b'FD ')]
    assert kinds, result.describe()
    assert b'dir' not in kinds and b'sock' not in kinds, result.describe()
    assert len(kinds) <= 7, 'more descriptors than channels\n' + result.describe()
    assert not entries(result.stdout), result.describe()


@pytest.mark.parametrize('libc', LIBCS)
def test_cant_connect_network(sb, run_sandboxed, tcp_server, libc):
    server, port = tcp_server
    result = run_sandboxed(sb('sb_escape_kernel', libc), ('tcp', '127.0.0.1', str(port)))
    assert_denied(result, 'tcp')
    assert connections_received(server) == 0, 'the jail reached a host TCP server'


def test_cant_send_udp(sb, run_sandboxed):
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(('127.0.0.1', 0))
    receiver.setblocking(False)
    with receiver:
        port = receiver.getsockname()[1]
        result = run_sandboxed(sb('sb_escape_kernel'), ('udp', '127.0.0.1', str(port)))
        assert_denied(result, 'udp')
        with pytest.raises(BlockingIOError):
            receiver.recvfrom(100)


@pytest.mark.parametrize('kind', ['path', 'abstract'])
def test_cant_connect_unix_sockets(sb, run_sandboxed, tmp_path, token, kind):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    address = str(tmp_path / 'host.sock') if kind == 'path' else '\0' + token
    listener.bind(address)
    listener.listen(4)
    listener.setblocking(False)
    with listener:
        target = address if kind == 'path' else '@' + token
        result = run_sandboxed(sb('sb_escape_kernel'), ('unix', target))
        assert_denied(result, 'unix')
        assert connections_received(listener) == 0, 'the jail reached a host unix socket'


@pytest.mark.parametrize('how', ['fork', 'vfork', 'clone', 'clone3'])
@pytest.mark.parametrize('libc', LIBCS)
def test_cant_fork(sb, run_sandboxed, how, libc):
    result = run_sandboxed(sb('sb_escape_proc', libc), (how,))
    assert_denied(result, how)
    assert b'child process running' not in result.stdout


def test_cant_exec_host_binaries(sb, run_sandboxed):
    marker = sb('sb_marker')
    for target in ('/bin/sh', marker, sys.executable, '/dev/input'):
        result = run_sandboxed(sb('sb_escape_proc'), ('exec', target), input=Path(marker))
        assert_denied(result, 'exec')
        assert result.retcode != 77, 'marker program ran\n' + result.describe()


def test_cant_exec_a_channel_by_descriptor(sb, run_sandboxed):
    marker = sb('sb_marker', 'musl')
    result = run_sandboxed(sb('sb_escape_proc'), ('execveat-fd', '/dev/input'), input=marker)
    assert_denied(result, 'execveat-fd')
    assert result.retcode != 77, 'marker program ran\n' + result.describe()


def test_cant_exec_from_memfd(sb, run_sandboxed):
    marker = sb('sb_marker', 'musl')
    result = run_sandboxed(sb('sb_escape_proc'), ('memfd-exec', '/dev/input'), input=marker)
    assert_denied(result, 'memfd-exec')
    assert result.retcode != 77, 'marker program ran\n' + result.describe()


@pytest.mark.parametrize('how', ['ptrace-traceme', 'ptrace-attach', 'pidfd'])
def test_cant_trace_or_grab_processes(sb, run_sandboxed, decoy, how):
    result = run_sandboxed(sb('sb_escape_proc'), (how, str(decoy.pid)))
    assert_denied(result, how)
    assert decoy.poll() is None
    with open('/proc/%d/status' % decoy.pid) as f:
        assert 'TracerPid:\t0' in f.read(), 'decoy is being traced'


def test_cant_read_other_processes_memory(sb, run_sandboxed, token):
    secret = ('zc-memory-secret-' + token).encode()
    address = id(secret)  # CPython: the bytes object, its data 32 bytes in
    result = run_sandboxed(sb('sb_escape_proc'), ('vm-read', str(os.getpid()), hex(address)))
    assert_denied(result, 'vm-read')
    assert_nothing_leaked(result, secret)
    result = run_sandboxed(sb('sb_escape_fs'), ('read', '/proc/%d/mem' % os.getpid()))
    assert_denied(result, 'read')


@pytest.mark.parametrize('target, signal', [('decoy', '9'), ('decoy', '23'), ('-1', '23'),
                                            ('1', '23')])
def test_cant_signal_host_processes(sb, run_sandboxed, decoy, target, signal):
    """kill(decoy, SIGKILL|SIGURG), kill(-1, SIGURG), kill(1, SIGURG): the decoy neither dies
    nor receives anything (SIGURG, ignored by default, keeps a broken jail harmless to the
    machine's other processes)."""
    pid = str(decoy.pid) if target == 'decoy' else target
    result = run_sandboxed(sb('sb_escape_proc'), ('kill', pid, signal))
    assert result.report, result.describe()
    assert decoy.poll() is None, 'a jailed program killed a host process'
    assert not decoy.hit(), 'a jailed program signalled a host process'


def test_signal_detection_works_without_the_sandbox(sb, decoy):
    """Control for the signal tests: unjailed, kill(decoy, SIGURG) is seen by the decoy."""
    subprocess.run([sb('sb_escape_proc'), 'kill', str(decoy.pid), '23'], timeout=30,
                   capture_output=True, check=True)
    for _ in range(500):
        if decoy.hit():
            break
        time.sleep(0.01)
    assert decoy.hit()


def test_host_environment_is_not_visible(sb, run_sandboxed, token):
    env = dict(os.environ, ZC_HOST_SECRET=token)
    result = run_sandboxed(sb('sb_args'), popen_kwargs={'env': env})
    assert_status(result, 'ok')
    assert_nothing_leaked(result, token.encode())
    assert b'ZC_HOST_SECRET' not in result.stdout


@pytest.fixture
def controlling_pty():
    """A pty pair; the CLI will get the slave as stdin and controlling terminal."""
    master, slave = os.openpty()
    tty.setraw(slave)
    yield master, slave
    os.close(master)
    os.close(slave)


def pending_input(fd):
    """Bytes waiting to be read on a terminal (never blocks)."""
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    try:
        return os.read(fd, 4096)
    except OSError as exc:
        assert exc.errno == errno.EAGAIN
        return b''
    finally:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags)


def become_session_leader_with_terminal():
    """Run in the CLI process: make its stdin (the pty slave) its controlling terminal."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


@pytest.mark.parametrize('how', ['tiocsti', 'tiocsti-hi32', 'tty'])
def test_cant_reach_the_terminal(sb, run_sandboxed, controlling_pty, how):
    """`zerocloud run` from a shell: stdin, stdout and the controlling terminal are a tty, and
    the program tries to push characters into its input queue (TIOCSTI) or open /dev/tty."""
    master, slave = controlling_pty
    result = run_sandboxed(sb('sb_escape_proc'), (how,), cli_stdin=slave, cli_stdout=slave,
                           popen_kwargs={'preexec_fn': become_session_leader_with_terminal})
    result.stdout = pending_input(master)  # what the program wrote to the terminal
    assert_denied(result, how)
    assert pending_input(slave) == b'', 'characters were injected into the terminal'


def test_tiocsti_works_without_the_sandbox(sb, controlling_pty):
    """Control for the terminal test: unjailed, the same program injects into the pty."""
    master, slave = controlling_pty
    subprocess.run([sb('sb_escape_proc'), 'tiocsti'], stdin=slave, stdout=slave, timeout=30,
                   preexec_fn=become_session_leader_with_terminal)
    assert b'ESCAPED tiocsti' in pending_input(master)
    assert b'X' in pending_input(slave)


def test_argv_and_env_up_to_the_session_limit_arrive_intact(sb, run_sandboxed):
    """~125 KB of argv + env, just under the session's 131072 bytes (zerocloud.limits)."""
    args = tuple('%05d' % i + 'a' * 995 for i in range(64))            # 64,064 bytes
    env = {'ZC_BIG_%02d' % i: 'e' * 1000 for i in range(60)}            # 60,600 bytes
    result = run_sandboxed(sb('sb_args', 'musl'), args, env=env)
    assert_status(result, 'ok')
    argv_part, env_part = result.stdout.split(b'\x00::env::\x00', 1)
    assert tuple(a.decode() for a in argv_part.split(b'\x00')[1:]) == args
    assert {('%s=%s' % pair).encode() for pair in env.items()} <= \
        set(env_part.rstrip(b'\x00').split(b'\x00'))


def test_huge_argv_and_env_are_refused_before_anything_starts(sb, run_sandboxed, tmp_path):
    args = tuple('%05d' % i + 'a' * 1000 for i in range(600))  # ~600 KB of arguments
    env = {'ZC_BIG_%d' % i: 'e' * 1000 for i in range(300)}
    result = run_sandboxed(sb('sb_args', 'musl'), args, env=env)
    assert result.exit_code == 125 and result.report == {}, result.describe()
    assert b'Traceback' not in result.cli_stderr, result.describe()
    assert b'more than the 131072 allowed' in result.cli_stderr, result.describe()
    assert not (tmp_path / 'out-stdout').exists(), 'a channel was opened for a refused run'


@pytest.mark.parametrize('attack', ['read-secret', 'fork', 'tcp', 'mmap-rwx', 'int80-hidden'])
def test_attack_programs_work_without_the_sandbox(sb, secret_file, tcp_server, attack):
    """Control: every kind of attack used above really escapes when run unjailed."""
    server, port = tcp_server
    path, secret = secret_file
    command = {
        'read-secret': [sb('sb_escape_fs'), 'read', path],
        'fork': [sb('sb_escape_proc'), 'fork'],
        'tcp': [sb('sb_escape_kernel'), 'tcp', '127.0.0.1', str(port)],
        'mmap-rwx': [sb('sb_escape_mem'), 'mmap-rwx'],
        'int80-hidden': [sb('sb_int80_hidden')],
    }[attack]
    done = subprocess.run(command, capture_output=True, timeout=30)
    assert b'ESCAPED' in done.stdout, done
    if attack == 'read-secret':
        assert secret in done.stdout
    if attack == 'tcp':
        assert connections_received(server) == 1
