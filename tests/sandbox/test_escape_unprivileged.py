"""The escape suite again, with the sandbox run by an ordinary user (issue 14).

Every escape test of ``test_escape_c``, ``test_escape_c_kernel`` and ``test_escape_python``
that runs a program in the sandbox is collected here a second time, with ``zerocloud run``
started as ``nobody`` (:mod:`tests.sandbox.unprivileged`): no capability, so the jail is
built in user namespaces only (the rootless design of :mod:`zerocloud.sandbox.isolation`).
The fixtures they use are replaced so that the attacks aim at what such a jail could reach
through its uid, not at what file permissions already protect:

- ``tmp_path`` is a directory owned by ``nobody``, and every file in it (inputs, secrets,
  read-only channels, scripts) is handed to ``nobody`` before each run: the jailed program
  runs with the owner's uid outside, so only the sandbox keeps it from them;
- ``decoy`` (the process that traps, signal and /proc attacks aim at) runs as ``nobody``
  too, like the supervisor and the object server of a real deployment.

Tests added here: the jail really runs as that uid outside, and the memory of a process of
that same uid cannot be read.
"""
import inspect
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap
import time

import pytest

from tests.sandbox import conftest as sandbox_fixtures
from tests.sandbox import runner, unprivileged
from tests.sandbox import test_escape_c, test_escape_c_kernel, test_escape_python
from tests.sandbox.checks import assert_denied, assert_nothing_leaked, processes_with

SANDBOX_FIXTURES = {'run_sandboxed', 'run_python'}


def _sandbox_tests(modules):
    """The test functions of ``modules`` that run a program in the sandbox."""
    return {name: value for module in modules for name, value in vars(module).items()
            if name.startswith('test_') and callable(value)
            and SANDBOX_FIXTURES & set(inspect.signature(value).parameters)}


globals().update(_sandbox_tests((test_escape_c, test_escape_c_kernel, test_escape_python)))
tcp_server = test_escape_c.tcp_server              # fixtures those tests use, as they are
controlling_pty = test_escape_c.controlling_pty


@pytest.fixture
def tmp_path():
    """A directory owned by the unprivileged user (replaces pytest's)."""
    path = unprivileged.workdir()
    yield pathlib.Path(path)
    unprivileged.remove(path)


def _run_as_user(workdir, program, args, kwargs):
    unprivileged.hand_over(workdir)
    popen = dict(kwargs.pop('popen_kwargs', None) or {}, **unprivileged.as_user(workdir))
    return runner.run_sandboxed(program, args, workdir=workdir, popen_kwargs=popen, **kwargs)


@pytest.fixture
def run_sandboxed(tmp_path):
    """``run_sandboxed(program, args=(), **kw)`` with ``zerocloud run`` run as nobody."""
    def run(program, args=(), **kwargs):
        return _run_as_user(tmp_path, program, args, kwargs)
    return run


@pytest.fixture
def run_python(tmp_path):
    """``run_python(code, args=(), **kw)``: ``code`` as /dev/script, run by nobody."""
    def run(code, args=(), **kwargs):
        script = textwrap.dedent(code) if isinstance(code, str) else code
        return _run_as_user(tmp_path, runner.PYTHON, ('/dev/script',) + tuple(args),
                            dict(kwargs, script=script))
    return run


@pytest.fixture
def decoy(tmp_path):
    """The host process the attacks aim at, run as nobody (the jail's uid outside)."""
    marker = tmp_path / 'decoy-signalled'
    process = subprocess.Popen([sys.executable, '-c', sandbox_fixtures.DECOY_CODE,
                                str(marker)], **unprivileged.as_user(tmp_path))
    ready = tmp_path / 'decoy-signalled.ready'
    for _ in range(3000):
        if ready.exists() or process.poll() is not None:
            break
        time.sleep(0.01)
    assert ready.exists(), 'decoy did not start'
    process.hit = marker.exists
    yield process
    process.kill()
    process.wait()


