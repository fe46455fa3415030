"""The compiled jail launcher (:mod:`zerocloud.sandbox.launcher`, ``launcher.c``).

Every other sandbox test runs through the launcher: ``make venv`` builds it, and the first
test here fails when it is not built or not used.  Here besides:

- the C escape tests run again with the Python stage (``zerocloud run
  --python-jail-stage``), the fallback where the launcher cannot be built;
- a session sees the same jail from both stages (its files and their mount flags,
  descriptors, rlimits, signals, ids, argv, environment);
- plans that are malformed, or that name a path which is not the descriptor's file, fail
  closed in a real warm jail with a message that says why, and run nothing.
"""
import json
import os
import re
import subprocess

import pytest

from tests.sandbox import runner
from tests.sandbox import test_escape_c as escapes
from tests.sandbox import test_escape_c_kernel as kernel_escapes
from tests.sandbox.test_supervisor import children_named, wait_for
from zerocloud.sandbox import factory, fdpass, jail, launcher, linux, warm
from zerocloud.sandbox import ChannelSpec, SessionSpec, SupervisorClient
from zerocloud.sandbox.client import start_supervisor
from zerocloud.sandbox.isolation import recorded

# The C escape tests run again here, every session set up by the Python stage.
for _module in (escapes, kernel_escapes):
    for _name in dir(_module):
        if _name.startswith('test_') or _name in ('tcp_server', 'controlling_pty'):
            globals()[_name] = getattr(_module, _name)

PYTHON_STAGE = ('--python-jail-stage',)


@pytest.fixture
def run_sandboxed(tmp_path):
    """``run_sandboxed`` of conftest, the jail set up by the Python stage."""
    return runner.sandboxed_in(tmp_path, PYTHON_STAGE)


def test_the_compiled_launcher_is_built_and_used(tmp_path):
    found = launcher.locate(build_missing=False)
    assert found.path is not None, found.description
    assert found.description == 'jail launcher: compiled'
    handle = start_supervisor(str(tmp_path / 'sup.sock'))
    try:
        assert recorded(handle.socket_path).endswith('; jail launcher: compiled')
        named = children_named(handle.pid)      # (the factory makes the pool's jails)
        assert wait_for(lambda: len(named('zc-warm')) == warm.POOL_SIZE, 30)
        assert not [pid for pid in named('zc-warm') if _exe_is_python(pid)], \
            'a jail waits in Python'
    finally:
        handle.stop()


def test_a_supervisor_can_be_asked_for_the_python_stage(tmp_path, sb):
    handle = start_supervisor(str(tmp_path / 'sup.sock'), options=['--python-jail-stage'])
    try:
        assert recorded(handle.socket_path).endswith('; jail launcher: python (asked for)')
        out = os.open(tmp_path / 'out', os.O_WRONLY | os.O_CREAT)   # (offset shared)
        spec = SessionSpec(program=sb('hello', libc='musl'), argv=['hello'],
                           channels=[ChannelSpec('stdout', 'w', 'file')])
        try:
            for _ in range(3):           # (a pool jail after the first, made by the factory)
                report = SupervisorClient(handle.socket_path).run(spec, [out])
                assert report.ok, report
        finally:
            os.close(out)
        assert (tmp_path / 'out').read_bytes() == b'hello, world\n' * 3
        named = children_named(handle.pid)      # (the pool is refilled once idle)
        assert wait_for(lambda: [pid for pid in named('zc-warm') if _exe_is_python(pid)],
                        30), 'no warm jail waits in Python'
    finally:
        handle.stop()


def _exe_is_python(pid):
    """A jail waiting in the Python stage still runs the interpreter (the launcher is
    ~60 KB resident: the stage's interpreter is megabytes)."""
    try:
        with open('/proc/%d/status' % pid) as f:
            rss = [int(line.split()[1]) for line in f if line.startswith('VmRSS:')]
    except OSError:
        return False
    return bool(rss) and rss[0] > 1024


