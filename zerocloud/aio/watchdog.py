"""Stop a cluster once its owner process is gone (started when ``ClusterSpec.owner_pid`` is
set, e.g. by the test fixtures: a test session killed before its teardown leaves no cluster
behind).

Run: ``python -m zerocloud.aio.watchdog OWNER_PID DIR``.  Polls the owner every second; when
it has exited (or is a zombie), stops every other process recorded in DIR/run and exits.  A
normal ``stop`` stops the watchdog first.
"""
import os
import sys
import time

from zerocloud.aio import cluster, processes

POLL_SECONDS = 1.0


def stop_all_but_me(root):
    """Stop the cluster recorded in ``root``, except this watchdog; remove our pid file."""
    spec = cluster.recorded_spec(root)
    if spec is None:
        return
    names = [name for name in reversed(cluster.process_names(spec)) if name != 'watchdog']
    processes.stop(spec.run_dir, names)
    try:
        os.unlink(processes.pid_file(spec.run_dir, 'watchdog'))
    except FileNotFoundError:
        pass


def watch(owner_pid, root, poll=POLL_SECONDS):
    """Wait until ``owner_pid`` is gone, then stop the cluster in ``root``."""
    while processes.is_alive(owner_pid):
        time.sleep(poll)
    stop_all_but_me(root)


def main(argv=None):
    """``python -m zerocloud.aio.watchdog OWNER_PID DIR``."""
    argv = sys.argv[1:] if argv is None else argv
    watch(int(argv[0]), os.path.abspath(argv[1]))
    return 0


if __name__ == '__main__':
    sys.exit(main())
