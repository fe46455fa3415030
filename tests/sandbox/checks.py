"""Assertions shared by the sandbox tests: outcomes, leaks and leftover processes.

The hostile programs in ``tests/programs/sb_escape_*.c`` print one line per attempt:
``DENIED <what> errno=<n>`` when the kernel refused, ``ESCAPED <what> ...`` when an attack
worked.  A forbidden call may also end the session with status ``seccomp``; both are
acceptable unless a test is stricter.
"""
import os

#: statuses meaning "the session was stopped because of a forbidden system call"
KILLED_BY_POLICY = ('seccomp',)


def assert_status(result, *statuses):
    """Fail unless the report's status is one of ``statuses``."""
    assert result.report, 'no report written\n' + result.describe()
    assert result.status in statuses, (
        'status %r, expected one of %s\n%s' % (result.status, statuses, result.describe()))


def assert_ran_ok(result, retcode=0):
    """Fail unless the program ran to its end with ``retcode`` and the CLI exited with it."""
    assert_status(result, 'ok')
    assert result.retcode == retcode, result.describe()
    assert result.exit_code == retcode, 'CLI exit status != program exit\n' + result.describe()


def assert_denied(result, what=None):
    """The attack did not work: refused inside (``DENIED``) or the session was killed.

    A run that ended ``ok`` must have printed the ``DENIED`` line for ``what`` (proof that the
    attempt happened and failed); a killed run must name the reason.
    """
    assert b'ESCAPED' not in result.stdout + result.stderr, result.describe()
    assert result.report, 'no report written\n' + result.describe()
    if result.status == 'ok':
        marker = b'DENIED' if what is None else b'DENIED ' + what.encode()
        assert marker in result.stdout, 'attempt not reported as refused\n' + result.describe()
    else:
        assert result.status in KILLED_BY_POLICY, result.describe()
        assert result.report.get('syscall'), 'seccomp kill without a syscall name\n' + \
            result.describe()


def assert_killed_by_seccomp(result):
    """Strict: the session must have been killed for a forbidden system call."""
    assert b'ESCAPED' not in result.stdout + result.stderr, result.describe()
    assert_status(result, 'seccomp')


def assert_nothing_leaked(result, *secrets):
    """None of ``secrets`` (bytes) appears in any channel the program could write."""
    channels = [result.stdout, result.stderr, result.output or b'']
    channels += [v or b'' for v in result.outs.values()]
    for secret in secrets:
        for data in channels:
            assert secret not in data, 'secret %r leaked\n%s' % (secret, result.describe())


def processes_with(token):
    """Return the pids of live processes whose command line contains ``token`` (bytes)."""
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as f:
                cmdline = f.read()
            with open('/proc/%s/stat' % entry, 'rb') as f:
                state = f.read().rsplit(b')', 1)[1].split()[0]
        except OSError:
            continue
        if token in cmdline and state != b'Z':
            found.append(int(entry))
    return found
