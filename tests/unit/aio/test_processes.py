"""Pid-file process control on real (tiny) processes: exactly ours, groups included."""
import os
import time

from zerocloud.aio import processes

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
    for _ in range(100):
        if not processes.is_alive(child):
            break
        time.sleep(0.02)
    assert not processes.is_alive(child)
    assert processes.stop(str(tmp_path), ['p']) == []


def test_a_reused_pid_is_not_ours(tmp_path):
    pid = os.getpid()
    (tmp_path / 'me.pid').write_text('%d 1\n' % pid)  # wrong start time
    assert processes.running_pid(str(tmp_path), 'me') is None
    assert processes.stop(str(tmp_path), ['me']) == []
    assert processes.is_alive(pid)
