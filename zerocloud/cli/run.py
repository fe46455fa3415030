"""Run one program in the sandbox locally, with the cluster's jail, channels and report.

    zerocloud run [--stdin F] [--stdout F] [--stderr F] [--input F] [--output F]
                  [--script F] [--in NAME=F]... [--out NAME=F]... [--mode DEVICE=MODE]...
                  [--image TAR|DIR]
                  [--sysimage NAME=PATH] [--env K=V]... [--env-file F]... [--timeout S]
                  [--memory BYTES] [--max-output BYTES] [--max-input BYTES] [--report F]
                  [--name ARGV0] [--python-prestart] [--python-jail-stage]
                  -- PROGRAM [ARGS...]

PROGRAM is the host path of a static x86-64 executable (validated first) or
``file://<image>:<path>``; the ``python`` system image is always available, e.g.

    zerocloud run --stdin data.txt --script wc.py -- file://python:python /dev/script

Readable channels (--stdin, --input, --script, --in) open host files or FIFOs; writable
ones (--stdout, --stderr, --output, --out) create or truncate host files (``/dev/output``
supports random access).  Without --stdout/--stderr the program writes to this terminal.
A channel is shown as what it is on the host: a regular file as that file (seekable), a FIFO
or this terminal as a FIFO.  ``--mode DEVICE=MODE`` (DEVICE ``stdin``, ``output``,
``in/NAME``...) chooses instead, with the job language's device modes (:mod:`zerocloud.job`):
``file`` or ``block`` show the host file itself (it must be a regular file, or not exist yet
for a writable channel), ``pipe`` or ``char`` a FIFO pumped from or into it (not seekable;
``/dev/output`` then loses its random access).  A later ``--mode`` for a device wins.
``--python-prestart`` runs a python session in a pre-started interpreter (started for this
session, as the object server's pool starts them ahead: :mod:`zerocloud.sandbox.prestart`).
``--python-jail-stage`` sets the jail up with its Python stage instead of the compiled
launcher (:mod:`zerocloud.sandbox.launcher`: what runs where the launcher cannot be built).
``--report F`` writes the report as JSON (``-``: standard error).  The exit status is the
program's exit code when it ran (status ``ok``), else 125 with the reason on standard error.
Defaults: --timeout 10 s (also the CPU limit), --memory 1 GiB, --max-output and --max-input
1 GiB per channel (exact: a channel holds at most that many bytes; one more is
``output-limit`` / ``input-limit``).

Environment: ``--env-file F`` reads ``NAME=VALUE`` lines (the value is the rest of the line as
it is: no quotes, no escapes; blank lines and lines whose first non-blank character is ``#``
are skipped); ``--env NAME=VALUE`` sets one variable.  The files come first, in order, then
every ``--env``; a later definition of a name replaces an earlier one.  Many ``--env`` cost
little: they are taken out of the command line in one pass before argparse parses the rest
(argparse alone takes time quadratic in the number of options: 12 s for 20,000 ``--env``).

argv and environment are bounded like every session's (:mod:`zerocloud.limits`: 1024 argv
strings, 2048 variables, 131072 bytes counting a NUL per string and variables as
``NAME=VALUE``).  A command line beyond them, like any other bad option, starts nothing (no
channel file is opened or truncated) and exits 125 naming the size and the limit.
"""
import functools
import json
import os
import stat
import sys

EXIT_NOT_RUN = 125
GIB = 1 << 30
ENV_OPTION = '--env'


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
    parser.add_argument('--mode', dest='modes', action='append', default=[],
                        metavar='DEVICE=MODE', help='show /dev/DEVICE as file|block (the host '
                        'file itself) or pipe|char (a FIFO)')
    parser.add_argument('--image', metavar='TAR|DIR', help='read-only image shown at /')
    parser.add_argument('--sysimage', action='append', default=[], metavar='NAME=PATH',
                        help='system image NAME (a directory or tar) for file://NAME:...')
    parser.add_argument(ENV_OPTION, action='append', default=[], metavar='K=V',
                        help='set one environment variable (after those of --env-file)')
    parser.add_argument('--env-file', dest='env_files', action='append', default=[],
                        metavar='F', help='NAME=VALUE lines; blank lines and # comments skipped')
    parser.add_argument('--timeout', type=float, default=10.0, metavar='S')
    parser.add_argument('--memory', type=int, default=GIB, metavar='BYTES')
    parser.add_argument('--max-output', type=int, default=GIB, metavar='BYTES')
    parser.add_argument('--max-input', type=int, default=GIB, metavar='BYTES')
    parser.add_argument('--report', metavar='F', help='write the report JSON here (- = stderr)')
    parser.add_argument('--name', help='argv[0] (default: the program basename)')
    parser.add_argument('--python-prestart', action='store_true',
                        help='a python session runs in a pre-started interpreter')
    parser.add_argument('--python-jail-stage', action='store_true',
                        help='set the jail up in Python, not with the compiled launcher')
    parser.add_argument('program', metavar='PROGRAM')
    parser.add_argument('args', nargs='*', metavar='ARGS')
    parser.parse_known_args = functools.partial(_parse_known_args, parser,
                                                parser.parse_known_args)


