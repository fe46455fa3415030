"""Start, identify and stop the cluster's processes through pid files.

A pid file ``DIR/run/<name>.pid`` holds ``<pid> <start time>``; the start time (field 22 of
``/proc/<pid>/stat``) tells our process from a later one that reuses the pid.  Every process is
started in a new session, so it leads its own process group: stopping signals the whole group,
which also reaches children a middleware started (a sandbox supervisor, for instance).
"""
import os
import signal
import subprocess
import time

STOP_GRACE_SECONDS = 10.0
POLL_SECONDS = 0.05


def _stat_fields(pid):
    """Fields of /proc/<pid>/stat after the command name, or None if there is no such pid."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat[stat.rindex(')') + 2:].split()


def start_time(pid):
    """Start time (clock ticks since boot) of ``pid``, or None if it does not exist."""
    fields = _stat_fields(pid)
    return fields[19] if fields else None


def is_alive(pid, started=None):
    """True if ``pid`` runs (not a zombie) and, when given, started at ``started``."""
    _reap(pid)
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ('Z', 'X'):
        return False
    return started is None or fields[19] == started


def _reap(pid):
    """Collect ``pid`` if it is our own exited child (the test fixture's case)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def pid_file(run_dir, name):
    return os.path.join(run_dir, name + '.pid')


def read_pid_file(run_dir, name):
    """Return (pid, start time) recorded for ``name``, or None."""
    try:
        with open(pid_file(run_dir, name)) as f:
            pid, started = f.read().split()
        return int(pid), started
    except (FileNotFoundError, ValueError):
        return None


def running_pid(run_dir, name):
    """The pid of ``name`` if the process recorded for it still runs, else None."""
    record = read_pid_file(run_dir, name)
    if record and is_alive(*record):
        return record[0]
    return None


def launch(run_dir, log_dir, name, argv, env=None):
    """Start ``argv`` in a new session with stdio in ``log_dir/<name>.out``; -> pid."""
    with open(os.path.join(log_dir, name + '.out'), 'ab') as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                start_new_session=True, close_fds=True, env=env)
    started = start_time(proc.pid)
    with open(pid_file(run_dir, name), 'w') as f:
        f.write('%d %s\n' % (proc.pid, started))
    return proc.pid


def _live_groups(groups):
    """Those of the process ``groups`` that still have a member running (not a zombie)."""
    wanted = {str(group) for group in groups}
    live = set()
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None and fields[2] in wanted and fields[0] not in ('Z', 'X'):
                live.add(int(fields[2]))
    return live


def _signal_group(pid, signum):
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def stop(run_dir, names, grace=STOP_GRACE_SECONDS):
    """Stop the recorded processes ``names`` and their process groups; idempotent.

    SIGTERM to each group, up to ``grace`` seconds for the leaders to exit, then SIGKILL to
    whatever is left of the groups.  Pid files are removed.  Returns the names stopped.
    """
    targets = {}
    for name in names:
        record = read_pid_file(run_dir, name)
        if record and is_alive(*record):
            targets[name] = record[0]
            _signal_group(record[0], signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(is_alive(pid) for pid in targets.values()) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    for pid in targets.values():
        _signal_group(pid, signal.SIGKILL)
        _reap(pid)
    # A killed group's other members (workers) are not our children: wait until they are
    # gone, so that the ports they listened on are free when this returns (a restart on
    # the same ports found one still bound).
    deadline = time.monotonic() + grace
    while _live_groups(targets.values()) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    for name in names:
        try:
            os.unlink(pid_file(run_dir, name))
        except FileNotFoundError:
            pass
    return sorted(targets)


def log_tail(log_dir, name, lines=15):
    """The last ``lines`` lines of ``name``'s stdio file (for error messages)."""
    try:
        with open(os.path.join(log_dir, name + '.out'), errors='replace') as f:
            return ''.join(f.readlines()[-lines:])
    except FileNotFoundError:
        return ''
