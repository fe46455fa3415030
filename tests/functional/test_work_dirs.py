"""Object servers leave no user data behind: not after a clean stop, not after kill -9, and
a crashed machine's leftovers are swept at the next start (issue 14, item 5)."""
import os
import signal
import time
import uuid

import pytest

from tests.functional.test_jobs_checks import post_job
from zerocloud.aio import cluster as aio, processes


def process_dirs(base):
    return sorted(name for name in os.listdir(base) if name.startswith('w-'))


def wait_for(condition, seconds=20):
    """Poll ``condition`` until true or ``seconds`` pass; return its last value (outcomes
    are asserted, with a bound so a failure cannot hang the suite)."""
    end = time.monotonic() + seconds
    while not condition() and time.monotonic() < end:
        time.sleep(0.1)
    return condition()


@pytest.fixture(scope='module')
def work_cluster(start_cluster, tmp_path_factory, c_program):
    base = tmp_path_factory.mktemp('work-base')
    os.chmod(base, 0o700)
    cluster = start_cluster('workdirs', nodes=1, replicas=1, filter_options={
        'object_middleware': {'zerovm_work_dir': str(base)}})
    container = 'zcwork-' + uuid.uuid4().hex
    conn = cluster.connection()
    conn.put_container(container)
    conn.put_object(container, 'in.txt', b'private user data\n')
    with open(c_program('sb_cat'), 'rb') as handle:
        conn.put_object(container, 'cat', handle.read(), content_type='application/x-nexe')
    return cluster, str(base), container


def run_job(cluster, container):
    job = [{'name': 'cat', 'exec': {'path': 'swift://~/%s/cat' % container},
            'devices': [{'name': 'stdin', 'path': 'swift://~/%s/in.txt' % container},
                        {'name': 'stdout'}]}]
    resp = post_job(cluster, job)
    assert resp.status_code == 200 and resp.content == b'private user data\n', resp.text


def object_server_group(cluster):
    pid = processes.running_pid(cluster.spec.run_dir, 'object-1')
    assert pid, 'object-1 is not running'
    return os.getpgid(pid)


def test_a_clean_stop_leaves_no_work_directory(work_cluster):
    cluster, base, container = work_cluster
    run_job(cluster, container)
    dirs = process_dirs(base)
    assert dirs, 'the object server made no work directory in %s' % base
    assert any(os.listdir(os.path.join(base, name, 'executables')) for name in dirs
               if os.path.isdir(os.path.join(base, name, 'executables')))
    aio.stop(cluster.spec)
    assert wait_for(lambda: process_dirs(base) == []), process_dirs(base)
    aio.start(cluster.spec)


def test_kill_9_of_the_object_server_leaves_no_work_directory(work_cluster):
    cluster, base, container = work_cluster
    run_job(cluster, container)
    assert process_dirs(base)
    os.killpg(object_server_group(cluster), signal.SIGKILL)
    assert wait_for(lambda: process_dirs(base) == []), process_dirs(base)
    aio.stop(cluster.spec)
    aio.start(cluster.spec)


def test_leftovers_of_a_crash_are_swept_at_start(work_cluster):
    """A machine crash kills the janitors too: the next server process removes what the
    dead ones left (their locks are free)."""
    cluster, base, container = work_cluster
    leftover = os.path.join(base, 'w-999999-crashed')
    os.makedirs(os.path.join(leftover, 'inputs'))
    with open(os.path.join(leftover, 'inputs', 'copy'), 'w') as handle:
        handle.write('private user data')
    open(os.path.join(leftover, '.lock'), 'w').close()
    run_job(cluster, container)
    assert not os.path.exists(leftover)
    assert process_dirs(base) and 'w-999999-crashed' not in process_dirs(base)