def _parse_known_args(parser, parse_rest, args=None, namespace=None):
    """``parser.parse_known_args`` with every ``--env`` taken out first, in one pass."""
    env, rest = take_env_options(sys.argv[1:] if args is None else list(args))
    namespace, extras = parse_rest(rest, namespace)
    namespace.env = env
    return namespace, extras


def take_env_options(argv):
    """``(values of --env, the other arguments)``; nothing after ``--`` is an option.

    ``--env VALUE`` and ``--env=VALUE`` are taken; an ``--env`` without a value (last, or
    followed by an option) stays for argparse to report.
    """
    env, rest = [], []
    position = 0
    while position < len(argv):
        item = argv[position]
        if item == '--':
            rest.extend(argv[position:])
            break
        if item.startswith(ENV_OPTION + '='):
            env.append(item[len(ENV_OPTION) + 1:])
        elif item == ENV_OPTION and position + 1 < len(argv) and \
                not argv[position + 1].startswith('-'):
            env.append(argv[position + 1])
            position += 1
        else:
            rest.append(item)
        position += 1
    return env, rest


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


def read_env_file(path):
    """The ``(name, value)`` pairs of an --env-file, in file order."""
    try:
        with open(path, encoding='utf-8', errors='surrogateescape') as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise UsageError('--env-file %s: %s' % (path, exc.strerror)) from exc
    pairs = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith('#'):
            continue
        name, sep, value = line.partition('=')
        if not sep or not name:
            raise UsageError('--env-file %s line %d: expected NAME=VALUE, got %r'
                             % (path, number, line[:80]))
        pairs.append((name, value))
    return pairs


def environment(args):
    """The session's environment: --env-file variables, then --env; later names win."""
    env = {}
    for path in args.env_files:
        env.update(read_env_file(path))
    env.update(_pairs(args.env, '--env'))
    return env


def _open_readable(path, option):
    """Open a readable channel; a FIFO is opened blocking (until its writer shows up)."""
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise UsageError('%s %s: %s' % (option, path, exc.strerror)) from exc


def _open_writable(path, option):
    """Open a writable channel; a FIFO is opened write-only, blocking until its reader shows
    up (opened read-write it never blocked: a writer could fill it and exit before its reader
    opened it, and that reader then waited forever for a writer)."""
    try:
        if stat.S_ISFIFO(os.stat(path).st_mode):
            return os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise UsageError('%s %s: %s' % (option, path, exc.strerror)) from exc
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise UsageError('%s %s: %s' % (option, path, exc.strerror)) from exc


def channel_plan(args):
    """``[(ChannelSpec, open_fd)]`` in channel order; nothing is opened yet.

    :raises UsageError: a ``--mode`` that is not a mode, names no channel of the run, or
        asks ``file``/``block`` of something that is not a regular file.
    """
    modes = _modes(args.modes)
    plan = []

    def add(device, access, path, open_fd, kind='file'):
        channel = _channel(device, access, kind, modes.pop(device, None), path)
        plan.append((channel, open_fd))
    for device in ('stdin', 'input', 'script'):
        path = getattr(args, device)
        if path is not None:
            add(device, 'r', path, functools.partial(_open_readable, path, '--' + device))
    for device in ('stdout', 'stderr'):
        path = getattr(args, device)
        if path is None:     # this terminal (or whatever our own fd 1/2 is), pumped
            add(device, 'w', None, functools.partial(os.dup, 1 if device == 'stdout' else 2),
                'pipe')
        else:
            add(device, 'w', path, functools.partial(_open_writable, path, '--' + device))
    if args.output is not None:
        add('output', 'rw', args.output,
            functools.partial(_open_writable, args.output, '--output'))
    for name, path in _pairs(args.ins, '--in', simple_names=True):
        add('in/' + name, 'r', path, functools.partial(_open_readable, path, '--in'))
    for name, path in _pairs(args.outs, '--out', simple_names=True):
        add('out/' + name, 'w', path, functools.partial(_open_writable, path, '--out'))
    if modes:
        device, mode = next(iter(modes.items()))
        raise UsageError('--mode %s=%s: this run has no /dev/%s' % (device, mode, device))
    return plan


