"""validate an executable and print the verdict

    zerocloud validate PROGRAM [--json] [--max-size BYTES]

Checks PROGRAM as the sandbox would before running it (ELF structure, instruction scan) and
prints "valid" or "rejected" followed by the reasons and warnings, one per line, or the
verdict as a JSON object with --json (state 0 valid, 1 rejected; reasons, warnings, sha256).

Exit status: 0 valid, 1 rejected, 2 usage or I/O error.
"""
import json
import os
import sys

from zerocloud import limits

DEFAULT_MAX_SIZE_BYTES = limits.DEFAULT_MAX_EXECUTABLE_BYTES


def add_arguments(parser):
    """Declare the command's arguments on ``parser``."""
    parser.add_argument('program', metavar='PROGRAM', help='path of the executable to check')
    parser.add_argument('--json', action='store_true', help='print the verdict as JSON')
    parser.add_argument('--max-size', metavar='BYTES', type=_positive_int,
                        default=DEFAULT_MAX_SIZE_BYTES,
                        help='largest accepted executable (default %(default)s)')


def _positive_int(text):
    import argparse
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError('--max-size must be an integer, not %r' % text)
    if value < 1:
        raise argparse.ArgumentTypeError('--max-size must be positive, not %d' % value)
    return value


def main(args) -> int:
    """Validate ``args.program``; return 0 valid, 1 rejected, 2 when it cannot be read."""
    from zerocloud import report
    from zerocloud.sandbox import validate
    try:
        verdict = validate.validate_path(args.program, args.max_size)
    except OSError as exc:
        print('zerocloud validate: cannot read %s: %s'
              % (args.program, exc.strerror or exc), file=sys.stderr)
        return 2
    rejected = verdict.state == report.VALIDATION_REJECTED
    if args.json:
        text = json.dumps(verdict.to_dict(), indent=2)
    else:
        lines = ['rejected' if rejected else 'valid']
        lines += ['  reason: %s' % reason for reason in verdict.reasons]
        lines += ['  warning: %s' % warning for warning in verdict.warnings]
        text = '\n'.join(lines)
    try:
        print(text, flush=True)
    except BrokenPipeError:          # `zerocloud validate X | head -1`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 1 if rejected else 0
