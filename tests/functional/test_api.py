"""/api/ REST endpoints (SPEC S1.6) on the real all-in-one cluster: any method runs the
container's Rest-Endpoint app with the CGI environment and the request body on stdin."""
import hashlib
import json
import os
import uuid

import pytest

from tests.functional.webapp_support import (account_of, api_url, app_job, call, deploy)


@pytest.fixture(scope='module')
def app(cluster):
    container = 'zcapi-' + uuid.uuid4().hex
    return deploy(cluster, app_job(account_of(cluster), container), container=container)


def test_get_runs_the_app_with_the_cgi_environment(cluster, app):
    resp = call(cluster, 'GET', api_url(cluster, app, '/items/a%20b?x=1&y=2'),
                headers={'X-Zc-Test': 'seen'})
    assert resp.status_code == 200, (resp.headers, resp.text)
    assert resp.headers['Content-Type'] == 'application/json'
    assert resp.headers['X-Nexe-System'] == 'app'
    seen = resp.json()
    assert seen['REQUEST_METHOD'] == 'GET' and seen['PATH_INFO'] == '/items/a%20b'
    assert seen['QUERY_STRING'] == 'x=1&y=2' and seen['HTTP_X_ZC_TEST'] == 'seen'
    assert seen['body_length'] == 0


def test_a_put_body_of_3_mib_reaches_the_apps_stdin(cluster, app):
    body = os.urandom(3 * 1024 * 1024 + 5)
    resp = call(cluster, 'PUT', api_url(cluster, app, '/upload'), data=body)
    assert resp.status_code == 200, (resp.headers, resp.text)
    seen = resp.json()
    assert seen['REQUEST_METHOD'] == 'PUT' and seen['PATH_INFO'] == '/upload'
    assert seen['body_length'] == len(body)
    assert seen['body_md5'] == hashlib.md5(body).hexdigest()


def test_a_chunked_post_body_reaches_the_apps_stdin(cluster, app):
    pieces = [b'alpha ' * 1000, b'beta ' * 3000, b'gamma']
    resp = call(cluster, 'POST', api_url(cluster, app), data=iter(pieces))
    assert resp.status_code == 200, (resp.headers, resp.text)
    seen = resp.json()
    assert seen['REQUEST_METHOD'] == 'POST' and seen['PATH_INFO'] == '/'
    assert seen['body_md5'] == hashlib.md5(b''.join(pieces)).hexdigest()


def test_delete_and_head_run_the_app_too(cluster, app):
    resp = call(cluster, 'DELETE', api_url(cluster, app, '/items/7'))
    assert resp.status_code == 200 and resp.json()['REQUEST_METHOD'] == 'DELETE'
    resp = call(cluster, 'HEAD', api_url(cluster, app, '/items/7'))
    assert resp.status_code == 200 and resp.content == b''
    assert resp.headers['X-Nexe-Status'] == 'ok'


def test_the_api_execute_header_on_a_v1_path_is_the_same(cluster, app):
    url, _ = cluster.auth()
    resp = call(cluster, 'POST', '%s/%s/v/1?q' % (url, app), data=b'12345',
                headers={'X-Zerovm-Execute': 'api/1.0'})
    assert resp.status_code == 200, (resp.headers, resp.text)
    seen = resp.json()
    assert seen['PATH_INFO'] == '/v/1' and seen['body_length'] == 5
    assert seen['QUERY_STRING'] == 'q'


def test_callers_without_the_right_to_run_are_refused(cluster, app):
    assert call(cluster, 'GET', api_url(cluster, app), user=None).status_code == 401
    resp = call(cluster, 'GET', api_url(cluster, app), user='test2:tester2')
    assert resp.status_code == 403, resp.text


def test_endpoint_errors_name_what_is_wrong(cluster, app):
    conn = cluster.connection()
    bare = 'zcapi-bare-' + uuid.uuid4().hex
    conn.put_container(bare)
    resp = call(cluster, 'GET', api_url(cluster, bare, '/x'))
    assert resp.status_code == 404 and 'X-Container-Meta-Rest-Endpoint' in resp.text
    conn.post_container(bare, {'X-Container-Meta-Rest-Endpoint': 'swift://~/c/o'})
    resp = call(cluster, 'GET', api_url(cluster, bare, '/x'))
    assert resp.status_code == 409 and 'is not a swift://' in resp.text, resp.text
    conn.put_object(bare, 'notes.txt', b'hi', content_type='text/plain')
    conn.post_container(bare, {'X-Container-Meta-Rest-Endpoint': 'swift://%s/%s/notes.txt'
                               % (account_of(cluster), bare)})
    resp = call(cluster, 'GET', api_url(cluster, bare, '/x'))
    assert resp.status_code == 409 and 'is text/plain' in resp.text, resp.text
    conn.post_container(bare, {'X-Container-Meta-Rest-Endpoint': 'swift://%s/%s/gone.json'
                               % (account_of(cluster), bare)})
    resp = call(cluster, 'GET', api_url(cluster, bare, '/x'))
    assert resp.status_code == 404 and 'gone.json' in resp.text, resp.text
    resp = call(cluster, 'GET', '%s/api/%s' % (cluster.proxy_url, account_of(cluster)))
    assert resp.status_code == 400 and 'name a container' in resp.text
    resp = call(cluster, 'PATCH', api_url(cluster, app, '/x'))
    assert resp.status_code == 405 and 'DELETE' in resp.headers['Allow']


def test_an_endpoint_job_is_kept_in_memcache(cluster):
    container = 'zcapi-' + uuid.uuid4().hex
    job = app_job(account_of(cluster), container)
    deploy(cluster, job, container=container)
    assert call(cluster, 'GET', api_url(cluster, container)).status_code == 200
    broken = json.dumps([{'name': 'app'}]).encode()    # not a valid job
    cluster.connection().put_object(container, 'app.json', broken,
                                    content_type='application/json')
    resp = call(cluster, 'GET', api_url(cluster, container))
    assert resp.status_code == 200, resp.text          # the cached job answers (60 s)
