"""Pre-started Python (:mod:`zerocloud.sandbox.prestart`, :mod:`zerocloud.sandbox.stage`).

A pre-started session must look like a normal start of the same script (argv, environment,
``__main__``, flags, ``sys.path``, streams, modules, the jail around it), keep nothing of
another session, show nothing of the host, stop at its limits, and withstand every Python
escape: ``test_escape_python`` and the Python limit tests run here again, each session in a
pre-started interpreter (``zerocloud run --python-prestart``).  ``PRESTARTED`` in a
script's output is the evidence that it really ran in one (``json`` imported before the
script's first line).
"""
import json
import os
import threading
import time

import pytest

from tests.sandbox import runner
from tests.sandbox import test_escape_python as escapes
from tests.sandbox import test_limits as limits
from tests.sandbox.checks import assert_ran_ok
from zerocloud.sandbox import ChannelSpec, SessionSpec, SupervisorClient, start_supervisor
from zerocloud.sandbox.prestart import DEFAULT_IMPORTS, PrestartOptions

# Every Python escape test and the Python limit tests run again here, pre-started (the
# fixtures below replace conftest's run_python and run_sandboxed for them).
ATTEMPT = escapes.ATTEMPT
shared_object = escapes.shared_object
for _name in dir(escapes):
    if _name.startswith('test_python_'):
        globals()[_name] = getattr(escapes, _name)
for _name in ('test_python_memory_bomb_ends_with_memory_limit',
              'test_python_output_flood_stops_at_the_limit', 'test_python_cpu_loop_is_stopped'):
    globals()[_name] = getattr(limits, _name)

PRESTART = ('--python-prestart',)
EVIDENCE = "import sys\nprint('PRESTARTED', 'json' in sys.modules, flush=True)\n"


@pytest.fixture
def run_python(tmp_path):
    """``run_python`` of conftest, every session in a pre-started interpreter."""
    def run(code, args=(), extra_options=(), **kwargs):
        import textwrap
        script = textwrap.dedent(code) if isinstance(code, str) else code
        return runner.run_sandboxed(runner.PYTHON, ('/dev/script',) + tuple(args),
                                    workdir=tmp_path, script=script,
                                    extra_options=PRESTART + tuple(extra_options), **kwargs)
    return run


@pytest.fixture
def run_sandboxed(tmp_path):
    """``run_sandboxed`` of conftest, a python session in a pre-started interpreter."""
    return runner.sandboxed_in(tmp_path, PRESTART)


@pytest.fixture
def run_normal(tmp_path):
    """The same script started the normal way (no pre-start)."""
    def run(code, args=(), **kwargs):
        return runner.run_sandboxed(runner.PYTHON, ('/dev/script',) + tuple(args),
                                    workdir=tmp_path / 'normal', script=code, **kwargs)
    (tmp_path / 'normal').mkdir()
    return run


