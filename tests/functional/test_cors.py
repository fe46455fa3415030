"""CORS (``zerovm_use_cors``) on a real cluster: /api/, /open/ and job answers carry the
container's CORS headers as Swift's own answers do; pre-flight OPTIONS for /api/.

A 1-node cluster of its own with ``zerovm_use_cors = yes`` and ``zerovm_maxinput = 1M``.
"""
import uuid

import pytest
import requests

from tests.functional.webapp_support import account_of, api_url, app_job, call, deploy

ORIGIN = 'https://app.example'


@pytest.fixture(scope='module')
def cors_cluster(start_cluster):
    return start_cluster('cors', nodes=1, replicas=1, filter_options={
        'proxy_middleware': {'zerovm_use_cors': 'yes', 'zerovm_maxinput': '1M'}})


@pytest.fixture(scope='module')
def app(cors_cluster):
    container = 'zccors-' + uuid.uuid4().hex
    deploy(cors_cluster, app_job(account_of(cors_cluster), container), container=container,
           suid='.r:*', read_acl='.r:*')
    cors_cluster.connection().post_container(container, {
        'X-Container-Meta-Access-Control-Allow-Origin': ORIGIN + ' https://other.example',
        'X-Container-Meta-Access-Control-Expose-Headers': 'X-Custom-One',
        'X-Container-Meta-Access-Control-Max-Age': '600'})
    cors_cluster.connection().put_object(container, 'plain.txt', b'plain')
    return container


def test_an_api_answer_carries_the_containers_cors_headers_like_a_plain_get(
        cors_cluster, app):
    resp = call(cors_cluster, 'GET', api_url(cors_cluster, app, '/x'),
                headers={'Origin': ORIGIN})
    assert resp.status_code == 200, (resp.headers, resp.text)
    assert resp.headers['Access-Control-Allow-Origin'] == ORIGIN
    assert resp.headers['Vary'] == 'Origin'
    exposed = resp.headers['Access-Control-Expose-Headers'].split(', ')
    assert {'etag', 'x-nexe-status', 'x-nexe-retcode', 'x-custom-one',
            'x-chain-length'} <= set(exposed)
    plain = call(cors_cluster, 'GET', '%s/%s/plain.txt' % (cors_cluster.auth()[0], app),
                 headers={'Origin': ORIGIN})
    assert plain.headers['Access-Control-Allow-Origin'] == ORIGIN    # Swift's own
    assert plain.headers['Vary'] == 'Origin'
    assert {'etag', 'x-custom-one'} <= set(
        plain.headers['Access-Control-Expose-Headers'].split(', '))


def test_an_origin_the_container_does_not_allow_gets_no_cors_headers(cors_cluster, app):
    resp = call(cors_cluster, 'GET', api_url(cors_cluster, app),
                headers={'Origin': 'https://evil.example'})
    assert resp.status_code == 200
    assert 'Access-Control-Allow-Origin' not in resp.headers


def test_errors_carry_cors_headers_too(cors_cluster, app):
    resp = call(cors_cluster, 'PATCH', api_url(cors_cluster, app),
                headers={'Origin': ORIGIN})
    assert resp.status_code == 405
    assert resp.headers['Access-Control-Allow-Origin'] == ORIGIN


def test_a_preflight_for_the_api_is_answered(cors_cluster, app):
    url = api_url(cors_cluster, app, '/items/1')
    resp = requests.options(url, timeout=30, headers={
        'Origin': ORIGIN, 'Access-Control-Request-Method': 'PUT',
        'Access-Control-Request-Headers': 'x-auth-token, content-type'})
    assert resp.status_code == 200, (resp.headers, resp.text)
    assert resp.headers['Access-Control-Allow-Origin'] == ORIGIN
    assert 'PUT' in resp.headers['Access-Control-Allow-Methods'].split(', ')
    assert resp.headers['Access-Control-Allow-Headers'] == 'x-auth-token, content-type'
    assert resp.headers['Access-Control-Max-Age'] == '600'
    assert 'X-Nexe-System' not in resp.headers          # the app did not run
    refused = requests.options(url, timeout=30, headers={
        'Origin': 'https://evil.example', 'Access-Control-Request-Method': 'PUT'})
    assert refused.status_code == 401 and 'Access-Control-Allow-Origin' not in refused.headers
    refused = requests.options(url, timeout=30, headers={
        'Origin': ORIGIN, 'Access-Control-Request-Method': 'PATCH'})
    assert refused.status_code == 401