def _exec_done(pid):
    """True when ``pid`` runs the jailed interpreter (not the CLI or a clone of it)."""
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return b'zerocloud' not in f.read()
    except OSError:
        return False


MEMORY_HOLDER = '''
import sys, time
secret = ("zc-memory-secret-" + sys.argv[1]).encode()
print(hex(id(secret)), flush=True)
time.sleep(300)
'''


@pytest.fixture(scope='module')
def shared_object():
    """tests/programs/sb_preload.c as a shared object the unprivileged user can read."""
    gcc = shutil.which('gcc')
    assert gcc, 'gcc not found: install gcc (make deps)'
    directory = unprivileged.workdir()
    target = os.path.join(directory, 'sb_preload.so')
    subprocess.run([gcc, '-shared', '-fPIC', '-nostdlib', '-O2', '-o', target,
                    os.path.join(os.path.dirname(__file__), '..', 'programs', 'sb_preload.c')],
                   check=True, timeout=60)
    yield pathlib.Path(target)
    unprivileged.remove(directory)


def test_the_jail_runs_as_the_unprivileged_user_outside(tmp_path, token):
    """Seen from the host, the jailed program's process belongs to nobody (real, effective,
    saved and file-system uid and gid)."""
    paths = {'stdin': None, 'input': None, 'output': None, 'stdout': None,
             'stderr': str(tmp_path / 'err'), 'ins': {}, 'outs': {},
             'script': str(tmp_path / 'script.py'), 'report': str(tmp_path / 'report.json')}
    with open(paths['script'], 'w') as f:
        f.write('import time\ntime.sleep(60)\n')
    unprivileged.hand_over(str(tmp_path))
    command = runner.build_command(runner.PYTHON, ('/dev/script', token), paths, None, 60,
                                   None, None, ())
    cli = subprocess.Popen(command, cwd=tmp_path, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, **unprivileged.as_user(tmp_path))
    try:
        jailed = []
        for _ in range(3000):
            jailed = [pid for pid in processes_with(token.encode()) if _exec_done(pid)]
            if jailed or cli.poll() is not None:
                break
            time.sleep(0.01)
        assert len(jailed) == 1, 'the jailed program was not found'
        with open('/proc/%d/status' % jailed[0]) as f:
            ids = {line.split(':')[0]: line.split()[1:] for line in f if line[:3] in ('Uid', 'Gid')}
        assert ids == {'Uid': [str(unprivileged.UID)] * 4, 'Gid': [str(unprivileged.GID)] * 4}
    finally:
        cli.kill()
        cli.wait()


def test_cant_read_memory_of_processes_of_its_own_uid(sb, run_sandboxed, tmp_path, token):
    """process_vm_readv and /proc/PID/mem against a process of the jail's own uid outside
    (the supervisor and the object server are such processes)."""
    holder = subprocess.Popen([sys.executable, '-c', MEMORY_HOLDER, token],
                              stdout=subprocess.PIPE, **unprivileged.as_user(tmp_path))
    try:
        address = int(holder.stdout.readline(), 16)
        secret = ('zc-memory-secret-' + token).encode()
        result = run_sandboxed(sb('sb_escape_proc'), ('vm-read', str(holder.pid), hex(address)))
        assert_denied(result, 'vm-read')
        assert_nothing_leaked(result, secret)
        result = run_sandboxed(sb('sb_escape_fs'), ('read', '/proc/%d/mem' % holder.pid))
        assert_denied(result, 'read')
    finally:
        holder.kill()
        holder.wait()


def test_the_attacks_aim_at_files_the_user_owns(tmp_path, secret_file):
    """Control: the secret the escape tests look for is readable by nobody unjailed, so a
    green run means the sandbox, not a file permission, kept it out."""
    unprivileged.hand_over(str(tmp_path))
    path, secret = secret_file
    done = subprocess.run([sys.executable, '-c', 'import sys; print(open(sys.argv[1]).read())',
                           path], capture_output=True, timeout=30,
                          **unprivileged.as_user(tmp_path))
    assert done.returncode == 0 and secret in done.stdout, done