# What a script can see of its start: printed as JSON, compared between both starts.  It
# imports the configured modules first (a pre-started interpreter has them already).
OBSERVE = '''
import sys
prestarted = 'json' in sys.modules
frame_has_caller = sys._getframe(0).f_back is not None
import %s
import builtins, io, os, resource, signal
def stream(s):
    return [s.encoding, s.errors, s.line_buffering, s.write_through, s.seekable(),
            s.readable(), s.writable(), s.mode, s.buffer.raw.name, type(s.buffer).__name__,
            s.buffer.raw.closefd, s.newlines, s is getattr(sys, '__%%s__' %% s.name[1:-1])]
def open_fds():
    found = []
    for fd in range(64):
        try:
            os.fstat(fd)
            found.append(fd)
        except OSError:
            pass
    return found
seen = {
    'argv': sys.argv, 'orig_argv': sys.orig_argv, 'environ': list(os.environ.items()),
    'flags': list(sys.flags), 'path': sys.path, 'executable': sys.executable,
    'prefix': [sys.prefix, sys.exec_prefix, sys.base_prefix],
    'main': sorted((k, type(v).__name__, repr(v) if k not in ('__builtins__', '__loader__')
                    else '') for k, v in globals().items()
                   if k.startswith('__') and k != '__annotations__'),
    'name': __name__, 'file': __file__, 'loader': [type(__loader__).__name__,
                                                  __loader__.name, __loader__.path],
    'modules': sorted(sys.modules), 'streams': [stream(sys.stdin), stream(sys.stdout),
                                                stream(sys.stderr)],
    'stdin': sys.stdin.read(), 'cwd': os.getcwd(), 'pid': os.getpid(), 'ppid': os.getppid(),
    'fds': open_fds(), 'root': sorted(os.listdir('/')), 'dev': sorted(os.listdir('/dev')),
    'rlimits': [resource.getrlimit(getattr(resource, n)) for n in dir(resource)
                if n.startswith('RLIMIT_')],
    'sigmask': sorted(signal.pthread_sigmask(signal.SIG_BLOCK, [])),
    'handlers': [str(signal.getsignal(s)) for s in (signal.SIGINT, signal.SIGPIPE,
                                                     signal.SIGXFSZ, signal.SIGTERM)],
    'hash': hash('zerocloud'), 'bytecode': sys.dont_write_bytecode,
    'recursion': sys.getrecursionlimit(), 'importer_cache': sorted(sys.path_importer_cache),
    'builtins': sorted(dir(builtins)), 'os_attrs': sorted(dir(os)),
}
print(json.dumps(seen))
print('PRESTARTED', prestarted, frame_has_caller)
''' % ', '.join(DEFAULT_IMPORTS)


def observed(result):
    assert_ran_ok(result)
    lines = result.stdout.decode().splitlines()
    return json.loads(lines[0]), lines[1]


def test_prestarted_script_sees_a_normal_start(run_python, run_normal):
    options = dict(args=('one', 'two words', ''), stdin=b'input bytes\n',
                   env={'ZC_ONE': '1', 'HOME': '/nowhere', 'EMPTY': ''})
    normal, normal_evidence = observed(run_normal(OBSERVE, **options))
    pre, pre_evidence = observed(run_python(OBSERVE, **options))
    assert normal_evidence == 'PRESTARTED False False'
    assert pre_evidence == 'PRESTARTED True True'       # the stage's frames are callers
    assert pre['argv'] == ['/dev/script', 'one', 'two words', '']
    assert pre['environ'][:3] == [['ZC_ONE', '1'], ['HOME', '/nowhere'], ['EMPTY', '']]
    for key in normal:
        assert pre[key] == normal[key], key
    assert pre == normal


DEL_AT_EXIT = 'class C:\n    def __del__(self):\n        print("del at exit")\nc = C()\n'
CYCLE_COLLECTED = '''import gc
class C:
    def __del__(self):
        print('collected')
a = C()
a.self = a
del a
print(gc.collect() > 0, flush=True)
'''


def test_prestarted_script_errors_look_like_a_normal_start(run_python, run_normal):
    for code, retcode in (('import sys\nsys.exit(3)\n', 3),
                          ('x = 1\n\n1 / 0\n', 1),
                          ('def f():\n    raise KeyError("k")\nf()\n', 1),
                          ('raise SystemExit("bye")\n', 1),
                          ('print("no close paren"\n', 1),
                          ('import sys\nsys.stdout.write("unflushed")\n', 0),
                          ('import atexit\natexit.register(print, "at exit")\n', 0),
                          (DEL_AT_EXIT, 0), (CYCLE_COLLECTED, 0)):
        normal, pre = run_normal(code), run_python(code)
        assert_ran_ok(normal, retcode)
        assert_ran_ok(pre, retcode)
        assert (pre.stdout, pre.stderr) == (normal.stdout, normal.stderr), code


def test_the_pre_started_baseline_is_frozen_the_scripts_objects_are_not(run_python,
                                                                        run_normal):
    code = 'import gc\nprint(gc.get_freeze_count() > 1000)\n' + CYCLE_COLLECTED
    normal, pre = run_normal(code), run_python(code)
    assert_ran_ok(pre)
    assert normal.stdout == b'False\ncollected\nTrue\n'
    assert pre.stdout == b'True\ncollected\nTrue\n'


