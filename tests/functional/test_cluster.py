"""The all-in-one cluster is a real, whole Swift, and zerocloud's filters change nothing for
ordinary requests: every check runs against the cluster with the filters and without them.
"""
import concurrent.futures
import configparser
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

import pytest
import requests
import swiftclient.client
from swiftclient.exceptions import ClientException

from zerocloud.aio import cluster as aio, processes

MIB = 1024 * 1024


@pytest.fixture(scope='module', params=['zerocloud', 'plain'])
def swift(request):
    """Each test runs once on the cluster with zerocloud's filters, once on the plain one."""
    return request.getfixturevalue('cluster' if request.param == 'zerocloud'
                                   else 'plain_cluster')


@pytest.fixture
def conn(swift):
    return swift.connection('test:tester')


@pytest.fixture
def container(conn):
    name = 'c-' + uuid.uuid4().hex
    conn.put_container(name)
    return name


def _status_of(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except ClientException as exc:
        return exc.http_status
    return 'ok'


def test_upload_download_keeps_bytes_and_metadata(conn, container):
    body = os.urandom(70000)
    etag = conn.put_object(container, 'dir/obj', body, content_type='application/x-test',
                           headers={'X-Object-Meta-Colour': 'blue'})
    assert etag == hashlib.md5(body).hexdigest()
    headers, got = conn.get_object(container, 'dir/obj')
    assert got == body
    assert headers['content-type'] == 'application/x-test'
    assert headers['x-object-meta-colour'] == 'blue'
    assert int(headers['content-length']) == len(body)
    ranged = conn.get_object(container, 'dir/obj', headers={'Range': 'bytes=10-19'})[1]
    assert ranged == body[10:20]


def test_metadata_up_to_the_advertised_limit_is_stored(swift, conn, container):
    constraints = requests.get(swift.proxy_url + '/info').json()['swift']
    limit, value_max = constraints['max_meta_overall_size'], constraints['max_meta_value_length']
    headers, used, index = {}, 0, 0
    while used + 8 + value_max <= limit:  # name 'k%07d' (8 bytes) + a full-length value
        headers['X-Object-Meta-k%07d' % index] = 'v' * value_max
        used, index = used + 8 + value_max, index + 1
    headers['X-Object-Meta-rest'] = 'v' * (limit - used - 4)
    conn.put_object(container, 'meta', b'm', headers=headers)
    stored = conn.head_object(container, 'meta')
    assert stored['x-object-meta-rest'] == headers['X-Object-Meta-rest']
    headers['X-Object-Meta-rest'] += 'v'
    assert _status_of(conn.put_object, container, 'meta2', b'm', headers=headers) == 400


def test_listing_with_prefix_and_delimiter(conn, container):
    for name in ('a/1', 'a/2', 'b/1', 'top'):
        conn.put_object(container, name, name.encode())
    names = [o['name'] for o in conn.get_container(container)[1]]
    assert names == ['a/1', 'a/2', 'b/1', 'top']
    assert [o['name'] for o in conn.get_container(container, prefix='a/')[1]] == ['a/1', 'a/2']
    grouped = conn.get_container(container, delimiter='/')[1]
    assert [o.get('subdir', o.get('name')) for o in grouped] == ['a/', 'b/', 'top']
    assert container in [c['name'] for c in conn.get_account()[1]]


def test_server_side_copy(conn, container):
    conn.put_object(container, 'source', b'copy me', headers={'X-Object-Meta-K': 'v'})
    conn.copy_object(container, 'source', '/%s/copy' % container)
    headers, body = conn.get_object(container, 'copy')
    assert body == b'copy me' and headers['x-object-meta-k'] == 'v'
    conn.put_object(container, 'copy2', b'', headers={'X-Copy-From': '%s/source' % container})
    assert conn.get_object(container, 'copy2')[1] == b'copy me'


def test_delete_object_then_container(conn, container):
    conn.put_object(container, 'gone', b'x')
    conn.delete_object(container, 'gone')
    assert _status_of(conn.get_object, container, 'gone') == 404
    conn.delete_container(container)
    assert _status_of(conn.head_container, container) == 404


def test_second_account_is_denied_until_a_read_acl_grants_it(swift, conn, container):
    conn.put_object(container, 'private', b'secret')
    other = swift.connection('test2:tester2')
    own_url = conn.get_auth()[0]
    other_url, other_token = other.get_auth()
    url = '%s/%s/private' % (own_url, container)
    assert requests.get(url, headers={'X-Auth-Token': other_token}).status_code == 403
    assert requests.put(url, data=b'x', headers={'X-Auth-Token': other_token}).status_code == 403
    assert requests.get(url).status_code == 401
    non_admin = swift.connection('test:tester3')
    assert _status_of(non_admin.get_object, container, 'private') == 403
    conn.post_container(container, {'X-Container-Read': 'test2:tester2'})
    response = requests.get(url, headers={'X-Auth-Token': other_token})
    assert response.status_code == 200 and response.content == b'secret'
    assert requests.put(url, data=b'x', headers={'X-Auth-Token': other_token}).status_code == 403
    assert other_url != own_url


def test_wrong_key_is_refused(swift):
    response = requests.get(swift.auth_url, headers={'X-Auth-User': 'test:tester',
                                                    'X-Auth-Key': 'wrong'})
    assert response.status_code == 401


class PatternReader:
    """A file-like, deterministic stream of ``total`` bytes, never all in memory."""

    BLOCK = hashlib.sha256(b'zerocloud').digest() * (MIB // 32)

    def __init__(self, total):
        self.left = total

    def read(self, size=-1):
        size = MIB if size is None or size < 0 else min(size, MIB)
        piece = self.BLOCK[:min(size, self.left)]
        self.left -= len(piece)
        return piece


def test_100_mib_object_streams_both_ways(conn, container):
    size = 100 * MIB
    expected, source = hashlib.md5(), PatternReader(size)
    for piece in iter(source.read, b''):
        expected.update(piece)
    etag = conn.put_object(container, 'big', PatternReader(size), content_length=size,
                           chunk_size=MIB)
    assert etag == expected.hexdigest()
    headers, body = conn.get_object(container, 'big', resp_chunk_size=MIB)
    got, length = hashlib.md5(), 0
    for piece in body:
        got.update(piece)
        length += len(piece)
    assert length == size == int(headers['content-length'])
    assert got.hexdigest() == expected.hexdigest() == headers['etag']


def test_1000_small_objects_concurrently(swift, container):
    local = threading.local()

    def connection():
        if not hasattr(local, 'conn'):
            local.conn = swift.connection('test:tester')
        return local.conn

    def put(i):
        connection().put_object(container, 'small-%04d' % i, b'object %d' % i)

    def get(i):
        return connection().get_object(container, 'small-%04d' % i)[1] == b'object %d' % i

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, range(1000)))
        assert all(pool.map(get, range(1000)))
    conn = swift.connection('test:tester')
    listing = conn.get_container(container, full_listing=True)[1]
    assert [o['name'] for o in listing] == ['small-%04d' % i for i in range(1000)]
    assert int(conn.head_container(container)['x-container-object-count']) == 1000


