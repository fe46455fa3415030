"""Validation through ``zerocloud run``: a rejected executable never runs and the report says why.

The rejected programs (``sb_int80.c``, ``sb_lret.c``) write ``RAN`` to ``/dev/output`` and
stdout as their first act, so "did not run" is checked on the channels, not taken on trust.
Hostile ELF files are derived from a good static build by patching single fields.
"""
import os
import shutil
import struct

import pytest

from tests.sandbox.checks import assert_status

LIBCS = ('glibc', 'musl')


def assert_rejected(result):
    """Status validation, verdict 1 with reasons, nothing ran, no traceback, CLI failed."""
    assert_status(result, 'validation')
    assert result.report.get('validation') == 1, result.describe()
    assert result.report.get('validation_reasons'), 'no reasons given\n' + result.describe()
    assert result.report.get('retcode') is None, result.describe()
    assert not result.output, 'the rejected program ran\n' + result.describe()
    assert b'RAN' not in result.stdout, 'the rejected program ran\n' + result.describe()
    assert result.exit_code != 0, result.describe()
    assert b'Traceback' not in result.cli_stderr, result.describe()


@pytest.mark.parametrize('libc', LIBCS)
def test_int80_program_is_rejected_and_does_not_run(sb, run_sandboxed, libc):
    result = run_sandboxed(sb('sb_int80', libc), output=True)
    assert_rejected(result)
    reasons = ' '.join(result.report['validation_reasons']).lower()
    assert 'int' in reasons and '0x80' in reasons, result.describe()


@pytest.mark.parametrize('libc', LIBCS)
def test_far_return_program_is_rejected_and_does_not_run(sb, run_sandboxed, libc):
    result = run_sandboxed(sb('sb_lret', libc), output=True)
    assert_rejected(result)


def test_hidden_int80_passes_the_scan_and_is_stopped_at_run_time(sb, run_sandboxed):
    """A linear scan cannot see an instruction hidden in an immediate: the validator accepts
    the program and the run-time policy (seccomp, non-native ABI) must kill it."""
    result = run_sandboxed(sb('sb_int80_hidden'))
    assert result.report.get('validation') == 0, result.describe()
    assert_status(result, 'seccomp')
    assert b'ESCAPED' not in result.stdout


def program_headers(data):
    """Yield (offset of the header, p_type, p_flags) for each ELF64 program header."""
    phoff, = struct.unpack_from('<Q', data, 32)
    phentsize, phnum = struct.unpack_from('<HH', data, 54)
    for index in range(phnum):
        offset = phoff + index * phentsize
        p_type, p_flags = struct.unpack_from('<II', data, offset)
        yield offset, p_type, p_flags


def make_wrong_arch(data):
    return data[:18] + struct.pack('<H', 3) + data[20:]  # EM_386


def make_wx_segment(data):
    data = bytearray(data)
    for offset, p_type, p_flags in program_headers(data):
        if p_type == 1 and p_flags & 1:  # PT_LOAD, executable
            struct.pack_into('<I', data, offset + 4, 7)
            return bytes(data)
    raise AssertionError('no executable PT_LOAD')


def make_entry_outside_code(data):
    return data[:24] + struct.pack('<Q', 0x10) + data[32:]


def make_huge_headers(data):
    return data[:56] + struct.pack('<H', 0xffff) + data[58:]  # e_phnum


HOSTILE = {
    'empty': lambda data: b'',
    'truncated': lambda data: data[:100],
    'not-elf': lambda data: b'#!/bin/sh\necho RAN > /dev/output\n',
    'random': lambda data: os.urandom(4096),
    'wrong-arch': make_wrong_arch,
    'wx-segment': make_wx_segment,
    'entry-outside-code': make_entry_outside_code,
    'huge-headers': make_huge_headers,
}


@pytest.mark.parametrize('kind', sorted(HOSTILE))
def test_hostile_elf_is_rejected_with_a_reason(sb, run_sandboxed, tmp_path, kind):
    with open(sb('sb_cat', 'musl'), 'rb') as f:
        good = f.read()
    path = tmp_path / ('hostile-' + kind)
    path.write_bytes(HOSTILE[kind](good))
    os.chmod(path, 0o755)
    result = run_sandboxed(path, output=True)
    assert_rejected(result)


def test_dynamic_executable_is_rejected(run_sandboxed, tmp_path):
    dynamic = shutil.which('ls')
    assert dynamic, 'ls not found'
    result = run_sandboxed(dynamic, ('/',))
    assert_rejected(result)
    assert b'dev' not in result.stdout


def test_missing_program_is_a_clear_error(run_sandboxed, tmp_path):
    missing = str(tmp_path / 'no-such-program')
    result = run_sandboxed(missing)
    assert result.exit_code != 0
    assert b'Traceback' not in result.cli_stderr, result.describe()
    assert b'no-such-program' in result.cli_stderr + result.cli_stdout + \
        str(result.report).encode(), result.describe()


@pytest.mark.parametrize('options', [
    ('--timeout', 'soon'),
    ('--memory', '-5'),
    ('--in', 'no-equals-sign'),
    ('--env', 'NOEQUALS'),
    ('--out', '../evil=/dev/null'),
    ('--in', '../../up=/dev/null'),
    ('--out', 'a/b=/dev/null'),
], ids=lambda o: '%s-%s' % (o[0].strip('-'), o[1].split('=')[0].replace('/', '_')))
def test_bad_options_are_clear_errors(sb, run_sandboxed, options):
    result = run_sandboxed(sb('sb_exit', 'musl'), ('0',), extra_options=options)
    assert result.exit_code != 0, result.describe()
    assert b'Traceback' not in result.cli_stderr, result.describe()
    assert options[0].encode() in result.cli_stderr, 'error must name the option\n' + \
        result.describe()