def test_prestarted_session_cant_reach_the_old_root_or_the_stage(run_python):
    result = run_python(EVIDENCE + ATTEMPT + '''
import os, sys
stage_file = sys._getframe(0).f_back.f_code.co_filename
print('STAGE FILE', stage_file)
attempt('stat /.old-root', lambda: os.stat('/.old-root'))
attempt('read the stage source', lambda: open(stage_file).read(10))
attempt('list the stage dir', lambda: os.listdir(os.path.dirname(stage_file)))
attempt('import zerocloud', lambda: __import__('zerocloud.sandbox.stage'))
attempt('launch fd', lambda: os.fstat(3))
print('ROOT', sorted(os.listdir('/')))
''')
    assert_ran_ok(result)
    assert b'PRESTARTED True' in result.stdout, result.describe()
    assert b'/.old-root/' in result.stdout, result.describe()   # the attack aims right
    assert result.stdout.count(b'DENIED') == 5, result.describe()
    assert b'ESCAPED' not in result.stdout, result.describe()
    assert b"'.old-root'" not in result.stdout, result.describe()


def test_prestarted_sessions_share_nothing(tmp_path):
    """Sessions through a supervisor keeping two pre-started jails: each marks every kind of
    state it can reach; none of the later ones sees a mark."""
    handle = start_supervisor(str(tmp_path / 'sandbox.sock'),
                              options=['--python-prestart', '2'])
    try:
        client = SupervisorClient(handle.socket_path)
        script = tmp_path / 'mark.py'
        script.write_text(EVIDENCE + MARK)
        seen = [_run_marking(client, script, tmp_path, n) for n in range(4)]
    finally:
        handle.stop()
    for number, output in enumerate(seen):
        assert 'PRESTARTED True' in output, output
        assert 'MARKS []' in output, (number, output)
        assert 'WROTE /tmp False' in output, output
    assert len({line for out in seen for line in out.splitlines()
                if line.startswith('RANDOM')}) == 4, seen


MARK = '''
import builtins, json, os, random, sys, __main__
marks = [name for name, found in (
    ('module attribute', getattr(json, 'zc_mark', None)),
    ('builtins', getattr(builtins, 'zc_mark', None)),
    ('sys', getattr(sys, 'zc_mark', None)),
    ('environment', os.environ.get('ZC_MARK')),
    ('sys.modules', sys.modules.get('zc_mark')),
    ('sys.path', '/zc-mark' in sys.path),
    ('main globals', globals().get('zc_mark')),
    ('main module', getattr(__main__, 'zc_global', None)),
    ('tmp file', os.path.exists('/tmp/zc-mark'))) if found]
print('MARKS', marks)
print('RANDOM', random.random())
json.zc_mark = builtins.zc_mark = sys.zc_mark = zc_mark = zc_global = 'marked'
os.environ['ZC_MARK'] = 'marked'
sys.modules['zc_mark'] = json
sys.path.append('/zc-mark')
try:
    open('/tmp/zc-mark', 'w').close()
    print('WROTE /tmp True')
except OSError:
    print('WROTE /tmp False')
'''


def _run_marking(client, script, tmp_path, number):
    """Run the marking script once a pre-started jail is ready (bounded wait)."""
    spec = SessionSpec(program='file://python:python', argv=['python', '/dev/script'],
                       channels=[ChannelSpec('script', 'r'), ChannelSpec('stdout', 'w')])
    deadline = time.monotonic() + 60
    while True:
        out_path = tmp_path / ('out-%d' % number)
        with open(script, 'rb') as source, open(out_path, 'wb') as out:
            report = client.run(spec, [source.fileno(), out.fileno()])
        assert report.ok, report
        output = out_path.read_text()
        if 'PRESTARTED True' in output or time.monotonic() > deadline:
            return output
        time.sleep(0.2)         # the pool was still refilling: a normal start ran


