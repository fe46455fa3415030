"""Drive ``zerocloud run`` as a subprocess, the way a user does, and collect what happened.

:func:`run_sandboxed` writes every input channel to a temporary file, runs the command line
interface (``python -m zerocloud run ... -- PROGRAM ARGS``) with ``--report``, and returns a
:class:`Result` holding the parsed report, the bytes the program wrote to each output channel,
the CLI's exit status and the wall time the whole command took.

Every CLI call is bounded by a subprocess timeout larger than the session's own ``--timeout``
plus :data:`CLI_MARGIN_SECONDS`: a sandbox that forgets to kill a session makes the test fail
with :class:`SandboxHung` instead of hanging the suite.

Channel arguments accept ``None`` (channel not given), ``bytes``/``str`` (written to a file in
``workdir`` first) or an ``os.PathLike`` (passed as is).
"""
import dataclasses
import json
import os
import subprocess
import sys
import time
from typing import Optional

#: the python system image's interpreter, as the CLI names it
PYTHON = 'file://python:python'
#: the session wall-clock limit used when a test does not choose one
DEFAULT_TIMEOUT_SECONDS = 10.0
#: extra time the CLI may take beyond the session limit (start-up, validation, clean-up)
CLI_MARGIN_SECONDS = 30.0


class SandboxHung(AssertionError):
    """The CLI did not return within the session timeout plus the margin."""


@dataclasses.dataclass
class Result:
    """What one ``zerocloud run`` produced.

    ``report`` is the parsed ``--report`` JSON (``{}`` if the CLI wrote none); ``stdout`` and
    ``stderr`` are the program's channels; ``output`` is ``/dev/output``; ``outs`` maps each
    ``/dev/out/NAME`` to its bytes; ``cli_stdout``/``cli_stderr`` are what the CLI itself
    printed; ``exit_code`` is the CLI's exit status and ``elapsed`` its wall time in seconds.
    """
    report: dict
    stdout: bytes
    stderr: bytes
    exit_code: int
    elapsed: float
    output: Optional[bytes] = None
    outs: dict = dataclasses.field(default_factory=dict)
    cli_stdout: bytes = b''
    cli_stderr: bytes = b''
    command: tuple = ()

    @property
    def status(self):
        """The report's status, or ``None`` when there is no report."""
        return self.report.get('status')

    @property
    def retcode(self):
        """The program's exit code as reported."""
        return self.report.get('retcode')

    def describe(self):
        """A multi-line summary for assertion messages."""
        return ('command: %s\nCLI exit %s after %.2fs\nreport: %s\nstdout: %r\nstderr: %r\n'
                'CLI stdout: %r\nCLI stderr: %r' % (
                    ' '.join(self.command), self.exit_code, self.elapsed,
                    json.dumps(self.report), self.stdout[:2000], self.stderr[:2000],
                    self.cli_stdout[-2000:], self.cli_stderr[-3000:]))


def _channel_file(workdir, name, value):
    """Return a host path for an input channel given as bytes, str or path (None: absent)."""
    if value is None:
        return None
    if isinstance(value, (bytes, str)):
        path = os.path.join(workdir, 'in-' + name)
        with open(path, 'wb') as f:
            f.write(value.encode() if isinstance(value, str) else value)
        return path
    return os.fspath(value)


def _read_if_exists(path):
    if path is None or not os.path.exists(path):
        return None
    with open(path, 'rb') as f:
        return f.read()


