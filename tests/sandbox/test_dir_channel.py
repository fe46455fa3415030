"""The ``dir`` channel: a directory of inputs bound whole, read-only, at ``/dev/in`` (a
reducer's thousands of spooled shuffle inputs in one mount), through a real supervisor.

A green run proves: the program lists and reads every entry (5,000 of them: more than the
4,096 channels a session may have); nothing can be written or created there (removing,
truncating, renaming and making directories are refused by the seccomp policy before the
mount is even asked); a symlink planted in the host directory does not lead to the host's
files; a descriptor that is not a directory fails the session instead of being shown some
other way."""
import os

import pytest

from tests.sandbox.test_thousands_of_channels import _run
from zerocloud import wire
from zerocloud.sandbox import ChannelSpec, Limits, SessionSpec, SpecError

ENTRIES = 5000
PROGRAM = b'''import os, sys
names = sorted(os.listdir("/dev/in"))
total = sum(len(open("/dev/in/" + name, "rb").read()) for name in names if name != "zz-link")
print(len(names), total)
for attempt, action in (
        ("write", lambda: open("/dev/in/" + names[0], "ab").write(b"x")),
        ("create", lambda: open("/dev/in/new", "wb")),
        ("update", lambda: open("/dev/in/" + names[0], "r+b"))):
    try:
        action()
        print("ESCAPED", attempt)
    except OSError as exc:
        print("DENIED", attempt, exc.errno)
try:
    data = open("/dev/in/zz-link", "rb").read()
    print("ESCAPED link" if data == b"host secret\\n" else "link gave other bytes")
except OSError as exc:
    print("DENIED link", exc.errno)
'''


def session(tmp_path, dir_fd):
    script = tmp_path / 'program.py'
    script.write_bytes(PROGRAM)
    out = tmp_path / 'out'
    fds = [dir_fd, os.open(script, os.O_RDONLY),
           os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)]
    spec = SessionSpec(program='file://python:python', argv=['reduce', '/dev/script'],
                       channels=(ChannelSpec('in', 'r', 'dir'), ChannelSpec('script', 'r'),
                                 ChannelSpec('stdout', 'w')),
                       limits=Limits(wall_seconds=60))
    return _run(tmp_path, spec, fds), out


def test_a_directory_of_5000_inputs_is_read_whole_and_cannot_be_changed(tmp_path):
    inputs = tmp_path / 'inputs'
    inputs.mkdir()
    for index in range(ENTRIES):
        (inputs / ('map-%d' % index)).write_bytes(b'from map-%d\n' % index)
    secret = tmp_path / 'secret'
    secret.write_bytes(b'host secret\n')
    os.symlink(str(secret), str(inputs / 'zz-link'))
    assert ENTRIES > wire.MAX_SESSION_CHANNELS
    report, out = session(tmp_path, os.open(inputs, os.O_RDONLY | os.O_DIRECTORY))
    assert report.status == 'ok' and report.retcode == 0, report
    lines = out.read_bytes().decode().splitlines()
    total = sum(len(b'from map-%d\n' % index) for index in range(ENTRIES))
    assert lines[0] == '%d %d' % (ENTRIES + 1, total)
    assert [line.split()[:2] for line in lines[1:4]] == [
        ['DENIED', 'write'], ['DENIED', 'create'], ['DENIED', 'update']]
    assert lines[4].startswith('DENIED link'), lines[4]
    assert not any(line.startswith('ESCAPED') for line in lines), lines
    assert sorted(os.listdir(inputs))[:2] == ['map-0', 'map-1']   # the host side unchanged
    assert len(os.listdir(inputs)) == ENTRIES + 1


def test_a_dir_channel_that_is_not_a_directory_fails_the_session(tmp_path):
    plain = tmp_path / 'plain'
    plain.write_bytes(b'not a directory\n')
    report, out = session(tmp_path, os.open(plain, os.O_RDONLY))
    assert report.status != 'ok', report
    assert 'not a directory' in report.reason, report
    assert out.read_bytes() == b''


@pytest.mark.parametrize('channels, message', [
    ((ChannelSpec('in', 'r', 'dir'), ChannelSpec('in/a', 'r')), 'exclude each other'),
])
def test_the_dir_channel_excludes_in_channels(channels, message):
    with pytest.raises(SpecError, match=message):
        SessionSpec(program='/bin/true', channels=channels)


@pytest.mark.parametrize('device, access', [('in', 'w'), ('stdin', 'r'), ('in/a', 'r')])
def test_kind_dir_is_only_the_read_only_device_in(device, access):
    with pytest.raises(SpecError):
        ChannelSpec(device, access, 'dir')
