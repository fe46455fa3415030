"""Positive runs: real programs in the real jail carry exact bytes through every channel kind.

Static C programs (glibc and musl builds) and Python scripts on the python system image, all
run through ``zerocloud run`` as a user would.
"""
import hashlib
import json
import os
import threading
from pathlib import Path

import pytest

from tests.sandbox.checks import assert_ran_ok, assert_status
from tests.sandbox.runner import PYTHON

LIBCS = ('glibc', 'musl')
SCRIPTS = os.path.join(os.path.dirname(__file__), 'scripts')
ALL_BYTES = bytes(range(256)) * 64


def script(name):
    """The bytes of a test script in tests/sandbox/scripts/."""
    with open(os.path.join(SCRIPTS, name), 'rb') as f:
        return f.read()


@pytest.mark.parametrize('libc', LIBCS)
def test_stdin_reaches_stdout_byte_for_byte(sb, run_sandboxed, libc):
    result = run_sandboxed(sb('sb_cat', libc), stdin=ALL_BYTES + b'\r\n\x00end')
    assert_ran_ok(result)
    assert result.stdout == ALL_BYTES + b'\r\n\x00end'


def test_large_stdin_arrives_intact(sb, run_sandboxed, tmp_path):
    data = os.urandom(1 << 20) * 50  # 50 MiB
    source = tmp_path / 'large.bin'
    source.write_bytes(data)
    result = run_sandboxed(sb('sb_cat'), stdin=source, timeout=60)
    assert_ran_ok(result)
    assert len(result.stdout) == len(data)
    assert hashlib.sha256(result.stdout).digest() == hashlib.sha256(data).digest()


@pytest.mark.parametrize('libc', LIBCS)
def test_input_channel_copies_to_output_channel(sb, run_sandboxed, libc):
    data = os.urandom(300000)
    result = run_sandboxed(sb('sb_cat', libc), ('-o', '/dev/output', '/dev/input'),
                           input=data, output=True)
    assert_ran_ok(result)
    assert result.output == data
    assert result.stdout == b''


@pytest.mark.parametrize('libc', LIBCS)
def test_named_in_and_out_channels(sb, run_sandboxed, libc):
    result = run_sandboxed(sb('sb_cat', libc), ('-o', '/dev/out/joined', '/dev/in/a', '/dev/in/b'),
                           ins={'a': b'first part\n', 'b': b'\x00second\xff'}, outs=('joined',))
    assert_ran_ok(result)
    assert result.outs['joined'] == b'first part\n\x00second\xff'


def test_stderr_channel(sb, run_sandboxed):
    result = run_sandboxed(sb('sb_cat'), ('-o', '/dev/stderr'), stdin=b'to stderr\n')
    assert_ran_ok(result)
    assert result.stderr == b'to stderr\n'
    assert result.stdout == b''


@pytest.mark.parametrize('libc', LIBCS)
def test_output_channel_is_random_access(sb, run_sandboxed, libc):
    result = run_sandboxed(sb('sb_pwrite', libc), output=True)
    assert_ran_ok(result)
    assert result.stdout == b'done\n'
    assert result.output == b'Hello,World' + b'\x00' * 89 + b'end'


@pytest.mark.parametrize('libc', LIBCS)
def test_args_and_env_arrive(sb, run_sandboxed, libc):
    args = ('plain', 'with space', '', '--flag=1', 'ünïcödé', '$HOME', '*')
    result = run_sandboxed(sb('sb_args', libc), args,
                           env={'ZC_ONE': '1', 'ZC_TWO': 'two words', 'ZC_EQ': 'a=b'})
    assert_ran_ok(result)
    argv_part, env_part = result.stdout.split(b'\x00::env::\x00', 1)
    argv = argv_part.split(b'\x00')
    assert [a.decode() for a in argv[1:]] == list(args)
    env = env_part.rstrip(b'\x00').split(b'\x00')
    assert {b'ZC_ONE=1', b'ZC_TWO=two words', b'ZC_EQ=a=b'} <= set(env)


def test_env_file_and_env_options_arrive(sb, run_sandboxed, tmp_path):
    env_file = tmp_path / 'vars.env'
    env_file.write_text('# comment\n\nZC_FILE=from file\nZC_BOTH=file\nZC_RAW="q" #x=1\n')
    result = run_sandboxed(sb('sb_args', 'musl'), (), env={'ZC_BOTH': 'option'},
                           extra_options=('--env-file', str(env_file)))
    assert_ran_ok(result)
    env = result.stdout.split(b'\x00::env::\x00', 1)[1].rstrip(b'\x00').split(b'\x00')
    assert sorted(e for e in env if e.startswith(b'ZC_')) == [
        b'ZC_BOTH=option', b'ZC_FILE=from file', b'ZC_RAW="q" #x=1']


def test_stdout_to_dev_null_and_stdin_from_dev_zero(sb, run_sandboxed):
    """Client fds epoll cannot watch (always ready) are pumped too: ``> /dev/null`` used to
    end in a supervisor error."""
    with open(os.devnull, 'wb') as devnull:
        result = run_sandboxed(sb('sb_cat', 'musl'), (), stdin=Path('/dev/zero'),
                               extra_options=('--max-input', '65536'),
                               cli_stdout=devnull.fileno())
    assert_status(result, 'input-limit')
    assert b'Traceback' not in result.cli_stderr, result.describe()
    with open(os.devnull, 'wb') as devnull:
        result = run_sandboxed(sb('sb_cat', 'musl'), (), stdin=b'x' * 100000,
                               cli_stdout=devnull.fileno())
    assert_ran_ok(result)


