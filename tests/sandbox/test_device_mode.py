"""Device modes in the real jail, through ``zerocloud run --mode`` (the job language's
``mode``, Servlets.md rule 16): ``file``/``block`` show the host file itself (regular,
seekable), ``pipe``/``char`` a FIFO pumped from or into it (not seekable), with exact bytes
and exact limits either way.  The program is ``tests/programs/sb_devices.py``, which
reports each channel's ``stat()`` type, whether it seeks, and what it read.
"""
import json
import os

import pytest

from tests.sandbox import runner

SCRIPT = os.path.join(os.path.dirname(__file__), '..', 'programs', 'sb_devices.py')
DATA = bytes(range(256)) * 8192        # 2 MiB: more than a FIFO's buffer
STREAM = {'type': 'fifo', 'seek': 'ESPIPE'}
FILE = {'type': 'file', 'seek': 'ok'}
SHOWN = {'pipe': STREAM, 'char': STREAM, 'file': FILE, 'block': FILE}


def run_devices(run_sandboxed, channels, modes, **kwargs):
    """Run sb_devices.py over ``channels`` (``NAME:r``/``NAME:w``) with ``{device: mode}``."""
    with open(SCRIPT, 'rb') as handle:
        script = handle.read()
    options = [item for device, mode in modes.items()
               for item in ('--mode', '%s=%s' % (device, mode))]
    result = run_sandboxed(runner.PYTHON, ['/dev/script'] + list(channels), script=script,
                           extra_options=options, **kwargs)
    assert result.status == 'ok' and result.exit_code == 0, result.describe()
    return json.loads(result.stdout), result


@pytest.mark.parametrize('mode', ['pipe', 'char', 'file', 'block'])
def test_stdin_and_stdout_are_shown_as_their_mode_says(run_sandboxed, mode):
    seen, _ = run_devices(run_sandboxed, ['stdin:r', 'stdout:w'],
                          {'stdin': mode, 'stdout': mode}, stdin=DATA)
    assert seen['stdin'] == dict(SHOWN[mode], data=DATA.decode('latin-1'))
    assert seen['stdout'] == SHOWN[mode]


def test_without_mode_a_host_file_stays_a_regular_file(run_sandboxed):
    seen, _ = run_devices(run_sandboxed, ['stdin:r', 'input:r', 'stdout:w'], {},
                          stdin=DATA, input=b'in')
    assert seen == {'stdin': dict(FILE, data=DATA.decode('latin-1')),
                    'input': dict(FILE, data='in'), 'stdout': FILE}


@pytest.mark.parametrize('mode', ['pipe', 'file'])
def test_input_output_and_named_channels_follow_their_mode(run_sandboxed, mode):
    seen, result = run_devices(
        run_sandboxed, ['input:r', 'in/a:r', 'output:w', 'out/b:w', 'stdout:w'],
        {'input': mode, 'in/a': mode, 'output': mode, 'out/b': mode},
        input=b'random access?', ins={'a': b'named'}, outs=['b'], output=True)
    assert seen['input'] == dict(SHOWN[mode], data='random access?')
    assert seen['in/a'] == dict(SHOWN[mode], data='named')
    assert seen['output'] == SHOWN[mode] and seen['out/b'] == SHOWN[mode]
    assert result.output == b'written to /dev/output'
    assert result.outs == {'b': b'written to /dev/out/b'}


@pytest.mark.parametrize('extra, status, kept', [(0, 'ok', 100000),
                                                 (1, 'output-limit', 100000)])
def test_a_pipe_stdout_into_a_file_passes_exactly_the_limit(run_python, extra, status, kept):
    result = run_python('import sys; sys.stdout.buffer.write(b"x" * %d)' % (100000 + extra),
                        max_output=100000, extra_options=['--mode', 'stdout=pipe'])
    assert result.status == status, result.describe()
    assert len(result.stdout) == kept


def test_a_pipe_stdin_from_a_file_over_the_input_limit_is_refused(run_python):
    result = run_python('import sys; sys.stdin.buffer.read()', stdin=b'y' * 1001,
                        extra_options=['--mode', 'stdin=pipe', '--max-input', '1000'])
    assert result.status == 'input-limit', result.describe()
