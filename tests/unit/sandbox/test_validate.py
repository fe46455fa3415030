"""The verdict API, its cache, hostile input never raising, and `zerocloud validate`."""
import hashlib
import json
import os
import random
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st

from tests.unit.sandbox import hostile_elf
from zerocloud import cli
from zerocloud import report
from zerocloud.sandbox import validate

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(cli.__file__)))
VALID, REJECTED, NOT_CHECKED = (report.VALIDATION_VALID, report.VALIDATION_REJECTED,
                                report.VALIDATION_NOT_CHECKED)
PROBES = {
    'probe_int80': '`int 0x80`', 'probe_sysenter': '`sysenter`', 'probe_lcall': '`lcall ',
    'probe_ljmp': '`ljmp ', 'probe_lret': '`retfq`', 'probe_iret': '`iretq`',
    'probe_in': '`in al, 0x60`', 'probe_out': '`out 0x80, al`', 'probe_cli': '`cli`',
    'probe_mov_ds': '`mov ds, eax`', 'probe_pop_fs': '`pop fs`', 'probe_lgdt': '`lgdt ',
    'probe_mov_cr0': '`mov rax, cr0`', 'probe_wrmsr': '`wrmsr`',
}


def read(path):
    with open(path, 'rb') as f:
        return f.read()


@pytest.mark.parametrize('libc', ['glibc', 'musl'])
def test_static_hello_is_valid(c_program, libc):
    data = read(c_program('hello', libc=libc))
    verdict = validate.validate_bytes(data)
    assert verdict.state == VALID, verdict.reasons
    assert verdict.reasons == ()
    assert verdict.sha256 == hashlib.sha256(data).hexdigest()


def test_glibc_hello_warns_about_nondeterministic_instructions(c_program):
    verdict = validate.validate_path(c_program('hello', libc='glibc'))
    assert verdict.state == VALID
    assert any(w.startswith('`cpuid` at 0x') for w in verdict.warnings), verdict.warnings


@pytest.mark.parametrize('libc', ['glibc', 'musl'])
def test_int80_in_main_is_rejected_with_address_and_function(c_program, libc):
    verdict = validate.validate_path(c_program('validate_int80', libc=libc))
    assert verdict.state == REJECTED
    assert len(verdict.reasons) == 1
    assert verdict.reasons[0].startswith('`int 0x80` at 0x40')
    assert ' in main+0x' in verdict.reasons[0]


@pytest.mark.parametrize('libc', ['glibc', 'musl'])
def test_every_forbidden_probe_is_rejected_in_its_function(c_program, libc):
    verdict = validate.validate_path(c_program('validate_forbidden', libc=libc))
    assert verdict.state == REJECTED
    for function, text in PROBES.items():
        matching = [r for r in verdict.reasons if r.startswith(text) and
                    (' in %s ' % function) in r]
        assert matching, (function, verdict.reasons)
    assert len(verdict.reasons) == len(PROBES)


def test_nondeterministic_program_is_valid_with_named_warnings(c_program):
    verdict = validate.validate_path(c_program('validate_warned', libc='musl'))
    assert verdict.state == VALID
    assert len(verdict.warnings) == 2
    assert all(w.startswith(('`cpuid` at 0x', '`rdtsc` at 0x')) for w in verdict.warnings)
    assert any(' in read_tsc ' in w for w in verdict.warnings)
    assert any(' in read_cpu_vendor+0x' in w for w in verdict.warnings)


@pytest.mark.parametrize('name', sorted(hostile_elf.HOSTILE))
def test_hostile_file_gets_a_rejected_verdict(name):
    build, words = hostile_elf.HOSTILE[name]
    verdict = validate.validate_bytes(build())
    assert verdict.state == REJECTED
    assert any(words in reason for reason in verdict.reasons), verdict.reasons


def test_verdict_round_trips_through_json():
    verdict = validate.Verdict(REJECTED, ('a reason',), ('a warning',), 'ab' * 32)
    data = json.loads(json.dumps(verdict.to_dict()))
    assert validate.Verdict.from_dict(data) == verdict


@pytest.mark.parametrize('data, field', [
    ([], 'JSON object'),
    ({'state': '0'}, '"state"'),
    ({'state': True}, '"state"'),
    ({'state': 7}, 'verdict state'),
    ({'state': 0, 'reasons': 'x'}, '"reasons"'),
    ({'state': 0, 'warnings': [1]}, '"warnings"'),
    ({'state': 0, 'sha256': 5}, '"sha256"'),
])
def test_bad_verdict_dict_names_the_field(data, field):
    with pytest.raises(ValueError, match=field):
        validate.Verdict.from_dict(data)


def test_not_checked_verdict():
    verdict = validate.not_checked('ff' * 32)
    assert (verdict.state, verdict.reasons, verdict.sha256) == (NOT_CHECKED, (), 'ff' * 32)
    assert verdict.valid


