"""The one adapter to eventlet used by the object middleware (green primitives)."""
import eventlet
import eventlet.green.subprocess
import eventlet.semaphore

Semaphore = eventlet.semaphore.Semaphore


def run_process(argv, stdin_bytes, pass_fds, deadline_seconds):
    """Run ``argv`` (fork+exec) without blocking the hub; return (status, stdout, stderr).

    The process is killed after ``deadline_seconds``.
    """
    process = eventlet.green.subprocess.Popen(
        argv, stdin=eventlet.green.subprocess.PIPE, stdout=eventlet.green.subprocess.PIPE,
        stderr=eventlet.green.subprocess.PIPE, pass_fds=tuple(pass_fds), close_fds=True)
    try:
        with eventlet.Timeout(deadline_seconds):
            output, errors = process.communicate(stdin_bytes)
    except eventlet.Timeout:
        process.kill()
        output, errors = process.communicate()
        errors += b' (killed after %.0f s)' % deadline_seconds
    return process.returncode, output, errors