def test_both_storage_policies_store_objects(conn):
    names = {'gold': 'g-' + uuid.uuid4().hex, 'silver': 's-' + uuid.uuid4().hex}
    conn.put_container(names['gold'])
    conn.put_container(names['silver'], headers={'X-Storage-Policy': 'silver'})
    for policy, name in names.items():
        conn.put_object(name, 'o', policy.encode())
        assert conn.head_container(name)['x-storage-policy'] == policy
        assert conn.get_object(name, 'o')[1] == policy.encode()
        assert [o['name'] for o in conn.get_container(name)[1]] == ['o']
    assert _status_of(conn.put_container, 'x-' + uuid.uuid4().hex,
                      headers={'X-Storage-Policy': 'bronze'}) == 400


def test_info_shows_policies_and_middlewares(swift):
    info = requests.get(swift.proxy_url + '/info').json()
    assert sorted(p['name'] for p in info['swift']['policies']) == ['ec', 'gold', 'silver']
    assert [p['name'] for p in info['swift']['policies'] if p.get('default')] == ['gold']
    for middleware in ('tempauth', 'slo', 'bulk_upload', 'symlink'):
        assert middleware in info


def test_zerocloud_filters_are_in_the_pipelines_only_when_asked(swift):
    proxy = configparser.ConfigParser(interpolation=None)
    proxy.read(os.path.join(swift.etc_dir, 'proxy-server.conf'))
    obj = configparser.ConfigParser(interpolation=None)
    obj.read(os.path.join(swift.etc_dir, 'object-server', '1.conf'))
    proxy_pipeline = proxy['pipeline:main']['pipeline'].split()
    object_pipeline = obj['pipeline:main']['pipeline'].split()
    if swift.name == 'plain':
        assert swift.zerocloud_filters == ()
        assert 'proxy_middleware' not in proxy_pipeline
        assert 'object_middleware' not in object_pipeline
    else:
        assert {'proxy_middleware', 'object_middleware'} <= set(swift.zerocloud_filters)
        after_auth = proxy_pipeline[proxy_pipeline.index('tempauth') + 1:]
        assert after_auth[after_auth.index('proxy_middleware') + 1:] == [
            'staticweb', 'copy', 'container-quotas', 'account-quotas', 'slo', 'dlo',
            'versioned_writes', 'symlink', 'proxy-logging', 'proxy-server']
        assert object_pipeline[-2:] == ['object_middleware', 'object-server']


