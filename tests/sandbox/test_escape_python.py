"""Escape attempts by Python scripts on the python system image.

The interpreter is trusted code, the script is not: ``ctypes``, ``os`` and ``subprocess`` are
all available to it, so the kernel layers must hold.  Scripts print ``DENIED <what>`` when an
attempt raised, ``ESCAPED <what>`` when it worked.
"""
import os
import shutil
import socket
import subprocess
import sys

import pytest

from tests.sandbox.checks import (assert_denied, assert_nothing_leaked, assert_ran_ok,
                                  assert_status)

ATTEMPT = '''
import sys
def attempt(what, action):
    try:
        value = action()
    except BaseException as exc:
        print('DENIED', what, type(exc).__name__, exc, flush=True)
    else:
        print('ESCAPED', what, repr(value)[:300], flush=True)
'''


def test_python_cant_read_host_files(run_python, secret_file):
    path, secret = secret_file
    result = run_python(ATTEMPT + '''
for path in ['/etc/passwd', '/etc/shadow', %r, %r, '/dev/../etc/passwd']:
    attempt('read ' + path, lambda: open(path, 'rb').read())
''' % (path, os.path.abspath(__file__)))
    assert_ran_ok(result)
    assert result.stdout.count(b'DENIED read') == 5, result.describe()
    assert_nothing_leaked(result, secret, b'root:')


def test_python_cant_read_proc(run_python, decoy):
    result = run_python(ATTEMPT + '''
import os
attempt('listdir /proc', lambda: os.listdir('/proc'))
for path in ['/proc/self/environ', '/proc/self/maps', '/proc/1/mem', '/proc/%d/cmdline',
             '/sys/kernel/notes', '/proc/self/root/etc/passwd']:
    attempt('read ' + path, lambda: open(path, 'rb').read(100))
''' % decoy.pid)
    assert_denied(result)
    assert result.stdout.count(b'DENIED') == 7, result.describe()


def test_python_cant_see_the_host_tree(run_python, tmp_path, secret_file):
    path, _ = secret_file
    result = run_python(ATTEMPT + '''
import os
for place in ['/etc', '/home', '/proc', '/sys', '/tmp', '/var', '/work', %r]:
    attempt('listdir ' + place, lambda: os.listdir(place))
HOST_NAMES = {'passwd', 'shadow', '.ssh', '.bashrc', '.bash_history', 'host-secret.txt'}
suspicious = []
for root, dirs, files in os.walk('/'):
    for name in dirs + files:
        full = os.path.join(root, name)
        parts = full.split('/')
        inside_packages = any(p in ('site-packages', 'dist-packages') for p in parts[:-1])
        if inside_packages or name in HOST_NAMES or parts[1] in ('work', 'home', 'etc', 'tmp'):
            suspicious.append(full)
print('SUSPICIOUS', suspicious[:20])
''' % str(tmp_path))
    assert_ran_ok(result)
    assert result.stdout.count(b'DENIED listdir') == 8, result.describe()
    assert b'SUSPICIOUS []' in result.stdout, result.describe()


def test_python_cant_import_host_site_packages(run_python):
    result = run_python(ATTEMPT + '''
import importlib, os, sys
for name in ['zerocloud', 'pytest', 'swift', 'yaml', 'requests', 'capstone']:
    attempt('import ' + name, lambda: importlib.import_module(name))
visible = [p for p in sys.path if ('site-packages' in p or 'dist-packages' in p)
           and os.path.isdir(p)]
print('VISIBLE', visible)
''')
    assert_ran_ok(result)
    assert result.stdout.count(b'DENIED import') == 6, result.describe()
    assert b'VISIBLE []' in result.stdout, result.describe()


