"""Jobs that really run in the sandbox on the all-in-one cluster (issue 5, "What it must show").

These need the sandbox supervisor (``zerocloud.sandbox.start_supervisor``/``SupervisorClient``):
without it every session reports an error and these tests FAIL (they never skip).
"""
import http.client
import json
import os
import subprocess
import sys
import uuid

import pytest
import requests

from tests.functional.test_jobs_checks import post_job


@pytest.fixture(scope='module')
def stage(cluster, c_program):
    conn = cluster.connection()
    container = 'zcrun-' + uuid.uuid4().hex
    conn.put_container(container)
    conn.put_object(container, 'in.txt', b'alpha\nbeta\n', content_type='text/plain',
                    headers={'X-Object-Meta-Color': 'blue'})
    for name in ('sb_args', 'sb_cat', 'sb_exit', 'sb_int80', 'sb_limits'):
        with open(c_program(name), 'rb') as handle:
            conn.put_object(container, name, handle.read(),
                            content_type='application/x-nexe')
    conn.put_object(container, 'script.py', b'import sys\nsys.stdout.write(sys.stdin.read()'
                    b'.upper())\nsys.stderr.write("py-err")\n')
    return container


def object_nodes(cluster, account, container, obj):
    """'ip:port' of the primary object servers of an object, from the cluster's own ring.

    Asked in a separate process: loading a ring needs the cluster's swift.conf (hash
    prefix), which must not leak into this test process's Swift globals.
    """
    script = ('import sys, json; from swift.common.utils import set_swift_dir; '
              'set_swift_dir(sys.argv[1]); from swift.common.ring import Ring; '
              'print(json.dumps(["%s:%s" % (n["ip"], n["port"]) for n in '
              'Ring(sys.argv[1], ring_name="object").get_nodes(*sys.argv[2:5])[1]]))')
    output = subprocess.run([sys.executable, '-c', script, cluster.etc_dir, account,
                             container, obj], check=True, capture_output=True).stdout
    return set(json.loads(output))


def log_lines(cluster, prefix):
    """Every line of the cluster's server logs whose file name starts with ``prefix``."""
    lines = []
    for name in sorted(os.listdir(cluster.log_dir)):
        if name.startswith(prefix) and name.endswith('.log'):
            with open(os.path.join(cluster.log_dir, name), errors='replace') as handle:
                lines.extend(handle)
    return lines


def node(container, exe, devices, args=(), env=None):
    return [{'name': 'job', 'exec': {'path': 'swift://~/%s/%s' % (container, exe),
                                     'args': list(args), 'env': env or {}},
             'devices': devices}]


def stdin_of(container):
    return {'name': 'stdin', 'path': 'swift://~/%s/in.txt' % container}


def test_c_program_reads_its_object_and_answers(cluster, stage):
    resp = post_job(cluster, node(stage, 'sb_cat', [stdin_of(stage), {'name': 'stdout'},
                                                    {'name': 'stderr'}]))
    assert resp.status_code == 200, resp.text
    assert resp.headers['X-Nexe-Status'] == 'ok', resp.headers
    assert resp.content == b'alpha\nbeta\n'
    assert resp.headers['X-Nexe-Retcode'] == '0'
    assert resp.headers['X-Nexe-Colocated'] == '1'


def test_session_ran_on_a_server_holding_the_object(cluster, stage):
    resp = post_job(cluster, node(stage, 'sb_cat', [stdin_of(stage), {'name': 'stdout'}]))
    assert resp.status_code == 200 and resp.headers['X-Nexe-Status'] == 'ok', resp.headers
    ran_on = resp.headers['X-Nexe-Node']  # set by the object server that ran the session
    url, _ = cluster.auth()
    account = url.rstrip('/').rsplit('/', 1)[1]
    assert ran_on in object_nodes(cluster, account, stage, 'in.txt')
    assert resp.headers['X-Nexe-Colocated'] == '1'
    wanted = '/%s/%s/in.txt ran on %s' % (account, stage, ran_on)
    assert any(wanted in line for line in log_lines(cluster, 'object')), \
        'no object server logged %r' % wanted
    leaked = [line for line in log_lines(cluster, 'proxy')
              if 'GET /v1/%s/%s/in.txt' % (account, stage) in line]
    assert leaked == [], 'the input object went through the proxy: %s' % leaked