def _aio(*args):
    result = subprocess.run([sys.executable, '-m', 'zerocloud', 'aio'] + list(args),
                            capture_output=True, text=True, timeout=120)
    return result.returncode, result.stdout + result.stderr


def test_aio_command_start_twice_env_status_stop_twice(tmp_path):
    root = str(tmp_path / 'cli-aio')
    port = str(aio.spec_with_free_ports(root, nodes=1, replicas=1).port)
    common = ['--dir', root]
    try:
        code, out = _aio('start', '--nodes', '1', '--replicas', '1', '--port', port,
                         '--set', 'proxy:zerovm_maxconfig=2000', *common)
        assert code == 0, out
        assert 'http://127.0.0.1:%s/auth/v1.0' % port in out and 'test:tester' in out
        with urllib.request.urlopen('http://127.0.0.1:%s/info' % port) as resp:
            assert json.load(resp)['zerocloud']['max_config_bytes'] == 2000
        code, out = _aio('start', *common)
        assert code == 0 and 'already running' in out
        code, out = _aio('start', '--set', 'proxy:zerovm_maxconfig=3000', *common)
        assert code == 1 and 'stop it first' in out and '"2000"' in out
        code, out = _aio('status', *common)
        lines = out.splitlines()
        assert code == 0 and len(lines) == 6 and all(line.endswith(' healthy') for line in lines)
        pids = [int(line.split()[1]) for line in lines]
        code, out = _aio('env', *common)
        env = dict(item.split('=', 1) for item in out.split()[1:])
        conn = swiftclient.client.Connection(env['ST_AUTH'], env['ST_USER'], env['ST_KEY'])
        conn.put_container('via-env')
        assert [c['name'] for c in conn.get_account()[1]] == ['via-env']
        code, out = _aio('start', '--nodes', '2', *common)
        assert code == 1 and 'nodes' in out
        memcache_pid = pids[1]
        os.kill(memcache_pid, signal.SIGTERM)
        for _ in range(200):
            if not processes.is_alive(memcache_pid):
                break
            time.sleep(0.05)
        code, out = _aio('start', *common)
        assert code == 1 and 'partly running' in out and 'memcache' in out
        code, out = _aio('status', *common)
        assert code == 3 and 'memcache       -        stopped' in out
    finally:
        code, out = _aio('stop', *common)
    assert code == 0 and 'stopped 5 processes' in out
    assert not any(processes.is_alive(pid) for pid in pids)  # gone or a zombie
    code, out = _aio('stop', *common)
    assert code == 0 and 'nothing was running' in out
    code, out = _aio('status', *common)
    assert code == 3 and out.count('stopped') == 6


def test_memcache_is_the_real_memcached(swift):
    """`make deps` installs memcached; the cluster runs it (tempauth's tokens live there)."""
    pid = processes.running_pid(os.path.join(swift.dir, 'run'), 'memcache')
    assert pid and os.path.basename(os.readlink('/proc/%d/exe' % pid)) == 'memcached'
    assert aio.memcache_kind() == 'memcached'
