"""Jobs on the real all-in-one cluster: what is decided before any sandbox runs.

Plain Swift keeps working through both pipelines; authorization (S7); bad jobs and missing
inputs; forged backend headers.
"""
import json
import uuid

import pytest
import requests

JSON = 'application/json'


def post_job(cluster, job, user='test:tester', account_url=None, headers=None):
    url, token = cluster.auth(user)
    all_headers = {'X-Auth-Token': token, 'X-Zerovm-Execute': '1.0', 'Content-Type': JSON}
    all_headers.update(headers or {})
    body = job if isinstance(job, bytes) else json.dumps(job).encode()
    return requests.post(account_url or url, data=body, headers=all_headers, timeout=60)


@pytest.fixture(scope='module')
def data(cluster):
    conn = cluster.connection()
    container = 'zc-' + uuid.uuid4().hex
    conn.put_container(container)
    conn.put_object(container, 'in.txt', b'hello\nworld\n', content_type='text/plain')
    conn.put_object(container, 'exe', b'\x7fELF not really', content_type='application/x-nexe')
    return container


def job_on(container, stdout=None, account='~'):
    devices = [{'name': 'stdin', 'path': 'swift://%s/%s/in.txt' % (account, container)},
               {'name': 'stdout'}]
    if stdout:
        devices[1]['path'] = stdout
    return [{'name': 'cat', 'exec': {'path': 'swift://%s/%s/exe' % (account, container)},
             'devices': devices}]


def test_zerocloud_filters_are_in_the_pipelines(cluster):
    assert 'proxy_middleware' in cluster.zerocloud_filters
    assert 'object_middleware' in cluster.zerocloud_filters
    info = requests.get(cluster.proxy_url + '/info', timeout=10).json()
    assert info['zerocloud']['max_config_bytes'] == 65536


def test_plain_swift_requests_behave_as_before(cluster, data):
    conn = cluster.connection()
    conn.put_object(data, 'plain', b'x' * 1000, headers={'X-Object-Meta-A': 'b'})
    headers, body = conn.get_object(data, 'plain')
    assert body == b'x' * 1000 and headers['x-object-meta-a'] == 'b'
    conn.post_object(data, 'plain', headers={'X-Object-Meta-A': 'c'})
    assert conn.head_object(data, 'plain')['x-object-meta-a'] == 'c'
    assert 'plain' in [o['name'] for o in conn.get_container(data)[1]]
    conn.post_account({'X-Account-Meta-Zc': '1'})
    assert conn.head_account()['x-account-meta-zc'] == '1'
    conn.delete_object(data, 'plain')


def test_bad_job_is_400_naming_the_field(cluster):
    resp = post_job(cluster, [{'name': 'a', 'exec': {'path': 5}}])
    assert resp.status_code == 400 and 'exec.path' in resp.text


def test_unparsable_json_is_400(cluster):
    resp = post_job(cluster, b'[{"name": ')
    assert resp.status_code == 400


def test_too_large_job_is_413(cluster):
    resp = post_job(cluster, b' ' * 70000 + b'[]')
    assert resp.status_code == 413


def test_missing_input_is_404_naming_it(cluster, data):
    job = job_on(data)
    job[0]['devices'][0]['path'] = 'swift://~/%s/nothing-here' % data
    resp = post_job(cluster, job)
    assert resp.status_code == 404 and '/%s/nothing-here' % data in resp.text


def test_other_account_cannot_read_through_a_job(cluster, data):
    owner_url, _ = cluster.auth('test:tester')
    owner = owner_url.rstrip('/').rsplit('/', 1)[1]
    other = cluster.connection('test2:tester2')
    other.put_container('mine')
    other.put_object('mine', 'exe', b'\x7fELF')
    job = [{'name': 'steal', 'exec': {'path': 'swift://~/mine/exe'},
            'devices': [{'name': 'stdin', 'path': 'swift://%s/%s/in.txt' % (owner, data)},
                        {'name': 'stdout'}]}]
    resp = post_job(cluster, job, user='test2:tester2')
    assert resp.status_code in (401, 403), resp.text


def test_other_account_cannot_write_through_a_job(cluster, data):
    owner_url, _ = cluster.auth('test:tester')
    owner = owner_url.rstrip('/').rsplit('/', 1)[1]
    other = cluster.connection('test2:tester2')
    other.put_container('mine2')
    other.put_object('mine2', 'in', b'data')
    other.put_object('mine2', 'exe', b'\x7fELF')
    job = [{'name': 'vandal', 'exec': {'path': 'swift://~/mine2/exe'},
            'devices': [{'name': 'stdin', 'path': 'swift://~/mine2/in'},
                        {'name': 'stdout', 'path': 'swift://%s/%s/defaced' % (owner, data)}]}]
    resp = post_job(cluster, job, user='test2:tester2')
    assert resp.status_code in (401, 403), resp.text


def test_other_account_cannot_execute_on_first_account(cluster, data):
    owner_url, _ = cluster.auth('test:tester')
    resp = post_job(cluster, job_on(data), user='test2:tester2', account_url=owner_url)
    assert resp.status_code in (401, 403)


def test_non_admin_user_without_post_right_cannot_execute(cluster, data):
    owner_url, _ = cluster.auth('test:tester')
    resp = post_job(cluster, job_on(data), user='test:tester3', account_url=owner_url)
    assert resp.status_code in (401, 403)


def test_forged_backend_headers_are_ignored(cluster, data):
    url, token = cluster.auth()
    resp = requests.put('%s/%s/forged' % (url, data), data=b'abc', timeout=10, headers={
        'X-Auth-Token': token, 'X-Backend-Zerocloud-Version': '1',
        'X-Backend-Zerocloud-Executable-Etag': '0' * 32})
    assert resp.status_code == 201
    resp = requests.get('%s/%s/forged' % (url, data), headers={'X-Auth-Token': token},
                        timeout=10)
    assert resp.content == b'abc'
    resp = requests.request('EXECUTE', '%s/%s/forged' % (url, data), timeout=10, headers={
        'X-Auth-Token': token, 'X-Backend-Zerocloud-Version': '1'})
    assert resp.status_code in (405, 501)


def test_replicated_node_with_channels_is_400_naming_it(cluster, data):
    exe = {'path': 'swift://~/%s/exe' % data}
    job = [{'name': 'map', 'exec': exe, 'replicate': 2, 'connect': ['reduce']},
           {'name': 'reduce', 'exec': exe, 'devices': [{'name': 'stdout'}]}]
    resp = post_job(cluster, job)
    assert resp.status_code == 400, resp.text
    assert resp.text.startswith('map: "replicate" cannot be used on a node with network')
