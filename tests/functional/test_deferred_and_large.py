"""Responses of any size and deferred jobs on the default cluster (issue 16, items 3 and 4).

A job of 2,500 tiny instances answers summary headers that requests and swiftclient's http
layer parse, and links its full report object; a deferred job answers 202 with its URL and
keeps its status, headers and body objects; a cancelled deferred job publishes nothing.
"""
import json
import time
import urllib.parse
import uuid

import pytest
import requests
import swiftclient.client

INSTANCES = 2500
JOB_REQUEST_TIMEOUT = 600   # a guard against a hang, not an expectation
STATUS_POLL_LIMIT = 120     # polls of a deferred job's status, 0.5 s apart
JOB_HEADERS = {'X-Zerovm-Execute': '1.0', 'Content-Type': 'application/json'}


@pytest.fixture(scope='module')
def stage(cluster, c_program):
    conn = cluster.connection()
    container = 'zcdefer-' + uuid.uuid4().hex
    conn.put_container(container)
    for name in ('hello', 'sb_wc', 'sb_cat'):
        with open(c_program(name), 'rb') as handle:
            conn.put_object(container, name, handle.read(),
                            content_type='application/x-nexe')
    for index in range(3):
        conn.put_object(container, 'in-%d' % index, b'x' * (index + 1) + b'\n')
    conn.put_object(container, 'sleepy.py', b'import time\nprint("partial", flush=True)\n'
                                            b'time.sleep(8)\n')
    return container


def post(cluster, job, **headers):
    url, token = cluster.auth()
    return requests.post(url, data=json.dumps(job), timeout=JOB_REQUEST_TIMEOUT,
                         headers=dict(JOB_HEADERS, **{'X-Auth-Token': token}, **headers))


def object_of(cluster, swift_url):
    """(headers, body) of a ``swift://<account>/<container>/<object>`` object."""
    account, container, obj = swift_url[len('swift://'):].split('/', 2)
    url, token = cluster.auth()
    assert url.endswith('/' + account)
    return cluster.connection().get_object(container, obj)


def final_status(cluster, url):
    """The status object of a deferred job once it has ended (bounded polling)."""
    for _ in range(STATUS_POLL_LIMIT):
        try:
            status = json.loads(object_of(cluster, url + '.status')[1])
        except swiftclient.client.ClientException:
            status = None
        if status and status['state'] in ('done', 'failed', 'cancelled'):
            return status
        time.sleep(0.5)
    raise AssertionError('the job did not end: %s' % status)


def hello_job(stage, count):
    return [{'name': 'hi', 'count': count, 'exec': {'path': 'swift://~/%s/hello' % stage},
             'devices': [{'name': 'stdout'}]}]


def test_2500_instances_answer_summaries_that_requests_and_swiftclient_parse(cluster, stage):
    resp = post(cluster, hello_job(stage, INSTANCES))
    assert resp.status_code == 200, (resp.headers.get('X-Nexe-Error'), resp.text[:300])
    assert resp.headers['X-Nexe-Summary'] == str(INSTANCES)
    assert resp.headers['X-Nexe-System'] == 'hi-1..hi-%d' % INSTANCES
    assert resp.headers['X-Nexe-Status'] == 'ok*%d' % INSTANCES
    assert resp.headers['X-Nexe-Retcode'] == '0*%d' % INSTANCES
    assert sum(len(k) + len(v) for k, v in resp.headers.items()) < 4096
    assert resp.text.splitlines() == ['hello, world'] * INSTANCES
    report = json.loads(object_of(cluster, resp.headers['X-Nexe-Report'])[1])
    assert [entry['name'] for entry in report['instances']] == [
        'hi-%d' % n for n in range(1, INSTANCES + 1)]
    assert {entry['status'] for entry in report['instances']} == {'ok'}
    assert {entry['retcode'] for entry in report['instances']} == {0}
    assert len({entry['server'] for entry in report['instances']}) == 4   # every server
    assert all(set(entry['cdr']) >= {'seconds', 'wbytes'} for entry in report['instances'])
    # swiftclient's own http layer (what swiftclient.client's calls use)
    url, token = cluster.auth()
    parsed, conn = swiftclient.client.http_connection(url)
    conn.request('POST', parsed.path, json.dumps(hello_job(stage, INSTANCES)),
                 dict(JOB_HEADERS, **{'X-Auth-Token': token}))
    answer = conn.getresponse()
    body = answer.read()
    headers = {name.lower(): value for name, value in answer.getheaders()}
    assert answer.status == 200 and body.count(b'hello, world\n') == INSTANCES
    assert headers['x-nexe-status'] == 'ok*%d' % INSTANCES
    assert headers['x-nexe-report'] != resp.headers['X-Nexe-Report']   # one per job