@pytest.mark.parametrize('code', [0, 1, 42, 255])
def test_exit_code_is_reported(sb, run_sandboxed, code):
    result = run_sandboxed(sb('sb_exit', 'musl'), (str(code),))
    assert_ran_ok(result, retcode=code)
    assert result.stdout == b'exiting %d\n' % code


@pytest.mark.parametrize('how, signal', [('segv', 'SIGSEGV'), ('abort', 'SIGABRT')])
@pytest.mark.parametrize('libc', LIBCS)
def test_crash_is_reported_as_a_signal(sb, run_sandboxed, libc, how, signal):
    result = run_sandboxed(sb('sb_exit', libc), (how,))
    assert_status(result, 'signal')
    assert result.report['signal'] == signal, result.describe()
    assert result.report['retcode'] is None
    assert result.exit_code != 0
    assert result.stdout in (b'crashing\n', b'aborting\n')


def test_fifo_channels(sb, run_sandboxed, tmp_path):
    """--in NAME=FIFO: the program reads what a host writer sends through a named pipe."""
    fifo = tmp_path / 'feed'
    os.mkfifo(fifo)
    data = os.urandom(1 << 20)

    def feed():
        with open(fifo, 'wb') as f:
            f.write(data)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    result = run_sandboxed(sb('sb_cat', 'musl'), ('/dev/in/feed',), ins={'feed': fifo})
    writer.join(timeout=30)
    assert_ran_ok(result)
    assert result.stdout == data


def test_wc_counts_stdin(sb, run_sandboxed):
    text = b'the quick brown fox\njumps over\n\nthe lazy dog'
    result = run_sandboxed(sb('sb_wc'), stdin=text)
    assert_ran_ok(result)
    assert result.stdout == b'3 9 %d\n' % len(text)


def test_report_has_every_field(sb, run_sandboxed):
    data = os.urandom(1 << 20)
    result = run_sandboxed(sb('sb_cat', 'musl'), stdin=data)
    assert_ran_ok(result)
    report = result.report
    for key in ('status', 'reason', 'retcode', 'signal', 'syscall', 'validation',
                'validation_reasons', 'wall_seconds', 'cdr'):
        assert key in report, result.describe()
    assert report['validation'] == 0, 'a host executable is validated before it runs'
    assert isinstance(report['wall_seconds'], float) and report['wall_seconds'] > 0
    cdr = report['cdr']
    assert set(cdr) >= {'sys', 'user', 'reads', 'rbytes', 'writes', 'wbytes',
                        'nreads', 'nrbytes', 'nwrites', 'nwbytes'}
    assert cdr['rbytes'] >= len(data) and cdr['wbytes'] >= len(data), result.describe()
    assert cdr['reads'] >= 1 and cdr['writes'] >= 1


def test_python_word_count_over_stdin(run_sandboxed):
    text = b'one two three\nfour five\nsix\n'
    result = run_sandboxed(PYTHON, ('/dev/script',), stdin=text, script=script('wc.py'))
    assert_ran_ok(result)
    assert result.stdout == b'3 6 %d\n' % len(text)
    assert result.report['validation'] == 2, 'system-image interpreter is not checked'


def test_python_reads_input_writes_output(run_sandboxed):
    data = b'map reduce in the sandbox\n' * 1000
    result = run_sandboxed(PYTHON, ('/dev/script',), input=data, output=True,
                           script=script('upper_input.py'))
    assert_ran_ok(result)
    assert result.output == data.upper()
    assert result.stdout == b'%d\n' % len(data)


def test_python_writes_named_out_channels(run_sandboxed):
    result = run_sandboxed(PYTHON, ('/dev/script', 'low', 'high'),
                           input=b'apple zebra Mango nectar kiwi',
                           outs=('low', 'high'), script=script('split_out.py'))
    assert_ran_ok(result)
    assert result.outs['low'] == b'apple\nMango\nkiwi\n'
    assert result.outs['high'] == b'zebra\nnectar\n'
    assert result.stdout == b'3 2\n'


def test_python_sees_argv_env_and_exit_code(run_sandboxed):
    result = run_sandboxed(PYTHON, ('/dev/script', 'a b', '', 'c'),
                           env={'LOCAL_PATH_INFO': '/a/c/o', 'SB_EXIT': '7'},
                           script=script('env_argv.py'))
    assert_ran_ok(result, retcode=7)
    seen = json.loads(result.stdout)
    assert seen['argv'] == ['a b', '', 'c']
    assert seen['env']['LOCAL_PATH_INFO'] == '/a/c/o'


def test_python_imports_20_stdlib_modules(run_sandboxed):
    data = b'to be or not to be that is the question to ask'
    result = run_sandboxed(PYTHON, ('/dev/script',), input=data,
                           script=script('imports20.py'))
    assert_ran_ok(result)
    summary = json.loads(result.stdout)
    assert summary['sha256'] == hashlib.sha256(data).hexdigest()
    assert summary['top'][0] == ['to', 3]
    assert summary['modules'] == 20


def test_python_exception_is_a_nonzero_exit_not_a_sandbox_failure(run_python):
    result = run_python("print('before'); raise ValueError('boom')")
    assert_status(result, 'ok')
    assert result.retcode == 1
    assert result.stdout == b'before\n'
    assert b'ValueError: boom' in result.stderr
