"""``zerocloud run`` command line (issue 10): many variables without quadratic parsing,
``--env-file``, exact limits as options, and nothing opened when the command is refused."""
import argparse
import os
import signal
from contextlib import contextmanager

import pytest

from zerocloud.cli import build_parser
from zerocloud.cli import run

PROGRAM = '/bin/true'


def parse(*argv):
    return build_parser().parse_args(['run', *argv])


@contextmanager
def watchdog(seconds=10):
    def hung(signum, frame):
        raise AssertionError(f'no answer within {seconds} s')
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_env_options_are_taken_out_in_one_pass_and_nothing_after_the_double_dash():
    env, rest = run.take_env_options(['--env', 'A=1', '--stdin', 'f', '--env=B=2=3', '--',
                                      'prog', '--env', 'C=3'])
    assert env == ['A=1', 'B=2=3']
    assert rest == ['--stdin', 'f', '--', 'prog', '--env', 'C=3']


@pytest.mark.parametrize('argv', [['--env'], ['--env', '--stdin', 'f']])
def test_an_env_option_without_its_value_is_left_for_argparse_to_report(argv):
    assert run.take_env_options(argv) == ([], argv)
    with pytest.raises(SystemExit):
        parse(*argv, '--', PROGRAM)


def test_env_options_keep_their_order_and_program_arguments_stay_arguments():
    args = parse('--env', 'A=1', '--timeout', '3', '--env=B=2', '--', PROGRAM, '--env', 'x')
    assert args.env == ['A=1', 'B=2'] and args.timeout == 3.0
    assert (args.program, args.args) == (PROGRAM, ['--env', 'x'])


def test_20000_env_options_never_reach_argparse(monkeypatch):
    """argparse alone took 12-26 s for these (quadratic in the options it parses): every
    ``--env`` is taken out in one pass, so the ``run`` parser sees only the other few."""
    seen = []
    parse_known = argparse.ArgumentParser._parse_known_args

    def recording(parser, arg_strings, *rest, **kwargs):
        seen.append((parser.prog, len(arg_strings)))
        return parse_known(parser, arg_strings, *rest, **kwargs)
    monkeypatch.setattr(argparse.ArgumentParser, '_parse_known_args', recording)
    argv = []
    for i in range(20000):
        argv += ['--env', f'K{i}=v']
    args = parse(*argv, '--stdin', 'in', '--', PROGRAM, 'a')
    assert len(args.env) == 20000 and args.env[-1] == 'K19999=v' and args.stdin == 'in'
    assert [count for prog, count in seen if prog.endswith(' run')] == [5], seen


def test_env_file_lines_blank_lines_and_comments(tmp_path):
    env_file = tmp_path / 'vars.env'
    env_file.write_text('# settings\n\nA=1\n  # indented comment\nB=x = y # not a comment\n'
                        'QUOTED="kept as is"\nEMPTY=\nA=2\n')
    args = parse('--env-file', str(env_file), '--', PROGRAM)
    assert run.environment(args) == {'A': '2', 'B': 'x = y # not a comment',
                                     'QUOTED': '"kept as is"', 'EMPTY': ''}


def test_env_files_come_first_then_env_options_a_later_name_wins(tmp_path):
    first, second = tmp_path / 'first', tmp_path / 'second'
    first.write_text('A=file1\nB=file1\nC=file1\n')
    second.write_text('B=file2\n')
    args = parse('--env', 'C=option', '--env-file', str(first), '--env-file', str(second),
                 '--', PROGRAM)
    assert run.environment(args) == {'A': 'file1', 'B': 'file2', 'C': 'option'}


@pytest.mark.parametrize('content, message', [
    ('A=1\nnot a variable\n', 'line 2: expected NAME=VALUE'),
    ('=value\n', 'line 1: expected NAME=VALUE'),
])
def test_a_bad_env_file_line_is_named(tmp_path, content, message):
    env_file = tmp_path / 'vars.env'
    env_file.write_text(content)
    with pytest.raises(run.UsageError, match=message):
        run.environment(parse('--env-file', str(env_file), '--', PROGRAM))


def test_a_missing_env_file_is_named(tmp_path):
    with pytest.raises(run.UsageError, match='--env-file .*missing: No such file'):
        run.environment(parse('--env-file', str(tmp_path / 'missing'), '--', PROGRAM))


def test_an_env_file_of_20000_variables_is_refused_naming_the_limit(tmp_path, capsys):
    env_file = tmp_path / 'many.env'
    env_file.write_text(''.join(f'K{i}=v\n' for i in range(20000)))
    with watchdog():   # refused before any session: a hang fails
        assert run.main(parse('--env-file', str(env_file), '--', PROGRAM)) == run.EXIT_NOT_RUN
    assert 'env has 20000 variables, more than the 2048 allowed' in capsys.readouterr().err


def test_a_refused_command_line_opens_no_channel(tmp_path, capsys):
    """Over the argv limit (argv[0] "true" and 140,000 bytes): the --stdout file keeps its
    bytes (not truncated) and the FIFO given as --stdin is not opened (that would wait for
    a writer forever)."""
    kept = tmp_path / 'kept'
    kept.write_bytes(b'precious')
    fifo = tmp_path / 'fifo'
    os.mkfifo(fifo)
    args = parse('--stdin', str(fifo), '--stdout', str(kept), '--', PROGRAM, 'a' * 140000)
    with watchdog():
        assert run.main(args) == run.EXIT_NOT_RUN
    assert kept.read_bytes() == b'precious'
    assert ('argv and env take 140006 bytes (each string with its NUL, variables as '
            'NAME=VALUE), more than the 131072 allowed') in capsys.readouterr().err


def test_limits_reach_the_session_spec(tmp_path):
    spec, fds = run.build_session(parse('--max-output', '1048576', '--max-input', '1000',
                                        '--stdout', str(tmp_path / 'out'), '--', PROGRAM))
    try:
        assert (spec.limits.max_output_bytes, spec.limits.max_input_bytes) == (1048576, 1000)
        assert [c.device for c in spec.channels] == ['stdout', 'stderr']
        assert len(fds) == 2
    finally:
        for fd in fds:
            os.close(fd)


@pytest.mark.parametrize('option', ['--max-input', '--max-output'])
def test_a_limit_must_be_positive(option, capsys):
    assert run.main(parse(option, '0', '--', PROGRAM)) == run.EXIT_NOT_RUN
    assert f'{option} must be positive' in capsys.readouterr().err