def test_a_deferred_job_keeps_its_status_and_stores_its_answer(cluster, stage):
    out = 'copy-' + uuid.uuid4().hex
    job = [{'name': 'wc', 'exec': {'path': 'swift://~/%s/sb_wc' % stage},
            'devices': [{'name': 'stdin', 'path': 'swift://~/%s/in-*' % stage},
                        {'name': 'stdout'}]},
           {'name': 'copy', 'exec': {'path': 'swift://~/%s/sb_cat' % stage},
            'devices': [{'name': 'stdin', 'path': 'swift://~/%s/in-2' % stage},
                        {'name': 'stdout', 'path': 'swift://~/%s/%s' % (stage, out)}]}]
    resp = post(cluster, job, **{'X-Zerovm-Deferred': 'always'})
    assert resp.status_code == 202, resp.text
    url = resp.text.strip()
    assert resp.headers['X-Zerovm-Deferred-Url'] == url
    account = urllib.parse.urlparse(cluster.auth()[0]).path.split('/')[2]
    assert url.startswith('swift://%s/.zerocloud-jobs/' % account)
    status = final_status(cluster, url)
    assert status['state'] == 'done' and status['http_status'] == 200, status
    assert status['instances'] == {'total': 4, 'done': 4, 'failed': 0}
    assert status['bytes'] == len(b'1 1 2\n1 1 3\n1 1 4\nxxx\n')
    assert status['error'] is None and status['elapsed_seconds'] > 0
    headers = json.loads(object_of(cluster, url + '.headers')[1])
    assert headers['X-Nexe-System'] == 'wc-1,wc-2,wc-3,copy'
    assert headers['X-Nexe-Status'] == 'ok,ok,ok,ok'
    body_headers, body = object_of(cluster, url)
    assert body == b'1 1 2\n1 1 3\n1 1 4\n'
    assert body_headers['content-type'].startswith('text/plain')
    assert cluster.connection().get_object(stage, out)[1] == b'xxx\n'


def test_a_cancelled_deferred_job_publishes_nothing(cluster, stage):
    out = 'never-' + uuid.uuid4().hex
    job = [{'name': 'slow', 'count': 2, 'exec': {'path': 'file://python:python',
                                                 'args': '/dev/script'},
            'devices': [{'name': 'python'},
                        {'name': 'script', 'path': 'swift://~/%s/sleepy.py' % stage},
                        {'name': 'stdout', 'path': 'swift://~/%s/%s-*' % (stage, out)}]}]
    resp = post(cluster, job, **{'X-Zerovm-Deferred': 'always'})
    assert resp.status_code == 202, resp.text
    url = resp.text.strip()
    status = json.loads(object_of(cluster, url + '.status')[1])
    assert status['state'] in ('queued', 'running') and status['instances']['total'] == 2
    container, name = url[len('swift://'):].split('/', 2)[1:]
    cluster.connection().put_object(container, name + '.cancel', b'')
    status = final_status(cluster, url)
    assert status['state'] == 'cancelled', status
    assert 'cancelled by its owner' in status['error']
    headers = json.loads(object_of(cluster, url + '.headers')[1])
    assert 'cancelled by its owner' in headers['X-Nexe-Error']
    assert cluster.connection().get_container(stage, prefix=out)[1] == []


def test_a_deferred_job_needs_a_known_mode_and_cancel_needs_write_rights(cluster, stage):
    resp = post(cluster, hello_job(stage, 1), **{'X-Zerovm-Deferred': 'sometimes'})
    assert resp.status_code == 400 and 'X-Zerovm-Deferred' in resp.text
    resp = post(cluster, hello_job(stage, 1), **{'X-Zerovm-Deferred': 'auto'})
    assert resp.status_code == 200 and resp.text == 'hello, world\n'   # ended in time
    resp = post(cluster, hello_job(stage, 1), **{'X-Zerovm-Deferred': 'always'})
    container, name = resp.text.strip()[len('swift://'):].split('/', 2)[1:]
    other = cluster.connection('test2:tester2')
    url, _ = cluster.auth()
    with pytest.raises(swiftclient.client.ClientException) as refused:
        swiftclient.client.put_object(url, other.get_auth()[1], container, name + '.cancel',
                                      b'')
    assert refused.value.http_status == 403
    assert final_status(cluster, resp.text.strip())['state'] == 'done'


def test_submit_deferred_wait_shows_progress_then_the_result(cluster, tmp_path):
    from tests.functional.test_cli_submit import HELLO_JOB, zerocloud
    env = {'ST_AUTH': cluster.auth_url, 'ST_USER': 'test:tester',
           'ST_KEY': cluster.users['test:tester']}
    job = tmp_path / 'job.json'
    job.write_text(json.dumps(HELLO_JOB))
    result = zerocloud(['submit', str(job), '--deferred', '--wait'], env)
    assert result.returncode == 0, result.stderr
    url, body = result.stdout.split(b'\n', 1)
    assert url.startswith(b'swift://') and b'/.zerocloud-jobs/' in url
    assert body == b'42\n'
    assert '1/1 instances done, 0 failed' in result.stderr and '(done)' in result.stderr
    assert 'hello' in result.stderr and 'ok' in result.stderr
    result = zerocloud(['submit', '--cancel', url.decode()], env)
    assert result.returncode == 0 and 'HTTP 201' in result.stderr   # the mark is written
    result = zerocloud(['submit', str(job), '--wait'], env)
    assert result.returncode == 2 and '--wait follows a --deferred job' in result.stderr