JAIL_VIEW = r'''
import json, os, resource, signal, socket, stat, sys
def tree():
    for top, dirs, files in os.walk('/'):
        for name in sorted(dirs + files):
            path = os.path.join(top, name)
            access = ''.join(c for c, m in (('r', os.R_OK), ('w', os.W_OK), ('x', os.X_OK))
                             if os.access(path, m))   # (w: mounted read-only, x: noexec)
            yield '%s %o %s' % (path, os.lstat(path).st_mode, access)
def fds():
    for fd in range(64):
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        yield '%d %o %d' % (fd, st.st_mode, os.get_inheritable(fd))
limits = [resource.getrlimit(getattr(resource, n)) for n in sorted(dir(resource))
          if n.startswith('RLIMIT_')]
print(json.dumps({'tree': list(tree()), 'fds': list(fds()), 'limits': limits,
                  'blocked': sorted(signal.pthread_sigmask(signal.SIG_BLOCK, [])),
                  'handlers': [str(signal.getsignal(s)) for s in sorted(signal.valid_signals())
                               if s not in (signal.SIGKILL, signal.SIGSTOP)],
                  'ids': [os.getuid(), os.getgid(), os.geteuid()],
                  'argv': sys.argv, 'env': dict(os.environ), 'cwd': os.getcwd(),
                  'host': socket.gethostname(), 'pid': os.getpid()},
                 indent=1))
'''


def test_a_session_sees_the_same_jail_from_both_stages(run_python):
    views = []
    for options in ((), PYTHON_STAGE):
        result = run_python(JAIL_VIEW, args=('one', 'two'), stdin=b'in', input=b'x',
                            ins={'a': b'a'}, outs=('b',), env={'K': 'V'},
                            extra_options=options)
        assert result.report['status'] == 'ok', (result.report, result.stderr)
        views.append(json.loads(result.stdout or result.stderr))
    compiled, python = views
    assert compiled == python
    assert compiled['pid'] == 1 and compiled['argv'] == ['/dev/script', 'one', 'two']
    files = {line.rsplit(' ', 2)[0]: line.rsplit(' ', 2)[1:] for line in compiled['tree']}
    assert files['/dev/in/a'][1] == 'r' and files['/dev/out/b'][1] == 'rw', files


def _fail_with(body, fds=()):
    """Give ``body`` as the plan (with ``fds``) to a fresh warm jail waiting in the
    launcher; return ``(its status pipe's text, its exit code)``."""
    path = _built()
    ready = factory.one_jail(linux.Syscalls(), path)
    try:
        try:
            fdpass.send_with_fds(ready.control, len(body).to_bytes(jail.PLAN_HEADER_BYTES,
                                                                   'big') + body, list(fds))
        except OSError:
            pass                    # (it may have refused before reading everything)
        ready.control.close()
        said = b''
        while True:
            chunk = os.read(ready.from_child, 4096)
            if not chunk:
                break
            said += chunk
        _pid, status = os.waitpid(ready.pid, 0)
    finally:
        for fd in (ready.pidfd, ready.to_child, ready.from_child):
            os.close(fd)
    return said.decode(errors='replace'), os.waitstatus_to_exitcode(status)


def _plan(binds=(), exec_fd=None, **changes):
    fields = dict(binds=tuple(binds), fifos=(), symlinks=(), masks=(), std_opens=(),
                  exec_fd=exec_fd, argv=('prog',), env=(), bpf=b'\0' * 8, rlimits=(),
                  outside_uid=0, outside_gid=0, from_parent=4, to_parent=5)
    fields.update(changes)
    return jail.JailPlan(**fields)


@pytest.fixture
def host_file(tmp_path):
    path = tmp_path / 'channel'
    path.write_bytes(b'data')
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    yield str(path), fd
    os.close(fd)


def _encoded(plan):
    numbers = launcher.plan_fds(plan)
    return launcher.encode_plan(plan, numbers), numbers