def build_command(program, args, paths, env, timeout, memory, max_output, extra):
    """Return the argv of ``zerocloud run`` for these channel paths and limits."""
    cmd = [sys.executable, '-m', 'zerocloud', 'run']
    for option in ('stdin', 'stdout', 'stderr', 'input', 'output', 'script'):
        if paths.get(option) is not None:
            cmd += ['--' + option, paths[option]]
    for name, path in paths['ins'].items():
        cmd += ['--in', '%s=%s' % (name, path)]
    for name, path in paths['outs'].items():
        cmd += ['--out', '%s=%s' % (name, path)]
    for key, value in (env or {}).items():
        cmd += ['--env', '%s=%s' % (key, value)]
    cmd += ['--timeout', str(timeout), '--report', paths['report']]
    if memory is not None:
        cmd += ['--memory', str(memory)]
    if max_output is not None:
        cmd += ['--max-output', str(max_output)]
    cmd += list(extra)
    cmd += ['--', os.fspath(program)] + [os.fspath(a) for a in args]
    return cmd


def run_sandboxed(program, args=(), *, workdir, stdin=None, input=None, script=None,
                  env=None, timeout=DEFAULT_TIMEOUT_SECONDS, memory=None, max_output=None,
                  ins=None, outs=(), output=False, extra_options=(), cli_stdin=None,
                  cli_stdout=None, popen_kwargs=None, margin=CLI_MARGIN_SECONDS):
    """Run ``program`` with ``args`` in the sandbox through the CLI and return a Result.

    ``workdir`` is a fresh directory for the channel files (pytest's ``tmp_path``);
    ``ins`` maps names to channel values for ``/dev/in/NAME``; ``outs`` lists the names of
    ``/dev/out/NAME`` channels; ``output=True`` gives ``/dev/output``.  ``cli_stdin`` is the
    CLI process's own stdin (default ``/dev/null``); with ``cli_stdout`` (a file descriptor)
    no ``--stdout`` is given, so the program writes to the CLI's own stdout, that descriptor.  Raises :class:`SandboxHung` if the CLI
    runs longer than ``timeout + margin`` seconds.
    """
    workdir = os.fspath(workdir)
    paths = {
        'stdin': _channel_file(workdir, 'stdin', stdin),
        'input': _channel_file(workdir, 'input', input),
        'script': _channel_file(workdir, 'script', script),
        'stdout': os.path.join(workdir, 'out-stdout') if cli_stdout is None else None,
        'stderr': os.path.join(workdir, 'out-stderr'),
        'output': os.path.join(workdir, 'out-output') if output else None,
        'ins': {n: _channel_file(workdir, 'in-' + n, v) for n, v in (ins or {}).items()},
        'outs': {n: os.path.join(workdir, 'out-' + n) for n in outs},
        'report': os.path.join(workdir, 'report.json'),
    }
    cmd = build_command(program, args, paths, env, timeout, memory, max_output, extra_options)
    started = time.monotonic()
    try:
        done = subprocess.run(cmd, stdin=cli_stdin if cli_stdin is not None else subprocess.DEVNULL,
                              stdout=cli_stdout if cli_stdout is not None else subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout + margin,
                              cwd=workdir, **(popen_kwargs or {}))
    except subprocess.TimeoutExpired as exc:
        raise SandboxHung('zerocloud run did not return within %.0fs (session timeout %ss): %s'
                          % (timeout + margin, timeout, ' '.join(cmd))) from exc
    elapsed = time.monotonic() - started
    return Result(report=_load_report(paths['report']),
                  stdout=_read_if_exists(paths['stdout']) or b'',
                  stderr=_read_if_exists(paths['stderr']) or b'',
                  exit_code=done.returncode, elapsed=elapsed,
                  output=_read_if_exists(paths['output']),
                  outs={n: _read_if_exists(p) for n, p in paths['outs'].items()},
                  cli_stdout=done.stdout or b'', cli_stderr=done.stderr, command=tuple(cmd))


def sandboxed_in(workdir, options=()):
    """:func:`run_sandboxed` bound to ``workdir``, with ``options`` (CLI options, e.g.
    ``--python-prestart``) before any a call adds: what the ``run_sandboxed`` fixtures
    return."""
    def run(program, args=(), extra_options=(), **kwargs):
        return run_sandboxed(program, args, workdir=workdir,
                             extra_options=tuple(options) + tuple(extra_options), **kwargs)
    return run


def _load_report(path):
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
