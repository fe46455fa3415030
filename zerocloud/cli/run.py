"""Run one program in the sandbox locally, with the cluster's jail, channels and report.

    zerocloud run [--stdin F] [--stdout F] [--stderr F] [--input F] [--output F]
                  [--script F] [--in NAME=F]... [--out NAME=F]... [--image TAR|DIR]
                  [--sysimage NAME=PATH] [--env K=V]... [--timeout S] [--memory BYTES]
                  [--max-output BYTES] [--report F] [--name ARGV0] -- PROGRAM [ARGS...]

PROGRAM is the host path of a static x86-64 executable (validated first) or
``file://<image>:<path>``; the ``python`` system image is always available, e.g.

    zerocloud run --stdin data.txt --script wc.py -- file://python:python /dev/script

Readable channels (--stdin, --input, --script, --in) open host files or FIFOs; writable
ones (--stdout, --stderr, --output, --out) create or truncate host files (``/dev/output``
supports random access).  Without --stdout/--stderr the program writes to this terminal.
``--report F`` writes the report as JSON (``-``: standard error).  The exit status is the
program's exit code when it ran (status ``ok``), else 125 with the reason on standard error.
Defaults: --timeout 10 s (also the CPU limit), --memory 1 GiB, --max-output 1 GiB per channel.
"""
import json
import os
import sys

EXIT_NOT_RUN = 125
GIB = 1 << 30


def add_arguments(parser):
    """Declare the options of ``zerocloud run``."""
    for device in ('stdin', 'input', 'script'):
        parser.add_argument('--' + device, metavar='F', help='host file for /dev/' + device)
    for device in ('stdout', 'stderr', 'output'):
        parser.add_argument('--' + device, metavar='F', help='host file for /dev/' + device)
    parser.add_argument('--in', dest='ins', action='append', default=[], metavar='NAME=F',
                        help='host file or FIFO for /dev/in/NAME')
    parser.add_argument('--out', dest='outs', action='append', default=[], metavar='NAME=F',
                        help='host file for /dev/out/NAME')
    parser.add_argument('--image', metavar='TAR|DIR', help='read-only image shown at /')
    parser.add_argument('--sysimage', action='append', default=[], metavar='NAME=PATH',
                        help='system image NAME (a directory or tar) for file://NAME:...')
    parser.add_argument('--env', action='append', default=[], metavar='K=V')
    parser.add_argument('--timeout', type=float, default=10.0, metavar='S')
    parser.add_argument('--memory', type=int, default=GIB, metavar='BYTES')
    parser.add_argument('--max-output', type=int, default=GIB, metavar='BYTES')
    parser.add_argument('--report', metavar='F', help='write the report JSON here (- = stderr)')
    parser.add_argument('--name', help='argv[0] (default: the program basename)')
    parser.add_argument('program', metavar='PROGRAM')
    parser.add_argument('args', nargs='*', metavar='ARGS')


class UsageError(ValueError):
    """A command-line value is wrong; the message names the option."""


def _pairs(values, option, simple_names=False):
    """Split NAME=VALUE options; ``simple_names`` allows only [A-Za-z0-9_.-] names."""
    from zerocloud.sandbox.spec import NODE_NAME
    pairs = []
    for value in values:
        name, sep, rest = value.partition('=')
        if not sep or not name:
            raise UsageError('%s expects NAME=VALUE, got %r' % (option, value))
        if simple_names and (NODE_NAME.match(name) is None or name in ('.', '..')):
            raise UsageError('%s NAME must be a simple name ([A-Za-z0-9_.-]), got %r'
                             % (option, name))
        pairs.append((name, rest))
    return pairs


def _open_readable(path, option):
    """Open a readable channel; a FIFO is opened blocking (until its writer shows up)."""
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise UsageError('%s %s: %s' % (option, path, exc.strerror)) from exc


def _open_writable(path, option):
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise UsageError('%s %s: %s' % (option, path, exc.strerror)) from exc


def build_session(args):
    """Return ``(SessionSpec, fds)`` for the parsed command line; raises UsageError."""
    from zerocloud.sandbox.spec import ChannelSpec, ImageSpec, Limits, SessionSpec, SpecError
    channels, fds = [], []
    for device in ('stdin', 'input', 'script'):
        path = getattr(args, device)
        if path is not None:
            fds.append(_open_readable(path, '--' + device))
            channels.append(ChannelSpec(device, 'r', 'file'))
    for device in ('stdout', 'stderr'):
        path = getattr(args, device)
        fds.append(_open_writable(path, '--' + device) if path is not None
                   else os.dup(1 if device == 'stdout' else 2))
        channels.append(ChannelSpec(device, 'w', 'file' if path is not None else 'pipe'))
    if args.output is not None:
        fds.append(_open_writable(args.output, '--output'))
        channels.append(ChannelSpec('output', 'rw', 'file'))
    for name, path in _pairs(args.ins, '--in', simple_names=True):
        fds.append(_open_readable(path, '--in'))
        channels.append(ChannelSpec('in/' + name, 'r', 'file'))
    for name, path in _pairs(args.outs, '--out', simple_names=True):
        fds.append(_open_writable(path, '--out'))
        channels.append(ChannelSpec('out/' + name, 'w', 'file'))
    for option, value in (('--timeout', args.timeout), ('--memory', args.memory),
                          ('--max-output', args.max_output)):
        if not value > 0:
            raise UsageError('%s must be positive, got %s' % (option, value))
    try:
        images = [ImageSpec(name, os.path.abspath(path), '/')
                  for name, path in _pairs(args.sysimage, '--sysimage', simple_names=True)]
        if args.image:
            images.append(ImageSpec('image', os.path.abspath(args.image), '/'))
        limits = Limits(wall_seconds=args.timeout, cpu_seconds=args.timeout,
                        memory_bytes=args.memory, max_output_bytes=args.max_output)
        program = args.program
        if not program.startswith('file://'):
            program = os.path.abspath(program)
        argv0 = args.name or os.path.basename(args.program.split(':')[-1])
        spec = SessionSpec(program=program, argv=[argv0] + list(args.args),
                           env=_pairs(args.env, '--env'), channels=channels, images=images,
                           limits=limits)
    except SpecError as exc:
        raise UsageError(str(exc)) from exc
    return spec, fds


def _write_report(report, target):
    text = json.dumps(report.to_dict(), indent=1, sort_keys=True) + '\n'
    if target == '-':
        sys.stderr.write(text)
    else:
        with open(target, 'w') as f:
            f.write(text)


def main(args):
    """Run the session; return the program's exit code or 125."""
    from zerocloud.sandbox.session import run_local
    try:
        spec, fds = build_session(args)
    except UsageError as exc:
        sys.stderr.write('zerocloud run: %s\n' % exc)
        return EXIT_NOT_RUN
    try:
        report = run_local(spec, fds)
    finally:
        for fd in fds:
            os.close(fd)
    if args.report:
        _write_report(report, args.report)
    if report.ok:
        return report.retcode
    sys.stderr.write('zerocloud run: %s\n' % report.status_text)
    return EXIT_NOT_RUN
