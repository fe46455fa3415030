"""Pid-file process control on real (tiny) processes: exactly ours, groups included; the
watchdog that stops a cluster whose owner died."""
import os
import subprocess
import time

from zerocloud.aio import cluster, processes
from zerocloud.aio.spec import ClusterSpec

# A parent that starts a child in its own process group and waits forever.
PARENT = ['sh', '-c', 'sleep 300 & echo $! > "$CHILD_PID_FILE"; wait']


def test_stop_kills_the_process_group_and_is_idempotent(tmp_path):
    env = dict(os.environ, CHILD_PID_FILE=str(tmp_path / 'child'))
    pid = processes.launch(str(tmp_path), str(tmp_path), 'p', PARENT, env=env)
    for _ in range(100):
        if (tmp_path / 'child').exists() and (tmp_path / 'child').read_text().strip():
            break
        time.sleep(0.02)
    child = int((tmp_path / 'child').read_text())
    assert processes.running_pid(str(tmp_path), 'p') == pid
    assert processes.stop(str(tmp_path), ['p']) == ['p']
    assert not processes.is_alive(pid)
    assert not processes.is_alive(child)   # stop returns once the whole group is gone
    assert processes.stop(str(tmp_path), ['p']) == []


def test_stop_returns_once_a_member_that_ignores_sigterm_is_killed(tmp_path):
    """The leader exits at SIGTERM; its child (not ours) ignores it, lives on until the
    SIGKILL, and is gone when stop returns: its ports would be free for a restart."""
    env = dict(os.environ, CHILD_PID_FILE=str(tmp_path / 'child'))
    stubborn = ['sh', '-c', '(trap "" TERM; while :; do sleep 0.05; done) & '
                'echo $! > "$CHILD_PID_FILE"; wait']
    processes.launch(str(tmp_path), str(tmp_path), 'p', stubborn, env=env)
    for _ in range(100):
        if (tmp_path / 'child').exists() and (tmp_path / 'child').read_text().strip():
            break
        time.sleep(0.02)
    child = int((tmp_path / 'child').read_text())
    group = os.getpgid(child)
    assert processes._live_groups([group]) == {group}
    assert processes.stop(str(tmp_path), ['p'], grace=0.5) == ['p']
    assert not processes.is_alive(child)
    assert processes._live_groups([group]) == set()


def test_a_reused_pid_is_not_ours(tmp_path):
    pid = os.getpid()
    (tmp_path / 'me.pid').write_text('%d 1\n' % pid)  # wrong start time
    assert processes.running_pid(str(tmp_path), 'me') is None
    assert processes.stop(str(tmp_path), ['me']) == []
    assert processes.is_alive(pid)


def _wait_until(predicate, seconds=15.0):
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return predicate()


def test_watchdog_stops_the_cluster_when_its_owner_is_gone(tmp_path):
    owner = subprocess.Popen(['sleep', '300'])
    spec = ClusterSpec(root=str(tmp_path), nodes=1, replicas=1, owner_pid=owner.pid)
    for directory in (spec.run_dir, spec.log_dir):
        os.makedirs(directory)
    with open(spec.state_file, 'w') as f:
        f.write(spec.to_json())
    servers = [processes.launch(spec.run_dir, spec.log_dir, name, ['sleep', '300'])
               for name in ('logs', 'memcache', 'proxy')]
    watchdog = processes.launch(spec.run_dir, spec.log_dir, 'watchdog',
                                cluster.command_of(spec, 'watchdog'))
    time.sleep(1.5)
    assert all(processes.is_alive(pid) for pid in servers + [watchdog])
    owner.kill()
    owner.wait()
    assert _wait_until(lambda: not any(processes.is_alive(pid) for pid in servers))
    assert _wait_until(lambda: not processes.is_alive(watchdog))
    assert cluster.running(spec) == {}