def test_python_cant_write_its_script_or_inputs(run_python, tmp_path):
    result = run_python(ATTEMPT + '''
for path in ['/dev/script', '/dev/input', '/dev/stdin']:
    attempt('write ' + path, lambda: open(path, 'ab').write(b'ESCAPED'))
''', input=b'input', stdin=b'stdin')
    assert_ran_ok(result)
    assert result.stdout.count(b'DENIED write') == 3, result.describe()
    assert (tmp_path / 'in-script').read_bytes().endswith(b"write(b'ESCAPED'))\n")
    assert (tmp_path / 'in-input').read_bytes() == b'input'
    assert (tmp_path / 'in-stdin').read_bytes() == b'stdin'


def test_python_cant_create_files(run_python, tmp_path, token):
    targets = ['/tmp/' + token, '/' + token, '/dev/' + token, str(tmp_path / token)]
    result = run_python(ATTEMPT + '''
import os
for path in %r:
    attempt('create ' + path, lambda: open(path, 'x').write('ESCAPED'))
    attempt('mkdir ' + path, lambda: os.mkdir(path + '.d'))
''' % targets)
    assert_denied(result, 'create')
    for target in targets:
        assert not os.path.lexists(target) and not os.path.lexists(target + '.d')


def test_python_cant_open_sockets(run_python, token):
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    server.listen(4)
    server.setblocking(False)
    with server:
        result = run_python(ATTEMPT + '''
import socket
attempt('tcp', lambda: socket.create_connection(('127.0.0.1', %d), timeout=2))
attempt('udp', lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', %d)))
attempt('unix', lambda: socket.socket(socket.AF_UNIX).connect('\\0%s'))
attempt('socketpair', lambda: socket.socketpair())
''' % (server.getsockname()[1], server.getsockname()[1], token))
        assert_denied(result, 'tcp')
        if result.status == 'ok':
            assert result.stdout.count(b'DENIED') == 4, result.describe()
        with pytest.raises(BlockingIOError):
            server.accept()


def test_python_cant_fork(run_python):
    result = run_python(ATTEMPT + '''
import os
attempt('fork', lambda: os.fork() or 'parent')
attempt('posix_spawn', lambda: os.posix_spawn('/bin/sh', ['sh', '-c', 'echo ESCAPED'], {}))
''')
    assert_denied(result, 'fork')
    if result.status == 'ok':
        assert result.stdout.count(b'DENIED') == 2, result.describe()


COMMANDS = {
    'subprocess': "subprocess.run(['/bin/sh', '-c', 'echo ESCAPED; touch MARKER'])",
    'system': "os.system('echo ESCAPED; touch MARKER') == 0 or fail('exit status != 0')",
    'execv': "os.execv('/bin/sh', ['sh', '-c', 'echo ESCAPED; touch MARKER'])",
    'subprocess-python': "subprocess.run([sys.executable, '-c', 'print(\"ESCAPED\")'])",
    'execv-python': "os.execv(sys.executable, ['python', '-c', 'print(\"ESCAPED\")'])",
    'popen': "os.popen('echo ESCAPED; touch MARKER').read() or fail('no output')",
}


@pytest.mark.parametrize('how', sorted(COMMANDS))
def test_python_cant_run_commands(run_python, token, how):
    """One attempt per session (a seccomp kill would hide the attempts after it); the
    interpreter itself is visible in the jail, so re-executing it is tried too."""
    marker = '/tmp/' + token
    result = run_python(ATTEMPT + """
import os, subprocess, sys
def fail(why):
    raise OSError(why)
attempt(%r, lambda: %s)
""" % (how, COMMANDS[how].replace('MARKER', marker)))
    assert_denied(result, how)
    assert b'ESCAPED' not in result.stdout + result.stderr
    assert not os.path.exists(marker)


def test_python_cant_map_rwx(run_python):
    result = run_python(ATTEMPT + '''
import mmap
attempt('mmap rwx', lambda: mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC))
''')
    assert_denied(result, 'mmap rwx')