def test_stdout_to_a_new_object_with_type_and_meta(cluster, stage):
    devices = [stdin_of(stage), {'name': 'stdout', 'path': 'swift://~/%s/copy' % stage,
                                 'content_type': 'text/x-copy', 'meta': {'Origin': 'job'}}]
    resp = post_job(cluster, node(stage, 'sb_cat', devices))
    assert resp.status_code == 200 and resp.headers['X-Nexe-Status'] == 'ok', resp.headers
    headers, body = cluster.connection().get_object(stage, 'copy')
    assert body == b'alpha\nbeta\n' and headers['content-type'] == 'text/x-copy'
    assert headers['x-object-meta-origin'] == 'job'


def test_args_env_and_cgi_environment_arrive(cluster, stage):
    resp = post_job(cluster, node(stage, 'sb_args', [stdin_of(stage), {'name': 'stdout'}],
                                  args=['one', 'two'], env={'SB_EXIT': '7', 'K': 'v'}))
    assert resp.status_code == 200, resp.text
    argv, _, environ = resp.content.partition(b'\0::env::\0')
    assert argv.split(b'\0')[1:] == [b'one', b'two']
    env = dict(item.split(b'=', 1) for item in environ.split(b'\0') if b'=' in item)
    assert env[b'K'] == b'v' and env[b'REQUEST_METHOD'] == b'POST'
    assert env[b'SCRIPT_NAME'] == b'job' and env[b'LOCAL_OBJECT'] == b'on'
    assert env[b'LOCAL_HTTP_X_OBJECT_META_COLOR'] == b'blue'
    assert env[b'LOCAL_PATH_INFO'].endswith(b'/%s/in.txt' % stage.encode())
    assert resp.headers['X-Nexe-Retcode'] == '7'


def _environ_of(body):
    _, _, environ = body.partition(b'\0::env::\0')
    return dict(item.split(b'=', 1) for item in environ.split(b'\0') if b'=' in item)


@pytest.mark.parametrize('version', ['HTTP/1.1', 'HTTP/1.0'])
def test_server_protocol_is_the_request_lines_version(cluster, stage, version):
    """eventlet writes HTTP/1.0 into every environ; the program sees what the client sent."""
    url, token = cluster.auth()
    host, _, port = cluster.proxy_url.rpartition('/')[2].partition(':')
    body = json.dumps(node(stage, 'sb_args', [{'name': 'stdout'}])).encode()
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    conn._http_vsn_str = version            # http.client has no public way to speak 1.0
    conn._http_vsn = int(version[-3] + version[-1])
    conn.request('POST', url.partition(cluster.proxy_url)[2], body=body, headers={
        'X-Auth-Token': token, 'X-Zerovm-Execute': '1.0', 'Content-Type': 'application/json'})
    resp = conn.getresponse()
    content = resp.read()
    conn.close()
    assert resp.status == 200, content
    env = _environ_of(content)
    assert env[b'SERVER_PROTOCOL'] == version.encode()
    assert env[b'REQUEST_METHOD'] == b'POST' and env[b'GATEWAY_INTERFACE'] == b'CGI/1.1'


def test_python_script_runs_through_the_python_image(cluster, stage):
    job = [{'name': 'py', 'exec': {'path': 'file://python:python',
                                   'args': ['/dev/script']},
            'devices': [stdin_of(stage), {'name': 'stdout'}, {'name': 'stderr'},
                        {'name': 'script', 'path': 'swift://~/%s/script.py' % stage},
                        {'name': 'python'}]}]
    resp = post_job(cluster, job)
    assert resp.status_code == 200 and resp.headers['X-Nexe-Status'] == 'ok', resp.headers
    assert resp.content == b'ALPHA\nBETA\npy-err'


def test_rejected_executable_reports_validation(cluster, stage):
    resp = post_job(cluster, node(stage, 'sb_int80', [stdin_of(stage), {'name': 'stdout'}]))
    assert resp.status_code == 200
    assert resp.headers['X-Nexe-Validation'] == '1'
    assert 'validation' in resp.headers['X-Nexe-Status']
    assert 'int' in resp.headers['X-Nexe-Error']  # the reason: the int 0x80 gate
    assert b'RAN' not in resp.content


def test_failed_session_publishes_nothing(cluster, stage):
    devices = [stdin_of(stage), {'name': 'stdout', 'path': 'swift://~/%s/never' % stage}]
    post_job(cluster, node(stage, 'sb_int80', devices))
    with pytest.raises(Exception):
        cluster.connection().head_object(stage, 'never')


def test_timeout_kills_the_session_and_says_so(cluster, stage):
    resp = post_job(cluster, node(stage, 'sb_limits', [stdin_of(stage), {'name': 'stdout'}],
                                  args=['sleep']))
    assert resp.status_code == 200
    assert 'timeout' in resp.headers['X-Nexe-Status'], resp.headers
    assert resp.headers['X-Nexe-Retcode'] == ''


