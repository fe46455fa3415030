"""Run one session in a fresh process: ``python -m zerocloud.object_middleware.run_session``.

The fallback of :class:`~zerocloud.object_middleware.runner.SandboxRunner` when the sandbox
supervisor is not available: the object server starts this module with fork+exec (never a
bare fork of the eventlet server), passing the channel fds (``pass_fds``); it reads
``{"spec": SessionSpec.to_dict(), "fds": [fd, ...]}`` as JSON on stdin, runs the session
single-threaded with ``zerocloud.sandbox.session.run_local`` and writes the report as JSON on
stdout.
"""
import json
import sys


def main():
    from zerocloud.sandbox.report import Report, STATUS_ERROR
    try:
        from zerocloud.sandbox.session import run_local
        from zerocloud.sandbox.spec import SessionSpec
        request = json.loads(sys.stdin.read())
        report = run_local(SessionSpec.from_dict(request['spec']), request['fds'])
    except Exception as err:  # reported, never a traceback on the wire
        report = Report(status=STATUS_ERROR, reason='session process: %s: %s'
                        % (type(err).__name__, err))
    sys.stdout.write(json.dumps(report.to_dict()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