def test_python_cant_run_machine_code_via_ctypes(run_python):
    """ctypes: write `mov eax, 1337; ret`, try mprotect/mmap to make it executable, call it."""
    result = run_python(ATTEMPT + '''
import ctypes, mmap
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
code = b'\\xb8\\x39\\x05\\x00\\x00\\xc3'
def make_executable():
    page = libc.mmap(None, 4096, 3, 0x22, -1, 0)
    if page in (None, 2**64 - 1):
        raise OSError(ctypes.get_errno(), 'mmap')
    ctypes.memmove(page, code, len(code))
    if libc.mprotect(ctypes.c_void_p(page), 4096, 5) != 0:
        page = libc.mmap(None, 4096, 7, 0x22, -1, 0)
        if page in (None, 2**64 - 1):
            raise OSError(ctypes.get_errno(), 'no executable memory')
        ctypes.memmove(page, code, len(code))
    return ctypes.CFUNCTYPE(ctypes.c_int)(page)()
attempt('ctypes code', make_executable)
''')
    assert_denied(result)
    assert b'1337' not in result.stdout


RAW_SYSCALLS = {
    'fork': '57',
    'mount': "165, b'none', b'/dev', b'tmpfs', 0, None",
    'unshare': '272, 0x10000000',
    'ptrace': '101, 0, 0, 0, 0',
    'setuid': '105, 12345',
    'socket': '41, 2, 1, 0',
}


@pytest.mark.parametrize('name', sorted(RAW_SYSCALLS))
def test_python_cant_make_raw_syscalls(run_python, name):
    """ctypes reaches syscall(2) directly, below every Python-level check."""
    result = run_python(ATTEMPT + """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
def raw(number, *args):
    rc = libc.syscall(number, *args)
    if rc < 0:
        raise OSError(ctypes.get_errno(), 'syscall %%d' %% number)
    return rc
attempt('raw %s', lambda: raw(%s))
""" % (name, RAW_SYSCALLS[name]))
    assert_denied(result, 'raw ' + name)
    assert b'child' not in result.stdout


@pytest.mark.parametrize('target', ['decoy-kill', 'decoy-urg', 'all-urg'])
def test_python_cant_signal_host_processes(run_python, decoy, target):
    pid, signal = {'decoy-kill': (decoy.pid, 'SIGKILL'), 'decoy-urg': (decoy.pid, 'SIGURG'),
                   'all-urg': (-1, 'SIGURG')}[target]
    result = run_python(ATTEMPT + """
import os, signal
attempt('kill', lambda: os.kill(%d, signal.%s))
""" % (pid, signal))
    assert result.report, result.describe()
    assert decoy.poll() is None, 'a jailed script killed a host process'
    assert not decoy.hit(), 'a jailed script signalled a host process'


def test_python_host_environment_is_not_visible(run_python, token):
    result = run_python('import os; print(sorted(os.environ))\n',
                        popen_kwargs={'env': dict(os.environ, ZC_HOST_SECRET=token)})
    assert_ran_ok(result)
    assert b'ZC_HOST_SECRET' not in result.stdout
    assert_nothing_leaked(result, token.encode())


def test_python_inherits_no_host_descriptors(run_python):
    """Every open descriptor is a channel: no directory or socket leads out of the jail."""
    result = run_python('''
import os, stat
kinds = {}
for fd in range(3, 4096):
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        continue
    kinds[fd] = 'dir' if stat.S_ISDIR(mode) else 'sock' if stat.S_ISSOCK(mode) else 'other'
print('DIRS', sorted(fd for fd, k in kinds.items() if k == 'dir'))
print('SOCKETS', sorted(fd for fd, k in kinds.items() if k == 'sock'))
print('COUNT', len(kinds))
''')
    assert_status(result, 'ok')
    assert b'DIRS []' in result.stdout, result.describe()
    assert b'SOCKETS []' in result.stdout, result.describe()