def test_open_and_script_answers_carry_cors_headers(cors_cluster, app):
    account = account_of(cors_cluster)
    conn = cors_cluster.connection()
    conn.put_container('.zvm')
    resp = requests.get('%s/open/%s/%s/plain.txt' % (cors_cluster.proxy_url, account, app),
                        headers={'Origin': ORIGIN}, timeout=60)
    assert resp.status_code == 404 and 'no handler' in resp.text   # an error, with CORS
    assert resp.headers['Access-Control-Allow-Origin'] == ORIGIN
    url, token = cors_cluster.auth()
    resp = requests.post('%s/%s/plain.txt' % (url, app), timeout=60, headers={
        'X-Auth-Token': token, 'X-Zerovm-Execute': '1.0', 'Origin': ORIGIN},
        data=b'#!file://python:python\nimport sys; print(sys.stdin.read().upper())\n')
    assert resp.status_code == 200 and resp.text == 'PLAIN\n', resp.text
    assert resp.headers['Access-Control-Allow-Origin'] == ORIGIN
    resp = requests.post(url, timeout=60, headers={        # an account has no CORS
        'X-Auth-Token': token, 'X-Zerovm-Execute': '1.0', 'Origin': ORIGIN},
        data=b'#!file://python:python\nprint(1)\n')
    assert resp.status_code == 200 and 'Access-Control-Allow-Origin' not in resp.headers


def test_an_api_body_over_zerovm_maxinput_is_413(cors_cluster, app):
    resp = call(cors_cluster, 'PUT', api_url(cors_cluster, app, '/big'),
                data=b'x' * (1024 * 1024 + 1))
    assert resp.status_code == 413 and 'zerovm_maxinput' in resp.text, resp.text
    resp = call(cors_cluster, 'PUT', api_url(cors_cluster, app, '/big'),
                data=iter([b'x' * 65536] * 17))       # chunked: found while spooling
    assert resp.status_code == 413 and 'zerovm_maxinput' in resp.text, resp.text


def test_without_zerovm_use_cors_there_are_no_cors_headers(cluster):
    container = 'zccors-' + uuid.uuid4().hex
    deploy(cluster, app_job(account_of(cluster), container), container=container)
    cluster.connection().post_container(container, {
        'X-Container-Meta-Access-Control-Allow-Origin': ORIGIN})
    resp = call(cluster, 'GET', api_url(cluster, container), headers={'Origin': ORIGIN})
    assert resp.status_code == 200 and 'Access-Control-Allow-Origin' not in resp.headers
    resp = requests.options(api_url(cluster, container), timeout=30, headers={
        'Origin': ORIGIN, 'Access-Control-Request-Method': 'GET'})
    assert resp.status_code == 200 and 'Access-Control-Allow-Origin' not in resp.headers
    assert resp.headers['Allow'] == 'GET, HEAD, POST, PUT, DELETE, OPTIONS'


@pytest.mark.parametrize('path', ['/api/%s/', '/open/%s/'])
def test_a_preflight_without_a_container_is_no_server_error(cors_cluster, path):
    """Found by the fuzz: ``OPTIONS /api/<acct>/`` (an empty container name) was a 500."""
    url = cors_cluster.proxy_url + path % account_of(cors_cluster)
    resp = requests.options(url, timeout=30, headers={
        'Origin': ORIGIN, 'Access-Control-Request-Method': 'GET'})
    assert resp.status_code < 500, resp.text
    assert 'Access-Control-Allow-Origin' not in resp.headers
