"""``zerocloud submit`` and ``zerocloud zapp bundle|deploy`` against the real cluster (issue 12).

The command runs as a user would run it (a subprocess), with credentials from the ``ST_*``
environment or from flags.
"""
import json
import os
import subprocess
import sys
import tarfile
import uuid

import pytest

HELLO_JOB = [{'name': 'hello',
              'exec': {'path': 'file://python:python', 'args': ['-c', 'print(6 * 7)']},
              'devices': [{'name': 'stdout'}, {'name': 'python'}]}]
SCRIPT = b'#!file://python:python\nimport sys\nprint(sys.stdin.read().upper(), end="")\n'


def zerocloud(args, env=None, stdin=None):
    """Run ``zerocloud ARGS``: the CompletedProcess (bytes stdout, text stderr)."""
    base = {key: value for key, value in os.environ.items()
            if not key.startswith(('ST_', 'OS_'))}
    base.update(env or {})
    result = subprocess.run([sys.executable, '-m', 'zerocloud'] + list(args), env=base,
                            input=stdin, capture_output=True, timeout=300)
    result.stderr = result.stderr.decode('utf-8', 'replace')
    return result


@pytest.fixture(scope='module')
def st_env(cluster):
    return {'ST_AUTH': cluster.auth_url, 'ST_USER': 'test:tester',
            'ST_KEY': cluster.users['test:tester']}


@pytest.fixture(scope='module')
def container(cluster):
    name = 'zcsubmit-' + uuid.uuid4().hex
    cluster.connection().put_container(name)
    cluster.connection().put_object(name, 'words.txt', b'alpha beta\n')
    return name


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else json.dumps(data).encode())
    return str(path)


