"""``zerocloud aio start --user NAME``: every server runs as NAME, as in production (issue 14).

One cluster (2 nodes, 2 replicas) is started by the command line, as root, with ``--user
zerocloud-aio`` (a system user this module creates with ``useradd`` when it is missing):
Swift's own ``user`` option switches every server's worker to that user, so the object
servers' zerocloud filter, sandbox supervisor and jails run as an ordinary user with no
capability (rootless jails).  The job tests of ``test_jobs_run`` (C programs, a Python
script, validation, timeouts, ACLs, wildcards) run again against that cluster; the tests
here check who runs what.

Python must be reachable by that user: where it was installed under a private directory
(pyenv under ``/root``) the command runs in a private mount namespace that shows it
(:func:`tests.sandbox.unprivileged.reachable_view`; nothing changes on the machine).
"""
import inspect
import os
import pwd
import subprocess
import sys
import tempfile
import uuid

import pytest

from tests.functional import test_jobs_run
from tests.functional.conftest import AioCluster, device_dir, shut_down
from tests.functional.test_jobs_checks import post_job
from tests.sandbox.unprivileged import reachable_view
from zerocloud.aio import cluster as aio
from zerocloud.aio import pipelines, processes, server_user
from zerocloud.aio.spec import ClusterSpec
from zerocloud.sandbox import isolation

USER = 'zerocloud-aio'
SWIFT_SERVERS = ('proxy', 'object-1', 'object-2', 'container-1', 'account-2')

globals().update({name: value for name, value in vars(test_jobs_run).items()
                  if name.startswith('test_') and inspect.isfunction(value)})
stage = test_jobs_run.stage


@pytest.fixture(scope='module')
def account():
    """The ``pwd`` entry of :data:`USER` (created as a system user if missing)."""
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(['useradd', '--system', '--no-create-home', '--shell',
                        '/usr/sbin/nologin', USER], check=True, timeout=60)
        return pwd.getpwnam(USER)


def aio_command(*args):
    """``zerocloud aio ARGS`` as a command line, where :data:`USER` can run Python."""
    return reachable_view() + [sys.executable, '-m', 'zerocloud', 'aio'] + list(args)


@pytest.fixture(scope='module')
def cluster(account):
    """The cluster started by ``zerocloud aio start --user zerocloud-aio`` (replaces the
    shared default cluster for the job tests collected here)."""
    root = tempfile.mkdtemp(prefix='zerocloud-aio-user-')
    devices = device_dir('user') or os.path.join(root, 'srv')
    for directory in (root, devices):
        os.makedirs(directory, exist_ok=True)
        os.chmod(directory, 0o755)           # the user must reach its devices and rings
    spec = aio.spec_with_free_ports(root, nodes=2, replicas=2, devices=devices,
                                    owner_pid=os.getpid())
    with open(spec.state_file, 'w') as f:    # recorded first: the start takes its ports
        f.write(spec.to_json())              # and watchdog (stops it if this session dies)
    started = subprocess.run(aio_command('start', '--dir', root, '--user', USER),
                             capture_output=True, text=True, timeout=300)
    found = AioCluster('user', spec, pipelines.available_zerocloud_filters(True))
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert 'servers run as %s' % USER in started.stdout, started.stdout
        yield found
    finally:
        shut_down(found)


def uid_of(pid):
    with open('/proc/%d/status' % pid) as f:
        return [int(line.split()[1]) for line in f if line.startswith('Uid:')][0]


def children_of(pid):
    with open('/proc/%d/task/%d/children' % (pid, pid)) as f:
        return [int(child) for child in f.read().split()]


def test_every_server_is_started_as_root_and_serves_as_the_user(cluster, account):
    """The recorded server process (Swift's parent) is root's; its worker, which serves
    the requests and loads the pipeline, is the user's (and holds no capability)."""
    for name in SWIFT_SERVERS:
        parent = processes.running_pid(cluster.spec.run_dir, name)
        assert parent and uid_of(parent) == 0, name
        workers = children_of(parent)
        assert len(workers) == 1, (name, workers)
        assert uid_of(workers[0]) == account.pw_uid, name
        with open('/proc/%d/status' % workers[0]) as f:
            assert 'CapEff:\t0000000000000000' in f.read(), name


def test_devices_run_and_log_directories_belong_to_the_user(cluster, account):
    for path in (cluster.spec.run_dir, cluster.spec.log_dir,
                 cluster.spec.node_devices(1), cluster.spec.node_devices(2)):
        assert os.stat(path).st_uid == account.pw_uid, path


def test_sessions_run_in_rootless_jails_of_the_user(cluster, stage, account):
    """A job runs; the object server's supervisor is the user's, and its log says which
    isolation it found: rootless user namespaces, for that uid."""
    resp = post_job(cluster, test_jobs_run.node(stage, 'sb_cat', [
        test_jobs_run.stdin_of(stage), {'name': 'stdout'}]))
    assert resp.status_code == 200 and resp.content == b'alpha\nbeta\n', resp.text
    supervisors = [pid for name in ('object-1', 'object-2')
                   for worker in children_of(processes.running_pid(cluster.spec.run_dir,
                                                                       name))
                   for pid in children_of(worker) if _is_supervisor(pid)]
    assert supervisors and all(uid_of(pid) == account.pw_uid for pid in supervisors)
    started = [line for line in test_jobs_run.log_lines(cluster, 'object')
               if 'sandbox supervisor started' in line]
    assert started and all(isolation.AVAILABLE in line for line in started), started
    assert all('server uid %d' % account.pw_uid in line for line in started), started


def _is_supervisor(pid):
    with open('/proc/%d/cmdline' % pid, 'rb') as f:
        return b'zerocloud.sandbox.supervisor' in f.read()


def test_hand_over_gives_the_user_its_directories_and_the_work_dir(tmp_path):
    """Without servers: what the launcher gives the user, a configured work dir too."""
    spec = ClusterSpec(root=str(tmp_path / 'aio'), nodes=2, replicas=2, port=20000, filter_options={
        'object_middleware': {'zerovm_work_dir': str(tmp_path / 'work')}})
    for path in (spec.run_dir, spec.log_dir, spec.etc_dir, spec.node_devices(1),
                 os.path.join(spec.node_devices(2), 'd2', 'objects')):
        os.makedirs(path)
    nobody = pwd.getpwnam('nobody')
    server_user.hand_over(spec, nobody)
    for path in (spec.run_dir, spec.log_dir, spec.node_devices(1), str(tmp_path / 'work'),
                 os.path.join(spec.node_devices(2), 'd2', 'objects')):
        assert os.stat(path).st_uid == nobody.pw_uid, path
    assert os.stat(spec.etc_dir).st_uid == os.getuid()    # configuration stays the caller's


@pytest.mark.parametrize('user, message', [
    ('test:tester', 'looks like ACCOUNT:USER'),
    ('no-such-user-%s' % uuid.uuid4().hex[:8], 'no such user'),
])
def test_start_refuses_a_user_it_cannot_run_as(tmp_path, user, message):
    done = subprocess.run(aio_command('start', '--dir', str(tmp_path), '--user', user),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and message in done.stderr, done
    assert not os.path.exists(os.path.join(str(tmp_path), 'run')), 'something was started'