def test_read_acl_grant_lets_another_account_read(cluster, stage):
    owner_url, _ = cluster.auth('test:tester')
    owner = owner_url.rstrip('/').rsplit('/', 1)[1]
    conn = cluster.connection()
    shared = stage + '-shared'
    conn.put_container(shared, headers={'X-Container-Read': 'test2:tester2'})
    conn.put_object(shared, 'data', b'shared bytes\n')
    other = cluster.connection('test2:tester2')
    other.put_container('tools')
    other.put_object('tools', 'cat', conn.get_object(stage, 'sb_cat')[1])
    job = [{'name': 'reader', 'exec': {'path': 'swift://~/tools/cat'},
            'devices': [{'name': 'stdin', 'path': 'swift://%s/%s/data' % (owner, shared)},
                        {'name': 'stdout'}]}]
    resp = post_job(cluster, job, user='test2:tester2')
    assert resp.status_code == 200 and resp.headers['X-Nexe-Status'] == 'ok', resp.text
    assert resp.content == b'shared bytes\n'
    job[0]['devices'][0]['path'] = 'swift://%s/%s/in.txt' % (owner, stage)  # no grant
    assert post_job(cluster, job, user='test2:tester2').status_code in (401, 403)


def test_wildcard_job_runs_one_session_per_object_and_publishes_each(cluster, stage):
    conn = cluster.connection()
    for index in range(3):
        conn.put_object(stage, 'part/%d.txt' % index, b'part %d\n' % index)
    job = [{'name': 'copy', 'exec': {'path': 'swift://~/%s/sb_cat' % stage},
            'devices': [{'name': 'stdin', 'path': 'swift://~/%s/part/*.txt' % stage},
                        {'name': 'stdout', 'path': 'swift://~/%s/copied/*.out' % stage}]}]
    resp = post_job(cluster, job)
    assert resp.status_code == 200, resp.text
    assert resp.headers['X-Nexe-System'] == 'copy-1,copy-2,copy-3'
    assert resp.headers['X-Nexe-Status'] == 'ok,ok,ok'
    assert resp.headers['X-Nexe-Colocated'] == '1,1,1'
    for index in range(3):
        assert conn.get_object(stage, 'copied/%d.out' % index)[1] == b'part %d\n' % index


def test_job_without_inputs_runs_anywhere(cluster, stage):
    resp = post_job(cluster, node(stage, 'sb_exit', [{'name': 'stdout'}], args=['0']))
    assert resp.status_code == 200 and resp.headers['X-Nexe-Status'] == 'ok', resp.headers
    assert resp.content == b'exiting 0\n' and resp.headers['X-Nexe-Colocated'] == '0'


def test_job_with_only_an_output_runs_where_the_output_will_live(cluster, stage):
    devices = [{'name': 'stdout', 'path': 'swift://~/%s/made' % stage}]
    resp = post_job(cluster, node(stage, 'sb_exit', devices, args=['0']))
    assert resp.status_code == 200 and resp.headers['X-Nexe-Status'] == 'ok', resp.headers
    assert cluster.connection().get_object(stage, 'made')[1] == b'exiting 0\n'


def post_script(cluster, script, path=''):
    url, token = cluster.auth()
    return requests.post(url + path, data=script, timeout=60, headers={
        'X-Auth-Token': token, 'X-Zerovm-Execute': '1.0', 'Content-Type': 'text/x-python'})


def test_script_posted_to_the_account_runs_anywhere(cluster):
    resp = post_script(cluster, b'#!file://python:python\nprint(6 * 7)\n')
    assert resp.status_code == 200 and resp.headers['X-Nexe-Status'] == 'ok', resp.headers
    assert resp.text == '42\n' and resp.headers['Content-Type'].startswith('text/plain')


def test_script_posted_to_an_object_reads_it_as_stdin(cluster, stage):
    script = b'#!file://python:python\nimport sys\nprint(len(sys.stdin.read().split()))\n'
    resp = post_script(cluster, script, '/%s/in.txt' % stage)
    assert resp.status_code == 200 and resp.headers['X-Nexe-Status'] == 'ok', resp.headers
    assert resp.text == '2\n' and resp.headers['X-Nexe-Colocated'] == '1'


def test_script_without_a_shebang_is_400(cluster):
    resp = post_script(cluster, b'print(1)\n')
    assert resp.status_code == 400 and '#!' in resp.text
