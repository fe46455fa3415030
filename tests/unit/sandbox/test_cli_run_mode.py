"""``zerocloud run --mode DEVICE=MODE``: the job language's device modes as channel kinds,
checked before anything is opened."""
import os

import pytest

from tests.unit.sandbox.test_cli_run import PROGRAM, parse, watchdog
from zerocloud.cli import run


def kinds(*argv):
    return [(c.device, c.access, c.kind) for c, _open in run.channel_plan(parse(*argv))]


def test_without_mode_a_host_path_is_a_file_channel_and_the_terminal_a_pipe(tmp_path):
    data = tmp_path / 'data'
    data.write_bytes(b'x')
    assert kinds('--stdin', str(data), '--', PROGRAM) == [
        ('stdin', 'r', 'file'), ('stdout', 'w', 'pipe'), ('stderr', 'w', 'pipe')]


@pytest.mark.parametrize('mode, kind', [('pipe', 'pipe'), ('char', 'pipe'), ('file', 'file'),
                                        ('block', 'file')])
def test_each_mode_gives_its_kind_on_every_sort_of_channel(tmp_path, mode, kind):
    data = tmp_path / 'data'
    data.write_bytes(b'x')
    argv = ['--stdin', str(data), '--stdout', str(tmp_path / 'out'), '--output',
            str(tmp_path / 'output'), '--in', 'a=%s' % data, '--out', 'b=%s' % (tmp_path / 'b')]
    for device in ('stdin', 'stdout', 'output', 'in/a', 'out/b'):
        argv += ['--mode', '%s=%s' % (device, mode)]
    assert kinds(*argv, '--', PROGRAM) == [
        ('stdin', 'r', kind), ('stdout', 'w', kind), ('stderr', 'w', 'pipe'),
        ('output', 'rw' if kind == 'file' else 'w', kind), ('in/a', 'r', kind),
        ('out/b', 'w', kind)]


def test_a_later_mode_for_a_device_wins(tmp_path):
    data = tmp_path / 'data'
    data.write_bytes(b'x')
    assert kinds('--stdin', str(data), '--mode', 'stdin=pipe', '--mode', 'stdin=file', '--',
                 PROGRAM)[0] == ('stdin', 'r', 'file')


@pytest.mark.parametrize('argv, message', [
    (['--mode', 'stdout=socket'], '--mode stdout=socket: MODE must be one of file, block, '
     'pipe, char'),
    (['--mode', 'stdout'], '--mode expects NAME=VALUE'),
    (['--mode', 'input=pipe'], '--mode input=pipe: this run has no /dev/input'),
    (['--mode', 'in/x=pipe'], '--mode in/x=pipe: this run has no /dev/in/x'),
    (['--mode', 'stdout=file'], '--mode stdout=file: the channel is this terminal, not a '
     'file'),
])
def test_a_bad_mode_is_named_and_nothing_runs(capsys, argv, message):
    assert run.main(parse(*argv, '--', PROGRAM)) == run.EXIT_NOT_RUN
    assert message in capsys.readouterr().err


@pytest.mark.parametrize('mode', ['file', 'block'])
def test_a_fifo_cannot_be_a_file_and_is_not_opened(tmp_path, capsys, mode):
    """Refused before any open: a FIFO opened for reading would wait for its writer."""
    fifo = tmp_path / 'fifo'
    os.mkfifo(fifo)
    kept = tmp_path / 'kept'
    kept.write_bytes(b'precious')
    args = parse('--stdout', str(kept), '--stdin', str(fifo), '--mode', 'stdin=' + mode,
                 '--', PROGRAM)
    with watchdog():
        assert run.main(args) == run.EXIT_NOT_RUN
    assert kept.read_bytes() == b'precious'
    assert ('--mode stdin=%s: %s is not a regular file (a FIFO or a device can only be a '
            'stream: pipe or char)' % (mode, fifo)) in capsys.readouterr().err


def test_a_writable_file_mode_may_name_a_file_that_does_not_exist_yet(tmp_path):
    assert kinds('--stdout', str(tmp_path / 'new'), '--mode', 'stdout=file', '--',
                 PROGRAM)[0] == ('stdout', 'w', 'file')
