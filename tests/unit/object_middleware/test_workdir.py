"""Work directories: one per process, refused when unsafe, gone when their process is."""
import fcntl
import os
import subprocess
import sys
import time

import pytest
from swift.common.utils import get_logger

from zerocloud.object_middleware import workdir
from zerocloud.object_middleware.workdir import WorkDir, WorkDirError, checked_base, sweep

LOGGER = get_logger({}, log_route='test-workdir')


def wait_gone(path, seconds=10):
    """Poll until ``path`` is gone (an outcome with a bound, not a timing assertion)."""
    end = time.monotonic() + seconds
    while os.path.exists(path) and time.monotonic() < end:
        time.sleep(0.05)
    return not os.path.exists(path)


def test_a_process_directory_is_made_under_the_base_with_its_lock(tmp_path):
    base = tmp_path / 'base'
    work = WorkDir(str(base), LOGGER)
    path = work.path()
    assert os.path.dirname(path) == str(base) and os.path.basename(path).startswith(
        'w-%d-' % os.getpid())
    assert os.stat(base).st_mode & 0o777 == 0o700 and os.stat(path).st_mode & 0o777 == 0o700
    assert work.path() == path, 'made once per process'
    assert sweep(str(base)) == [], 'a live process keeps its directory'


@pytest.mark.parametrize('mode, words', [(0o755, 'open to other users'),
                                         (0o1777, 'open to other users')])
def test_a_base_open_to_others_is_refused(tmp_path, mode, words):
    base = tmp_path / 'open'
    base.mkdir()
    os.chmod(base, mode)
    with pytest.raises(WorkDirError) as info:
        checked_base(str(base))
    assert words in str(info.value) and str(base) in str(info.value)


def test_a_base_of_another_user_is_refused(tmp_path):
    base = tmp_path / 'theirs'
    base.mkdir(mode=0o700)
    os.chown(base, 65534, 65534)
    with pytest.raises(WorkDirError) as info:
        checked_base(str(base))
    assert 'belongs to uid 65534' in str(info.value)


def test_a_symlinked_base_is_refused(tmp_path):
    target = tmp_path / 'target'
    target.mkdir(mode=0o700)
    (tmp_path / 'link').symlink_to(target)
    with pytest.raises(WorkDirError):
        checked_base(str(tmp_path / 'link'))


def test_sweep_removes_directories_of_dead_processes_only(tmp_path):
    base = str(tmp_path)
    dead = os.path.join(base, 'w-999999-dead')
    os.mkdir(dead)
    open(os.path.join(dead, '.lock'), 'w').close()
    open(os.path.join(dead, 'user-data'), 'w').write('secret')
    half = os.path.join(base, 'w-999998-nolock')
    os.mkdir(half)
    alive = os.path.join(base, 'w-1-alive')
    os.mkdir(alive)
    lock = os.open(os.path.join(alive, '.lock'), os.O_RDWR | os.O_CREAT)
    fcntl.flock(lock, fcntl.LOCK_EX)
    other = os.path.join(base, 'not-ours')
    os.mkdir(other)
    try:
        assert sorted(sweep(base)) == ['w-999998-nolock', 'w-999999-dead']
        assert os.path.exists(alive) and os.path.exists(other)
    finally:
        os.close(lock)


CHILD = '''
import sys, time
from swift.common.utils import get_logger
from zerocloud.object_middleware.workdir import WorkDir
path = WorkDir(sys.argv[1], get_logger({})).path()
open(path + '/user-data', 'w').write('secret')
print(path, flush=True)
time.sleep(600)
'''


@pytest.mark.parametrize('how', ['SIGTERM', 'SIGKILL'])
def test_the_janitor_removes_the_directory_when_its_process_dies(tmp_path, how):
    """Swift stops workers with SIGTERM's default action: no atexit runs; kill -9 runs
    nothing at all.  Either way the directory and the user data in it go."""
    child = subprocess.Popen([sys.executable, '-c', CHILD, str(tmp_path)],
                             stdout=subprocess.PIPE, text=True)
    path = child.stdout.readline().strip()
    assert os.path.exists(os.path.join(path, 'user-data'))
    getattr(child, 'terminate' if how == 'SIGTERM' else 'kill')()
    child.wait(10)
    assert wait_gone(path), os.listdir(path)


def test_the_janitor_waits_for_end_of_file_then_removes(tmp_path):
    path = tmp_path / 'w-1-x'
    path.mkdir()
    janitor = workdir.start_janitor(str(path))
    janitor.stdin.write(b'still here')
    janitor.stdin.flush()
    assert janitor.poll() is None and path.exists()
    janitor.stdin.close()
    assert janitor.wait(10) == 0 and not path.exists()


def test_a_base_too_long_for_the_supervisor_socket_is_refused(tmp_path):
    base = tmp_path / ('x' * (workdir.UNIX_PATH_MAX - len(str(tmp_path)) - 10))
    with pytest.raises(WorkDirError) as info:
        checked_base(str(base))
    assert 'too long' in str(info.value)
    fits = tmp_path / 'short'
    assert checked_base(str(fits)) == str(fits)


def test_a_directory_being_made_is_never_swept_and_an_abandoned_one_is(tmp_path):
    """A process directory is made and locked under a name sweeps skip for a minute, then
    renamed: another process's sweep can never take it for a dead process's (before, the
    directory existed unlocked between mkdir and flock)."""
    base = str(tmp_path)
    fresh = os.path.join(base, '.making-123-abcd')
    old = os.path.join(base, '.making-456-abcd')
    os.mkdir(fresh)
    os.mkdir(old)
    os.utime(old, (time.time() - 120, time.time() - 120))
    assert sweep(base) == ['.making-456-abcd']
    assert os.path.isdir(fresh) and not os.path.exists(old)
    work = WorkDir(base, LOGGER)
    made = work.path()
    assert os.path.basename(made).startswith('w-%d-' % os.getpid())
    assert sweep(base) == [] and os.path.isdir(made), 'locked before it got its name'
