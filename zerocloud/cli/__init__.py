"""The ``zerocloud`` command.

Sub-commands live in one module each (``zerocloud/cli/<name>.py``); every module provides
``add_arguments(parser)`` and ``main(args) -> int`` and a module docstring whose first line is
the command's help text.  Sub-command modules keep heavy imports inside ``main`` so that
``zerocloud --help`` stays fast.

    zerocloud run       run one program in the sandbox locally (like ZeroVM's zvsh)
    zerocloud validate  validate an executable and print the verdict
    zerocloud check     validate a job description offline and print its plan
    zerocloud aio       start/stop a local all-in-one Swift cluster with zerocloud
    zerocloud zapp      bundle a directory into a zapp, or upload a zapp to Swift
    zerocloud submit    run a job, zapp or script on a cluster and report each instance
"""
import argparse
import importlib
import os
import signal
import sys

COMMANDS = ('run', 'validate', 'check', 'aio', 'zapp', 'submit')


def build_parser():
    """Return the top-level parser with one sub-parser per available command."""
    parser = argparse.ArgumentParser(prog='zerocloud')
    subparsers = parser.add_subparsers(dest='command', metavar='COMMAND')
    subparsers.required = True
    for name in COMMANDS:
        try:
            module = importlib.import_module('zerocloud.cli.' + name)
        except ImportError as exc:
            if exc.name != 'zerocloud.cli.' + name:
                raise
            continue  # command not built yet
        summary = (module.__doc__ or name).strip().splitlines()[0]
        sub = subparsers.add_parser(name, help=summary, description=module.__doc__,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sub)
        sub.set_defaults(handler=module.main)
    return parser


def main(argv=None):
    """Entry point of the ``zerocloud`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except BrokenPipeError:
        # The reader went away (`zerocloud check job.json | head`): not an error of ours.
        # Point stdout at /dev/null so the interpreter's final flush cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 128 + signal.SIGPIPE


if __name__ == '__main__':
    sys.exit(main())