def test_json_job_prints_body_and_a_readable_report(st_env, tmp_path):
    result = zerocloud(['submit', write(tmp_path, 'job.json', HELLO_JOB)], st_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b'42\n'
    lines = result.stderr.splitlines()
    assert lines[0].startswith('HTTP 200 OK   total ')
    assert lines[1].split() == ['instance', 'server', 'status', 'exit', 'validation',
                                'seconds', 'cpu', 'read', 'n/bytes', 'written', 'n/bytes',
                                'net', 'in', 'net', 'out']
    name, server, status, retcode, validation = lines[2].split()[:5]
    assert (name, status, retcode, validation) == ('hello', 'ok', '0', 'not')
    assert server.startswith('127.0.0.1:')
    writes, wbytes = map(int, lines[2].split()[-3].split('/'))     # "42\n" was written
    assert writes >= 1 and wbytes >= 3, lines


def test_json_report_has_every_field_and_the_body(st_env, tmp_path):
    result = zerocloud(['submit', '--json', write(tmp_path, 'job.json', HELLO_JOB)], st_env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report['http_status'] == 200 and report['error'] is None
    assert report['body'] == '42\n' and report['total_seconds'] > 0
    [instance] = report['instances']
    assert instance['name'] == 'hello' and instance['status'] == 'ok'
    assert instance['retcode'] == 0 and instance['validation'] == 'not checked'
    assert instance['server'].startswith('127.0.0.1:') and instance['colocated'] is False
    assert instance['cdr']['writes'] >= 1 and instance['cdr']['wbytes'] >= 3
    assert instance['cdr']['seconds'] > 0 and set(instance['cdr']) == {
        'seconds', 'sys', 'user', 'reads', 'rbytes', 'writes', 'wbytes', 'nreads', 'nrbytes',
        'nwrites', 'nwbytes'}


def test_script_runs_next_to_an_object_with_credentials_from_flags(cluster, container,
                                                                   tmp_path):
    flags = ['-A', cluster.auth_url, '-U', 'test:tester', '-K', cluster.users['test:tester']]
    result = zerocloud(['submit', write(tmp_path, 'up.py', SCRIPT), '--object',
                        container + '/words.txt'] + flags)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b'ALPHA BETA\n'
    assert ' ok ' in result.stderr.splitlines()[2]


def test_body_goes_to_the_output_file(st_env, tmp_path):
    output = tmp_path / 'out.txt'
    result = zerocloud(['submit', write(tmp_path, 's.py', b'#!file://python:python\n'
                                        b'print("to a file")\n'), '-o', str(output)], st_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b'' and output.read_bytes() == b'to a file\n'


def test_nonzero_exit_of_a_program_is_exit_status_3(st_env, tmp_path):
    script = b'#!file://python:python\nimport sys\nprint("bye")\nsys.exit(5)\n'
    result = zerocloud(['submit', write(tmp_path, 'exit.py', script)], st_env)
    assert result.returncode == 3, result.stderr
    assert result.stderr.splitlines()[2].split()[2:4] == ['ok', '5']


def test_failed_session_is_a_nonzero_exit_naming_the_failure(st_env, tmp_path):
    script = b'#!file://python:python\nimport os\nos.abort()\n'
    result = zerocloud(['submit', '--json', write(tmp_path, 'abort.py', script)], st_env)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report['instances'][0]['status'] != 'ok'
    assert report['error'].startswith(report['instances'][0]['name'] + ' failed')


def test_bad_job_is_a_nonzero_exit_with_the_servers_located_problems(st_env, tmp_path):
    job = [{'name': 'bad', 'exec': {'path': 'file://python:python'},
            'devices': [{'name': 'stdout', 'mode': 'bogus'}]}]
    result = zerocloud(['submit', write(tmp_path, 'bad.json', job)], st_env)
    assert result.returncode == 1
    assert 'HTTP 400' in result.stderr and '[0].devices[0].mode' in result.stderr


def test_missing_credentials_and_bad_arguments_are_usage_errors(tmp_path):
    job = write(tmp_path, 'job.json', HELLO_JOB)
    result = zerocloud(['submit', job])
    assert result.returncode == 2 and 'ST_AUTH' in result.stderr
    assert 'Traceback' not in result.stderr
    result = zerocloud(['submit', job, '--data', job], {'ST_AUTH': 'x', 'ST_USER': 'y',
                                                         'ST_KEY': 'z'})
    assert result.returncode == 2 and '--data' in result.stderr
    result = zerocloud(['submit', str(tmp_path / 'missing.json')])
    assert result.returncode == 2 and 'missing.json' in result.stderr


def test_wrong_key_is_a_clear_authentication_error(cluster, tmp_path):
    result = zerocloud(['submit', write(tmp_path, 'job.json', HELLO_JOB), '-A',
                        cluster.auth_url, '-U', 'test:tester', '-K', 'wrong'])
    assert result.returncode == 2
    assert 'authentication failed' in result.stderr and 'Traceback' not in result.stderr


def make_app(tmp_path, system_map):
    app = tmp_path / 'app'
    (app / 'boot').mkdir(parents=True)
    (app / 'boot' / 'system.map').write_bytes(json.dumps(system_map).encode())
    (app / 'bin').mkdir()
    (app / 'bin' / 'tool.py').write_bytes(b'print("tool")\n')
    os.symlink('bin/tool.py', app / 'main.py')
    return app


def test_bundle_refuses_a_bad_map_with_the_located_problem(tmp_path):
    bad = [{'name': 'x', 'exec': {'path': 'file://python:python'}, 'count': 0}]
    app = make_app(tmp_path, bad)
    result = zerocloud(['zapp', 'bundle', str(app), '-o', str(tmp_path / 'app.zapp')])
    assert result.returncode == 1
    assert 'boot/system.map: invalid job (HTTP 400):' in result.stderr
    assert '  [0].count: ' in result.stderr
    assert not (tmp_path / 'app.zapp').exists()


def test_bundle_then_deploy_uploads_the_zapp_with_its_content_type(cluster, st_env,
                                                                    container, tmp_path):
    app = make_app(tmp_path, HELLO_JOB)
    zapp = str(tmp_path / 'app.zapp')
    result = zerocloud(['zapp', 'bundle', str(app), '-o', zapp])
    assert result.returncode == 0, result.stderr
    with tarfile.open(zapp) as tar:
        names = tar.getnames()
        assert names[0] == 'boot/system.map'
        assert set(names) == {'boot/system.map', 'bin', 'bin/tool.py', 'boot', 'main.py'}
        assert tar.getmember('main.py').issym()
    result = zerocloud(['zapp', 'deploy', container, zapp], st_env)
    assert result.returncode == 0, result.stderr
    assert ('swift://' in result.stdout.decode()
            and '/%s/app.zapp' % container in result.stdout.decode())
    headers, body = cluster.connection().get_object(container, 'app.zapp')
    assert headers['content-type'] == 'application/x-gzip'
    assert body == open(zapp, 'rb').read()


def test_submit_of_a_zapp_posts_it_as_a_tar(st_env, tmp_path):
    app = make_app(tmp_path, HELLO_JOB)
    zapp = str(tmp_path / 'plain.zapp')
    assert zerocloud(['zapp', 'bundle', str(app), '-o', zapp, '--no-gzip']).returncode == 0
    result = zerocloud(['submit', '--json', zapp], st_env)
    report = json.loads(result.stdout)
    # Until the proxy accepts images (issue 12's integration) it names what it was sent.
    assert report['http_status'] in (200, 501), result.stderr
    if report['http_status'] == 501:
        assert 'application/x-tar' in report['body'] and result.returncode == 1
    else:
        assert report['body'] == '42\n' and result.returncode == 0


def test_deploy_refuses_a_file_that_is_not_a_zapp(st_env, container, tmp_path):
    result = zerocloud(['zapp', 'deploy', container, write(tmp_path, 'x.zapp', HELLO_JOB)],
                       st_env)
    assert result.returncode == 1 and 'corrupt tar' in result.stderr