@pytest.mark.parametrize('damage, expected', [
    (lambda body: b'XXXX' + body[4:], 'not a launcher plan'),
    (lambda body: body[:len(body) // 2], 'truncated'),
    (lambda body: body[:4] + (7).to_bytes(4, 'little') + body[8:], 'did not arrive'),
    (lambda body: body[:8] + (9).to_bytes(4, 'little') + body[12:], 'names descriptor 9'),
    (lambda body: body[:12] + (1 << 30).to_bytes(4, 'little') + body[16:], 'announces'),
    (lambda body: body + b'more', 'malformed'),
])
def test_a_malformed_plan_fails_closed(host_file, damage, expected):
    path, fd = host_file
    body, numbers = _encoded(_plan(exec_fd=fd))
    said, code = _fail_with(damage(body), [fd] * len(numbers))
    assert code == jail.EXIT_JAIL_FAILED
    assert said.startswith('E') and expected in said, said


def test_a_string_holding_nul_is_refused(host_file):
    path, fd = host_file
    bind = jail.Bind(fd, path + '\0/etc/shadow', '/dev/stdin', False, linux.MOUNT_ATTR_RDONLY)
    plan = _plan([bind], exec_fd=fd)
    numbers = launcher.plan_fds(plan)
    said, code = _fail_with(launcher.encode_plan(plan, numbers), [fd] * len(numbers))
    assert code == jail.EXIT_JAIL_FAILED and 'holds NUL' in said, said


@pytest.mark.parametrize('source', ['other', 'link', 'dotdot'])
def test_a_bind_path_that_is_not_the_descriptors_file_is_refused(tmp_path, host_file, source):
    path, fd = host_file
    other = tmp_path / 'other'
    other.write_bytes(b'secret')
    os.symlink(path, tmp_path / 'link')
    sources = {'other': str(other), 'link': str(tmp_path / 'link'),
               'dotdot': '/../../' + path}
    bind = jail.Bind(fd, sources[source], '/dev/stdin', False, linux.MOUNT_ATTR_RDONLY)
    plan = _plan([bind], exec_fd=fd)
    body, numbers = _encoded(plan)
    said, code = _fail_with(body, [fd] * len(numbers))
    assert code == jail.EXIT_JAIL_FAILED
    assert re.search(r'cannot bind .* for /dev/stdin', said), said
    if source == 'other':
        assert 'no longer leads to the file the supervisor holds' in said, said


def test_the_launcher_is_not_a_command(tmp_path):
    """Run by hand it refuses to touch anything, even with the old warm-jail arguments and
    descriptors (its warm-jail code runs only in a clone its factory made: pid 1 of a new
    pid namespace; anywhere else it would mount and pivot the host's namespace), and its
    factory mode refuses without its socket or its parent."""
    path = _built()
    done = subprocess.run([path], capture_output=True)
    assert done.returncode == 2 and b'not a command' in done.stderr
    done = subprocess.run(['bash', '-c', 'exec 3</dev/null 4</dev/null 5>/dev/null; '
                           'exec "$0" warm', path], capture_output=True, cwd=tmp_path)
    assert done.returncode == 2 and b'not a command' in done.stderr
    assert subprocess.run([path, '--version'], capture_output=True).stdout == \
        launcher.VERSION_ANSWER
    done = subprocess.run([path, 'factory', '0', str(os.getpid())], capture_output=True,
                          stdin=subprocess.DEVNULL)     # (fd 0: not a socket)
    assert done.returncode == 2 and b'not a command' in done.stderr
    done = subprocess.run([path, 'factory', '0', '1'], capture_output=True)
    assert done.returncode == 1                         # (not its parent: it is gone)


def _built():
    """The compiled launcher's path (these tests fail when it is not built)."""
    found = launcher.locate(build_missing=False)
    assert found.path is not None, found.description
    return found.path


def _comm(pid):
    with open('/proc/%d/comm' % pid) as f:
        return f.read().strip()


def test_a_jail_for_a_process_without_a_pool_comes_from_a_factory_started_for_it():
    """``zerocloud run`` and a supervisor whose factory died: one factory per jail; the jail
    is our child (CLONE_PARENT), holds only fds 0-5, runs the launcher without an exec of
    ours, and the factory is gone once it handed the jail over."""
    path = _built()
    ready = factory.one_jail(linux.Syscalls(), path)
    try:
        assert ready.launched
        assert wait_for(lambda: _comm(ready.pid) == jail.JAIL_NAME), _comm(ready.pid)
        with open('/proc/%d/stat' % ready.pid) as f:
            assert int(f.read().rsplit(')', 1)[1].split()[1]) == os.getpid()
        assert os.readlink('/proc/%d/exe' % ready.pid) == path
        assert wait_for(lambda: sorted(map(int, os.listdir('/proc/%d/fd' % ready.pid))) ==
                        [0, 1, 2, 3, 4, 5])
        assert not children_named(os.getpid())(factory.FACTORY_NAME)
    finally:
        ready.discard()


def test_a_pool_waits_for_its_factory_when_it_is_empty():
    """Sessions that outrun the pool get jails the factory makes for them (``J``, named
    zc-jail); pool jails that arrive meanwhile join the pool, and are taken next."""
    path = _built()
    pool = warm.WarmPool(linux.Syscalls(), size=2, launcher_path=path)
    taken = []
    try:
        pool.refill()                   # (asks for 2 pool jails: they come first)
        taken = [pool.take() for _ in range(4)]     # (before the pool collected any)
        assert all(ready.launched for ready in taken)
        names = lambda: [_comm(ready.pid) for ready in taken]   # noqa: E731
        assert wait_for(lambda: names() == [jail.JAIL_NAME, jail.WARM_NAME, jail.WARM_NAME,
                                            jail.JAIL_NAME]), names()
        assert not pool.ready[warm.KIND_WARM]
    finally:
        for ready in taken:
            ready.discard()
        pool.close()


def test_a_busy_pool_is_refilled_in_batches_and_an_idle_one_to_full():
    """After a reply the warm pool asks its factory for jails only once half of it is
    used (then for all it misses); when idle, for all it misses."""
    import select
    pool = warm.WarmPool(linux.Syscalls(), size=4, launcher_path=_built())
    [made] = set(pool.factories.values())
    taken = []
    try:
        def collect_all():
            while made.pending[warm.KIND_WARM]:
                assert select.select([made.fileno()], [], [], 30)[0]
                pool.collect(made.fileno())
        pool.refill()
        collect_all()
        assert len(pool.ready[warm.KIND_WARM]) == 4
        taken.append(pool.take())
        pool.refill(idle=False)                 # 3 of 4 left: nothing asked
        assert made.pending[warm.KIND_WARM] == 0
        taken.append(pool.take())
        pool.refill(idle=False)                 # 2 of 4: both missing asked at once
        assert made.pending[warm.KIND_WARM] == 2
        collect_all()
        taken.append(pool.take())
        pool.refill()                           # idle: to full
        assert made.pending[warm.KIND_WARM] == 1
        collect_all()
        assert len(pool.ready[warm.KIND_WARM]) == 4
    finally:
        for ready in taken:
            ready.discard()
        pool.close()


def test_collecting_after_a_session_took_what_was_there_does_not_block():
    """The event loop saw the factory's socket readable, then a session that waited for
    its jail read everything: the collect that follows finds nothing and returns (it hung
    the supervisor once: 2,500 sessions stalled)."""
    import select
    import threading
    path = _built()
    pool = warm.WarmPool(linux.Syscalls(), size=2, launcher_path=path)
    try:
        pool.refill()
        [fd] = pool.filenos()
        assert select.select([fd], [], [], 30)[0]       # (a pool jail is there)
        taken = pool.take()                             # (waits: reads W, W, then J)
        collector = threading.Thread(target=pool.collect, args=(fd,), daemon=True)
        collector.start()
        collector.join(30)
        assert not collector.is_alive(), 'collect blocked on an empty socket'
        assert len(pool.ready[warm.KIND_WARM]) == 2 and pool.filenos() == [fd]
        taken.discard()
    finally:
        pool.close()


def test_the_factory_stops_at_a_request_it_does_not_know():
    made = factory.JailFactory(linux.Syscalls(), launcher_path=_built())
    try:
        made.conn.sendall(warm.KIND_PYTHON)         # (pre-started jails: the Python factory)
        assert made.process.wait(timeout=30) == 1
        with pytest.raises(OSError):
            made.receive(5)
    finally:
        made.close()