def test_validate_path_reads_at_most_the_limit_plus_one_byte():
    # /dev/zero never ends: reading it whole would never return
    verdict = validate.validate_path('/dev/zero', max_size_bytes=4096)
    assert verdict.state == REJECTED
    assert verdict.reasons == ('executable is larger than the limit of 4096 bytes',)


def test_validate_path_of_missing_file_raises_oserror(tmp_path):
    with pytest.raises(OSError):
        validate.validate_path(str(tmp_path / 'missing'))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_always_give_a_verdict(data):
    verdict = validate.validate_bytes(data)
    assert verdict.state == REJECTED
    assert verdict.reasons


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=2048))
def test_valid_header_followed_by_arbitrary_bytes_gives_a_verdict(tail):
    verdict = validate.validate_bytes(hostile_elf.minimal_static()[:64] + tail)
    assert verdict.state in (VALID, REJECTED)
    assert verdict.state == VALID or verdict.reasons


@pytest.fixture(scope='module')
def musl_hello(c_program):
    return read(c_program('hello', libc='musl'))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1,
                max_size=16),
       st.booleans())
def test_mutated_real_program_always_gives_a_verdict(musl_hello, mutations, in_headers):
    data = bytearray(musl_hello)
    span = 4096 if in_headers else len(data)   # headers are where the structure lives
    for position, value in mutations:
        data[position % span] = value
    verdict = validate.validate_bytes(bytes(data))
    assert verdict.state in (VALID, REJECTED)
    assert verdict.state == VALID or verdict.reasons
    assert verdict.sha256 == hashlib.sha256(bytes(data)).hexdigest()


def test_truncations_of_a_real_program_give_verdicts(musl_hello):
    rng = random.Random(11)
    for length in sorted(rng.sample(range(len(musl_hello)), 100)):
        verdict = validate.validate_bytes(musl_hello[:length])
        assert verdict.state == REJECTED and verdict.reasons, length


# --- the command -----------------------------------------------------------------------------

def test_cli_valid_program_exits_0(c_program, capsys):
    status = cli.main(['validate', c_program('hello', libc='musl')])
    assert status == 0
    assert capsys.readouterr().out == 'valid\n'


def test_cli_rejected_program_exits_1_with_reasons(c_program, capsys):
    status = cli.main(['validate', c_program('validate_int80', libc='musl')])
    out = capsys.readouterr().out
    assert status == 1
    lines = out.splitlines()
    assert lines[0] == 'rejected'
    assert lines[1].startswith('  reason: `int 0x80` at 0x')


def test_cli_json_output(c_program, capsys):
    path = c_program('validate_warned', libc='musl')
    status = cli.main(['validate', '--json', path])
    data = json.loads(capsys.readouterr().out)
    assert status == 0
    assert data['state'] == VALID
    assert data['sha256'] == hashlib.sha256(read(path)).hexdigest()
    assert len(data['warnings']) == 2


def test_cli_max_size_rejects_a_larger_program(c_program, capsys):
    status = cli.main(['validate', '--max-size', '1000', c_program('hello', libc='musl')])
    assert status == 1
    assert 'larger than the limit of 1000 bytes' in capsys.readouterr().out


def test_cli_missing_file_exits_2_without_traceback(tmp_path, capsys):
    status = cli.main(['validate', str(tmp_path / 'nope')])
    err = capsys.readouterr().err
    assert status == 2
    assert 'cannot read' in err and 'No such file' in err
    assert 'Traceback' not in err


def test_cli_bad_max_size_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(['validate', '--max-size', 'lots', '/bin/true'])
    assert exit_info.value.code == 2
    assert '--max-size must be an integer' in capsys.readouterr().err


@pytest.mark.parametrize('program, expected_status, first_line', [
    (('hello', 'glibc'), 0, 'valid'),
    (('validate_forbidden', 'musl'), 1, 'rejected'),
    (None, 2, None),
])
def test_cli_as_a_subprocess(c_program, tmp_path, program, expected_status, first_line):
    path = c_program(program[0], libc=program[1]) if program else str(tmp_path / 'missing')
    result = subprocess.run([sys.executable, '-m', 'zerocloud', 'validate', path],
                            capture_output=True, text=True, timeout=120,
                            cwd=REPO_ROOT)
    assert result.returncode == expected_status, result.stderr
    assert 'Traceback' not in result.stderr
    if first_line:
        assert result.stdout.splitlines()[0] == first_line
    else:
        assert 'cannot read' in result.stderr


def test_sections_keep_the_sweep_aligned_across_padding():
    from tests.unit.sandbox.test_elf_check import ADJACENT, INIT, TEXT
    offset = hostile_elf.CODE_OFFSET
    with_sections = hostile_elf.with_sections(
        [hostile_elf.code_section(offset, len(TEXT)),
         hostile_elf.code_section(offset + len(TEXT) + 1, len(INIT))], code=ADJACENT)
    assert validate.validate_bytes(with_sections).state == VALID
    # the same bytes without section headers: swept whole, misaligned, a false `in al, dx`
    without = hostile_elf.minimal_static(ADJACENT)
    assert any(r.startswith('`in al, dx`') for r in validate.validate_bytes(without).reasons)