def _modes(values):
    """``{device: mode}`` of the ``--mode`` options (a later one for a device wins)."""
    from zerocloud.sandbox.spec import MODE_KINDS
    modes = dict(_pairs(values, '--mode'))
    for device, mode in modes.items():
        if mode not in MODE_KINDS:
            raise UsageError('--mode %s=%s: MODE must be one of %s'
                             % (device, mode, ', '.join(MODE_KINDS)))
    return modes


def _channel(device, access, kind, mode, path):
    """The ChannelSpec of one channel: the kind its ``mode`` asks for, else ``kind``.

    ``file``/``block`` need ``path`` to be a regular file (or not to exist yet); ``pipe``
    and ``char`` make a stream, so a read-write channel becomes write-only.
    """
    from zerocloud.sandbox.spec import ChannelSpec, channel_kind
    if mode:
        kind = channel_kind(mode)
    if mode and kind == 'file':
        _check_regular_file(path, '--mode %s=%s' % (device, mode))
    return ChannelSpec(device, 'w' if access == 'rw' and kind != 'file' else access, kind)


def _check_regular_file(path, option):
    """:raises UsageError: ``path`` (None: this terminal) exists and is not a regular file."""
    if path is None:
        raise UsageError('%s: the channel is this terminal, not a file (give it a file)'
                         % option)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return      # a writable channel creates it; a readable one fails when opened
    except OSError as exc:
        raise UsageError('%s: %s: %s' % (option, path, exc.strerror)) from exc
    if not stat.S_ISREG(mode):
        raise UsageError('%s: %s is not a regular file (a FIFO or a device can only be '
                         'a stream: pipe or char)' % (option, path))


def build_spec(args, channels):
    """The SessionSpec of the command line (every value checked); raises UsageError."""
    from zerocloud.sandbox.spec import ImageSpec, Limits, SessionSpec, SpecError
    for option, value in (('--timeout', args.timeout), ('--memory', args.memory),
                          ('--max-output', args.max_output), ('--max-input', args.max_input)):
        if not value > 0:
            raise UsageError('%s must be positive, got %s' % (option, value))
    try:
        images = [ImageSpec(name, os.path.abspath(path), '/')
                  for name, path in _pairs(args.sysimage, '--sysimage', simple_names=True)]
        if args.image:
            images.append(ImageSpec('image', os.path.abspath(args.image), '/'))
        limits = Limits(wall_seconds=args.timeout, cpu_seconds=args.timeout,
                        memory_bytes=args.memory, max_output_bytes=args.max_output,
                        max_input_bytes=args.max_input)
        program = args.program
        if not program.startswith('file://'):
            program = os.path.abspath(program)
        argv0 = args.name or os.path.basename(args.program.split(':')[-1])
        return SessionSpec(program=program, argv=[argv0] + list(args.args),
                           env=environment(args), channels=channels, images=images,
                           limits=limits)
    except SpecError as exc:
        raise UsageError(str(exc)) from exc


def open_channels(plan):
    """Open every channel of ``plan``: their fds in channel order (none left open on error)."""
    fds = []
    try:
        for _channel, open_fd in plan:
            fds.append(open_fd())
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return fds


def build_session(args):
    """Return ``(SessionSpec, fds)`` for the parsed command line; raises UsageError.

    The whole command line is checked before any channel is opened (a FIFO would wait for
    its writer, an output file would be truncated).
    """
    plan = channel_plan(args)
    spec = build_spec(args, [channel for channel, _open in plan])
    return spec, open_channels(plan)


def _write_report(report, target):
    text = json.dumps(report.to_dict(), indent=1, sort_keys=True) + '\n'
    if target == '-':
        sys.stderr.write(text)
    else:
        with open(target, 'w') as f:
            f.write(text)


def _prestart_options(args):
    if not args.python_prestart:
        return None
    from zerocloud.sandbox.prestart import PrestartOptions
    return PrestartOptions(pool_size=1)


def main(args):
    """Run the session; return the program's exit code or 125."""
    from zerocloud.sandbox.session import run_local
    try:
        spec, fds = build_session(args)
    except UsageError as exc:
        sys.stderr.write('zerocloud run: %s\n' % exc)
        return EXIT_NOT_RUN
    try:
        report = run_local(spec, fds, prestart=_prestart_options(args),
                           compiled_launcher=not args.python_jail_stage)
    finally:
        for fd in fds:
            os.close(fd)
    if args.report:
        _write_report(report, args.report)
    if report.ok:
        return report.retcode
    sys.stderr.write('zerocloud run: %s\n' % report.status_text)
    return EXIT_NOT_RUN
