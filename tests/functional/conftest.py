"""Real all-in-one Swift clusters for the functional tests (started once per session).

Fixtures
--------
``cluster`` (session)
    The default cluster *with* zerocloud's filters in its pipelines (as many of
    ``job_chain``, ``proxy_middleware``, ``object_middleware`` as exist): 4 nodes, 3 replicas,
    policies ``gold`` (default, 3 replicas) and ``silver`` (2 replicas), tempauth SAIO users.
``plain_cluster`` (session)
    The same cluster *without* any zerocloud filter, for with/without comparisons.
``start_cluster`` (session)
    Factory for other clusters: ``start_cluster(filter_options={'object_middleware':
    {'opt': 'value'}}, zerocloud=True, nodes=4, replicas=3)`` -> :class:`AioCluster`;
    stopped at the end of the session.  ``devices=''`` puts its devices under its
    directory on disk instead of the default tmpfs (see below).  Each start costs a few
    seconds and ~750 MiB of RAM: share them (session or module scope).

Every cluster is an :class:`AioCluster` with these attributes and helpers:

    name               'zerocloud', 'plain' or 'custom'
    spec               the zerocloud.aio.spec.ClusterSpec
    dir, etc_dir, log_dir, devices_dir   its directories (log_dir/<server>.log per server)
    proxy_url          'http://127.0.0.1:<port>'
    auth_url           proxy_url + '/auth/v1.0'  (tempauth v1)
    users              {'test:tester': 'testing', 'test2:tester2': 'testing2',
                        'test:tester3': 'testing3', 'admin:admin': 'admin'}
    zerocloud_filters  tuple of the zerocloud filters in its pipelines
    connection(user='test:tester')  -> a new swiftclient.client.Connection (not thread-safe:
                                       one per thread)
    auth(user='test:tester')        -> (storage_url, token)

The fixtures' clusters keep their devices on tmpfs (/dev/shm, removed at teardown; stale ones
of dead sessions are removed too) when the machine has one: fast, and with room for Swift's
default metadata limits.  ``zerocloud aio`` itself defaults to devices on disk.

Each fixture cluster also runs a watchdog process: if the test session dies before its
teardown (killed, timed out), the watchdog stops the cluster within a second or so.

Use unique container names (e.g. ``uuid4().hex``): the clusters are shared by every test of
the session.  If a cluster cannot start, the tests that need it FAIL with the launcher's
message (they never skip).  Tests talk HTTP to the proxy only.
"""
import os
import shutil
import tempfile

import pytest
import swiftclient.client

from zerocloud.aio import cluster as aio
from zerocloud.aio.spec import USERS

START_ATTEMPTS = 3
SHM = '/dev/shm'
SHM_PREFIX = 'zerocloud-aio-'


class AioCluster:
    """A started all-in-one cluster, as the tests see it (see the module docstring)."""

    def __init__(self, name, spec, zerocloud_filters):
        self.name = name
        self.spec = spec
        self.zerocloud_filters = tuple(zerocloud_filters)
        self.dir = spec.root
        self.etc_dir = spec.etc_dir
        self.log_dir = spec.log_dir
        self.devices_dir = spec.devices
        self.proxy_url = spec.proxy_url
        self.auth_url = spec.auth_url
        self.users = {'%s:%s' % (a, u): k for a, u, k, _g in USERS}

    def connection(self, user='test:tester', **kwargs):
        """A new swiftclient Connection for ``user`` (retries=1 unless given)."""
        kwargs.setdefault('retries', 1)
        return swiftclient.client.Connection(self.auth_url, user, self.users[user], **kwargs)

    def auth(self, user='test:tester'):
        """(storage_url, token) of ``user``."""
        return swiftclient.client.get_auth(self.auth_url, user, self.users[user])

    def __repr__(self):
        return '<AioCluster %s at %s>' % (self.name, self.proxy_url)


def _remove_stale_device_dirs():
    """Remove device dirs in /dev/shm left by test sessions that died (their pid is gone)."""
    for entry in os.listdir(SHM):
        if entry.startswith(SHM_PREFIX):
            pid = entry[len(SHM_PREFIX):].split('-', 1)[0]
            if pid.isdigit() and not os.path.exists('/proc/' + pid):
                shutil.rmtree(os.path.join(SHM, entry), ignore_errors=True)


def device_dir(name):
    """A fresh directory for a test cluster's devices: on tmpfs (/dev/shm) when there is one
    (fast, and xattrs big enough for Swift's default metadata limits), else '' (the default,
    under the cluster directory)."""
    if not (os.path.isdir(SHM) and os.access(SHM, os.W_OK)):
        return ''
    _remove_stale_device_dirs()
    return tempfile.mkdtemp(prefix='%s%d-%s-' % (SHM_PREFIX, os.getpid(), name), dir=SHM)


def launch(root, name, **fields):
    """Start a cluster in ``root``; FAIL the test (never skip) if it cannot start."""
    errors = []
    devices = fields.pop('devices', None)
    if devices is None:
        devices = device_dir(name)
    fields.setdefault('owner_pid', os.getpid())  # a killed session leaves no cluster behind
    for attempt in range(START_ATTEMPTS):
        if devices:
            fields['devices'] = os.path.join(devices, str(attempt))
        try:
            spec = aio.spec_with_free_ports('%s-%d' % (root, attempt), **fields)
            summary = aio.start(spec)
            return AioCluster(name, spec, summary['zerocloud_filters'])
        except aio.ClusterError as exc:  # e.g. a port taken between check and bind
            errors.append(str(exc))
    if devices:
        shutil.rmtree(devices, ignore_errors=True)
    pytest.fail('the all-in-one cluster did not start:\n' + '\n'.join(errors))


def shut_down(found):
    """Stop a cluster and free its device space (logs and configs stay for post-mortems)."""
    aio.stop(found.spec)
    devices = found.devices_dir
    parent = os.path.dirname(devices)
    if parent.startswith(os.path.join(SHM, SHM_PREFIX)):
        devices = parent  # the whole per-cluster dir, all attempts
    # never /dev/shm itself: other sessions' clusters keep their devices there
    if os.path.realpath(devices) != os.path.realpath(SHM):
        shutil.rmtree(devices, ignore_errors=True)


@pytest.fixture(scope='session')
def start_cluster(tmp_path_factory):
    """Factory: ``start_cluster(**ClusterSpec fields)`` -> AioCluster, stopped at session end."""
    started = []

    def factory(name='custom', **fields):
        root = str(tmp_path_factory.mktemp('aio-' + name))
        found = launch(root, name, **fields)
        started.append(found)
        return found

    yield factory
    for found in started:
        shut_down(found)


@pytest.fixture(scope='session')
def cluster(start_cluster):
    """The default cluster with zerocloud's filters (see the module docstring)."""
    return start_cluster('zerocloud', zerocloud=True)


@pytest.fixture(scope='session')
def plain_cluster(start_cluster):
    """The same cluster without any zerocloud filter."""
    return start_cluster('plain', zerocloud=False)