@pytest.fixture(scope='module')
def shared_object(tmp_path_factory):
    """tests/programs/sb_preload.c built as a shared object (constructor prints ESCAPED)."""
    gcc = shutil.which('gcc')
    assert gcc, 'gcc not found: install gcc (make deps)'
    source = os.path.join(os.path.dirname(__file__), '..', 'programs', 'sb_preload.c')
    target = tmp_path_factory.mktemp('so') / 'sb_preload.so'
    subprocess.run([gcc, '-shared', '-fPIC', '-nostdlib', '-O2', '-o', str(target), source],
                   check=True, timeout=60)
    return target


def test_python_cant_load_native_code_from_channels(run_python, shared_object):
    """ctypes.CDLL on a channel holding a shared object: user data must not become code."""
    result = run_python(ATTEMPT + """
import ctypes
payload = open('/dev/input', 'rb').read()
for path in ['/dev/output', '/dev/out/lib']:
    with open(path, 'wb') as f:
        f.write(payload)
for path in ['/dev/input', '/dev/in/lib', '/dev/output', '/dev/out/lib']:
    attempt('load ' + path, lambda: ctypes.CDLL(path).zc_probe())
""", input=shared_object, ins={'lib': shared_object}, output=True, outs=('lib',))
    assert_denied(result, 'load')
    if result.status == 'ok':
        assert result.stdout.count(b'DENIED load') == 4, result.describe()
    assert b'1337' not in result.stdout


def test_python_cant_preload_native_code(run_sandboxed, shared_object):
    result = run_sandboxed('file://python:python', ('-c', 'print("interpreter ran")'),
                           input=shared_object, env={'LD_PRELOAD': '/dev/input'})
    assert b'ESCAPED' not in result.stdout + result.stderr, result.describe()
    assert result.status in ('ok', 'seccomp', 'error'), result.describe()


def test_native_code_loads_without_the_sandbox(shared_object):
    """Control: the shared object really runs its constructor when loaded unjailed."""
    done = subprocess.run([sys.executable, '-c', 'import ctypes, sys; '
                           'print(ctypes.CDLL(sys.argv[1]).zc_probe())', str(shared_object)],
                          capture_output=True, timeout=30)
    assert done.stdout == b'ESCAPED native code from a channel ran\n1337\n'


def test_python_sets_flags_of_its_own_descriptors_but_no_other_ioctl(run_python):
    """FIONBIO/FIOCLEX/FIONCLEX (os.set_blocking, os.set_inheritable: what asyncio and
    selectors need) run; every other ioctl, even one carrying FIONBIO in its low 32 bits
    with high bits set, is ENOTTY."""
    result = run_python(ATTEMPT + '''
import ctypes, fcntl, os, termios
r = os.open('/dev/script', os.O_RDONLY)
os.set_blocking(r, False)
print('NONBLOCK', bool(fcntl.fcntl(r, fcntl.F_GETFL) & os.O_NONBLOCK), flush=True)
os.set_blocking(r, True)
print('BLOCK', not fcntl.fcntl(r, fcntl.F_GETFL) & os.O_NONBLOCK, flush=True)
os.set_inheritable(r, True)
print('INHERITABLE', os.get_inheritable(r), flush=True)
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_ulong, ctypes.c_void_p]
one = ctypes.c_int(1)
for name, request in [('fionbio-hi32', (1 << 32) | termios.FIONBIO),
                      ('tiocsti', termios.TIOCSTI), ('fionread', termios.FIONREAD),
                      ('fioasync', termios.FIOASYNC), ('tcgets', termios.TCGETS)]:
    rc = libc.syscall(16, r, request, ctypes.addressof(one))
    print('IOCTL', name, rc, ctypes.get_errno(), flush=True)
''')
    assert_ran_ok(result)
    out = result.stdout.decode()
    assert 'NONBLOCK True' in out and 'BLOCK True' in out and 'INHERITABLE True' in out, \
        result.describe()
    for name in ('fionbio-hi32', 'tiocsti', 'fionread', 'fioasync', 'tcgets'):
        assert 'IOCTL %s -1 25' % name in out, result.describe()
