"""The last steps before a jail runs untrusted code, shared by the jail and the python stage.

Small on purpose: the pre-started python interpreter (:mod:`zerocloud.sandbox.stage`)
imports this, not :mod:`zerocloud.sandbox.jail`, so the script's interpreter carries as
little of the sandbox as possible (each module it holds costs memory and time at exit).
"""
import fcntl
import os
import resource
import signal

from zerocloud.sandbox import linux

EXIT_JAIL_FAILED = 126
OLD_ROOT = '.old-root'      # where a warm jail keeps the host's tree until the session
LENGTH_BYTES = 8            # a pre-started jail's helper message: its length, then marshal


def restrict(rlimits, sys):
    """Lower the rlimits, block SIGXFSZ, drop every capability, ``no_new_privs``."""
    for which, soft, hard in rlimits:
        if which == resource.RLIMIT_NOFILE:     # never above the hard limit we inherited
            ceiling = resource.getrlimit(which)[1]   # (raising it needs a privilege)
            if ceiling != resource.RLIM_INFINITY:
                soft, hard = min(soft, ceiling), min(hard, ceiling)
        resource.setrlimit(which, (soft, hard))
    # A write refused at RLIMIT_FSIZE raises SIGXFSZ; pid 1 would drop it (default action,
    # unkillable), blocked it stays pending where the monitor reads it (the mask survives
    # exec): the trace of "tried to write beyond the output limit".
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGXFSZ})
    sys.drop_capabilities()
    sys.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)


def fail(status_fd, exc):
    """Report ``exc`` on the status pipe (``E<type>: <message>``) and exit 126."""
    message = ('E%s: %s\n' % (type(exc).__name__, exc)).encode(errors='replace')
    try:
        os.write(status_fd, message)
    except OSError:
        pass
    os._exit(EXIT_JAIL_FAILED)


def park(fd):
    """A close-on-exec copy of ``fd`` numbered >= 10, out of the way of 0-5."""
    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)


def place(fd, number):
    """Make ``number`` a close-on-exec copy of ``fd`` (``fd`` may already be ``number``)."""
    if fd == number:
        os.set_inheritable(fd, False)
    else:
        os.dup2(fd, number, inheritable=False)
