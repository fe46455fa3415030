"""The supervisor's verdict cache: validation in a child, file identity shortcuts."""
import os
import shutil

from zerocloud.sandbox import offload
from zerocloud import report as rpt


def test_miss_validates_in_a_child_then_hits_are_not_checked(c_program):
    data = open(c_program('hello', libc='musl'), 'rb').read()
    verdicts = offload.OffloadedVerdicts()
    assert verdicts.check(data).state == rpt.VALIDATION_VALID
    assert verdicts.check(data).state == rpt.VALIDATION_NOT_CHECKED


def test_rejected_stays_rejected(c_program):
    data = open(c_program('sb_int80', libc='musl'), 'rb').read()
    verdicts = offload.OffloadedVerdicts()
    first = verdicts.check(data)
    assert first.state == rpt.VALIDATION_REJECTED and first.reasons
    assert verdicts.check(data) == first


def test_known_file_answers_only_for_the_unchanged_file(c_program, tmp_path):
    path = str(tmp_path / 'prog')
    shutil.copy(c_program('hello', libc='musl'), path)
    verdicts = offload.OffloadedVerdicts()
    assert verdicts.known_file(os.stat(path)) is None
    with open(path, 'rb') as f:
        verdicts.check(f.read(), file_stat=os.fstat(f.fileno()))
    assert verdicts.known_file(os.stat(path)).state == rpt.VALIDATION_NOT_CHECKED
    with open(path, 'r+b') as f:          # any write changes ctime: the shortcut is gone
        f.write(f.read(4))
    assert verdicts.known_file(os.stat(path)) is None


def test_oversized_executable_is_rejected_without_a_child():
    verdict = offload.OffloadedVerdicts().check(b'x' * 100, max_size_bytes=10)
    assert verdict.state == rpt.VALIDATION_REJECTED


def test_run_in_child_reports_failures():
    import pytest
    assert offload.run_in_child(sum, [1, 2, 3]) == 6
    with pytest.raises(offload.OffloadError):
        offload.run_in_child(int, 'not a number')