@pytest.mark.parametrize('env', [{'LANG': 'C.UTF-8'}, {'TZ': 'UTC'}, {'PATH': '/bin'},
                                 {'LD_PRELOAD': '/dev/x.so'}, {'LC_ALL': 'C'},
                                 {'OPENSSL_CONF': '/dev/null'}])
def test_sessions_whose_start_reads_the_environment_start_normally(run_python, env):
    result = run_python(EVIDENCE + 'import os\nprint(sorted(os.environ))\n', env=env)
    assert_ran_ok(result)
    assert b'PRESTARTED False' in result.stdout, result.describe()
    assert list(env)[0].encode() in result.stdout


@pytest.mark.parametrize('args', [('-c', 'print(1)'), ('-m', 'json.tool'), ('-O',)])
def test_interpreter_options_start_normally(run_sandboxed, args):
    result = run_sandboxed(runner.PYTHON, args, stdin=b'{}')
    assert result.status == 'ok', result.describe()


def test_prestarted_session_sees_the_script_as_given(run_python):
    result = run_python(EVIDENCE + 'print(open(__file__).read() == open("/dev/script").read())\n')
    assert_ran_ok(result)
    assert result.stdout.splitlines() == [b'PRESTARTED True', b'True'], result.describe()


@pytest.mark.parametrize('values, problem', [
    (('x',), 'zerovm_python_prestart must be a count'),
    (('-1',), 'zerovm_python_prestart must be 0..64'),
    (('2', 'json,os;rm'), "zerovm_python_preimports: 'os;rm' is not a module name"),
    (('2', '../evil'), 'is not a module name'),
    (('2', 'json,zerocloud'), "'zerocloud' is not a module of the python image"),
    (('2', 'pytest'), "'pytest' is not a module of the python image")])
def test_bad_prestart_options_are_refused_naming_the_option(values, problem):
    with pytest.raises(ValueError) as caught:
        PrestartOptions.parse(*values)
    assert problem in str(caught.value)


def test_prestart_options_parse():
    assert PrestartOptions.parse('0') == PrestartOptions(0, DEFAULT_IMPORTS)
    assert PrestartOptions.parse(' 3', ' json, os.path ,,json') == \
        PrestartOptions(3, ('json', 'os.path'))


def test_supervisor_refuses_bad_prestart_options(tmp_path):
    import subprocess
    import sys
    done = subprocess.run([sys.executable, '-m', 'zerocloud.sandbox.supervisor', '--socket',
                           str(tmp_path / 's'), '--python-prestart', '2',
                           '--python-preimports', 'json,bad-name'],
                          capture_output=True, timeout=60)
    assert done.returncode == 2
    assert b'zerovm_python_preimports' in done.stderr
    assert not os.path.exists(tmp_path / 's')


def test_object_server_options_reach_the_supervisor(tmp_path):
    """``zerovm_python_prestart``/``zerovm_python_preimports`` of the object server's config
    become the supervisor's options: its sessions run pre-started, with those imports."""
    from zerocloud.object_middleware.config import ObjectConfig
    config = ObjectConfig.from_conf({'zerovm_python_prestart': '1',
                                     'zerovm_python_preimports': 'json, csv'})
    assert (config.python_prestart, config.python_preimports) == (1, ('json', 'csv'))
    assert ObjectConfig.from_conf({}).python_prestart == 0
    with pytest.raises(ValueError) as caught:
        ObjectConfig.from_conf({'zerovm_python_prestart': 'many'})
    assert 'zerovm_python_prestart' in str(caught.value)
    handle = start_supervisor(str(tmp_path / 'sandbox.sock'),
                              options=config.supervisor_options())
    try:
        script = tmp_path / 'evidence.py'
        script.write_text(EVIDENCE + "print('CSV', 'csv' in sys.modules, 'heapq' in sys.modules)\n")
        output = _run_marking(SupervisorClient(handle.socket_path), script, tmp_path, 0)
    finally:
        handle.stop()
    assert output.splitlines() == ['PRESTARTED True', 'CSV True False'], output


def test_sessions_with_another_image_start_normally(run_python, tmp_path):
    """A normal start binds the python image over any other image: such sessions do not
    use a pre-started interpreter (whose python image was bound first)."""
    image = tmp_path / 'image'
    (image / 'data').mkdir(parents=True)
    (image / 'data' / 'hello.txt').write_text('from the image')
    result = run_python(EVIDENCE + 'print(open("/data/hello.txt").read())\n',
                        extra_options=('--image', str(image)))
    assert_ran_ok(result)
    assert result.stdout.splitlines() == [b'PRESTARTED False', b'from the image'], \
        result.describe()


def test_a_stage_that_fails_leaves_sessions_to_a_normal_start(tmp_path):
    """A pre-started jail whose stage died (an import list naming a submodule that does not
    exist) is discarded when taken: the session starts normally and runs."""
    handle = start_supervisor(str(tmp_path / 'sandbox.sock'), options=[
        '--python-prestart', '1', '--python-preimports', 'json.no_such_module'])
    try:
        time.sleep(3)       # the factory makes the jail and its stage fails meanwhile
        client = SupervisorClient(handle.socket_path)
        script = tmp_path / 'evidence.py'
        script.write_text(EVIDENCE)
        spec = SessionSpec(program='file://python:python', argv=['python', '/dev/script'],
                           channels=[ChannelSpec('script', 'r'), ChannelSpec('stdout', 'w')])
        for number in range(3):
            with open(script, 'rb') as source, open(tmp_path / 'out', 'wb') as out:
                report = client.run(spec, [source.fileno(), out.fileno()])
            assert report.ok, report
            assert (tmp_path / 'out').read_text() == 'PRESTARTED False\n'
    finally:
        handle.stop()


def test_pre_started_jails_are_refilled_only_once_the_sandbox_is_idle(tmp_path):
    """One pre-started jail.  While another session runs (a normal start: its ``TZ``), the
    first python session takes the pre-started jail and the next ones start normally (no
    refill competes with busy sessions); once nothing runs, the pool refills and a session
    is pre-started again."""
    handle = start_supervisor(str(tmp_path / 'sandbox.sock'), options=['--python-prestart', '1'])
    try:
        client = SupervisorClient(handle.socket_path)
        script = tmp_path / 'evidence.py'
        script.write_text(EVIDENCE)
        first = _run_marking(client, script, tmp_path, 0)   # waits for the pool to be ready
        assert 'PRESTARTED True' in first
        busy = tmp_path / 'busy.py'
        busy.write_text('import time\ntime.sleep(8)\n')
        spec = SessionSpec(program='file://python:python', argv=['python', '/dev/script'],
                           env=[('TZ', 'UTC')],
                           channels=[ChannelSpec('script', 'r'), ChannelSpec('stdout', 'w')])
        time.sleep(2)              # idle: the pool refills (~60 ms of CPU)
        with open(busy, 'rb') as source, open(tmp_path / 'busy.out', 'wb') as out:
            sleeper = threading.Thread(target=client.run, args=(spec, [source.fileno(),
                                                                      out.fileno()]))
            sleeper.start()
            time.sleep(0.5)        # the sleeper runs: the sandbox is busy from now on
            outputs = []
            for _ in range(3):     # a second apart: time enough for a refill, were one made
                outputs.append(_evidence(client, script, tmp_path))
                time.sleep(1)
            sleeper.join()
        assert outputs == ['PRESTARTED True\n'] + ['PRESTARTED False\n'] * 2, outputs
        assert 'PRESTARTED True' in _run_marking(client, script, tmp_path, 1)  # idle again
    finally:
        handle.stop()


def _evidence(client, script, tmp_path):
    """One run of the evidence script: its output."""
    spec = SessionSpec(program='file://python:python', argv=['python', '/dev/script'],
                       channels=[ChannelSpec('script', 'r'), ChannelSpec('stdout', 'w')])
    with open(script, 'rb') as source, open(tmp_path / 'evidence.out', 'wb') as out:
        report = client.run(spec, [source.fileno(), out.fileno()])
    assert report.ok, report
    return (tmp_path / 'evidence.out').read_text()
