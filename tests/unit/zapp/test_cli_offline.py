"""The client commands offline: bundling and checking zapps, request building, report
parsing, exit statuses and credentials (issue 12)."""
import argparse
import io
import json
import os
import tarfile

import pytest
import requests.structures

from zerocloud.cli import submit, swift_auth, zapp
from zerocloud.zapp import read_zapp

JOB = [{'name': 'hello', 'exec': {'path': 'file://python:python'}}]


def parsed(module, argv):
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.fixture
def app(tmp_path):
    root = tmp_path / 'app'
    (root / 'boot').mkdir(parents=True)
    (root / 'boot' / 'system.map').write_text(json.dumps(JOB))
    (root / 'a').mkdir()
    (root / 'a' / 'z.txt').write_text('z')
    (root / 'b.bin').write_bytes(b'\0' * 10)
    os.chmod(root / 'b.bin', 0o4755)
    return root


def test_bundle_puts_the_map_first_and_makes_a_zapp_the_server_reads(app, tmp_path):
    output = str(tmp_path / 'app.zapp')
    assert zapp.main(parsed(zapp, ['bundle', str(app), '-o', output])) == 0
    with tarfile.open(output) as tar:
        assert tar.getnames() == ['boot/system.map', 'a', 'a/z.txt', 'b.bin', 'boot']
        assert {m.uname for m in tar.getmembers()} == {''}
    with open(output, 'rb') as stream:
        head = read_zapp(stream)
    assert head.compression == 'gzip' and json.loads(head.system_map) == JOB


def test_bundle_leaves_out_the_zapp_it_writes_inside_the_directory(app):
    output = str(app / 'self.zapp')
    assert zapp.main(parsed(zapp, ['bundle', str(app), '-o', output, '--no-gzip'])) == 0
    with tarfile.open(output) as tar:
        assert 'self.zapp' not in tar.getnames()


def test_bundle_refuses_links_out_of_the_directory_and_special_files(app, tmp_path, capsys):
    os.symlink(str(tmp_path), app / 'out')
    assert zapp.main(parsed(zapp, ['bundle', str(app), '-o', str(tmp_path / 'x')])) == 2
    assert 'outside the zapp directory' in capsys.readouterr().err
    os.unlink(app / 'out')
    os.mkfifo(app / 'fifo')
    assert zapp.main(parsed(zapp, ['bundle', str(app), '-o', str(tmp_path / 'x')])) == 2
    assert 'fifo: not a regular file, directory or symlink' in capsys.readouterr().err


def test_bundle_without_a_map_names_it(tmp_path, capsys):
    assert zapp.main(parsed(zapp, ['bundle', str(tmp_path), '-o', str(tmp_path / 'x')])) == 2
    assert 'boot/system.map' in capsys.readouterr().err


def test_bundle_checks_the_map_with_the_job_parser(app, tmp_path, capsys):
    (app / 'boot' / 'system.map').write_text('[{"name": "x", "exec": {}, "bogus": 1}]')
    assert zapp.main(parsed(zapp, ['bundle', str(app), '-o', str(tmp_path / 'x')])) == 1
    err = capsys.readouterr().err
    assert 'invalid job (HTTP 400):' in err and '[0].bogus' in err and '[0].exec.path' in err


@pytest.mark.parametrize('first, expected', [
    (b'\x1f\x8b\x08', 'application/x-gzip'),
    (b'x' * 257 + b'ustar\x0000', 'application/x-tar'),
    (b'#!file://python:python\n', 'text/plain'),
    (b'[{"name": "a"}]', 'application/json')])
def test_content_type_follows_the_bytes(first, expected):
    assert submit.content_type_of(first) == expected


def test_request_for_a_source_run_sends_the_data_as_body(tmp_path):
    data = tmp_path / 'data'
    data.write_bytes(b'payload')
    args = parsed(submit, ['--source', 'swift://a/c/app.zapp', '--data', str(data)])
    suffix, headers, body = submit.request_parts(args)
    assert suffix == '' and body.read() == b'payload'
    assert headers == {'X-Zerovm-Execute': '1.0', 'X-Zerovm-Source': 'swift://a/c/app.zapp'}
    body.close()


def test_request_to_an_object_quotes_its_path(tmp_path):
    script = tmp_path / 's.py'
    script.write_bytes(b'#!file://python:python\n')
    args = parsed(submit, [str(script), '--object', 'my c/ob j'])
    suffix, headers, body = submit.request_parts(args)
    assert suffix == '/my%20c/ob%20j' and headers['Content-Type'] == 'text/plain'
    body.close()


@pytest.mark.parametrize('argv, message', [
    ([], 'either a program file or --source'),
    (['job.json', '--source', 'swift://a/c/o'], 'either a program file or --source'),
    (['--source', 'http://x'], 'expected swift://'),
    (['--object', 'nocontainer', 'job.json'], 'expected CONTAINER/OBJECT')])
def test_bad_request_arguments_are_named(tmp_path, argv, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'job.json').write_text('[]')
    with pytest.raises(submit.UsageError, match=message):
        submit.request_parts(parsed(submit, argv))


def headers(**values):
    return requests.structures.CaseInsensitiveDict(
        {'X-Nexe-' + name.replace('_', '-'): value for name, value in values.items()})


def test_report_of_a_two_instance_job():
    report = submit.parse_report(200, 'OK', headers(
        System='map-1,map-2', Node='127.0.0.1:6010,127.0.0.1:6020',
        Status='ok,killed by signal SIGSEGV', Retcode='0,', Validation='0,2',
        Colocated='1,0', Error='map-2 failed: killed by signal SIGSEGV',
        Cdr_Line='1.500, 0.500 0.01 0.02 3 100 1 10 0 0 0 0, 1.000 0 0 0 0 0 0 2 20 1 5'))
    first, second = report['instances']
    assert first == {'name': 'map-1', 'server': '127.0.0.1:6010', 'status': 'ok',
                     'retcode': 0, 'validation': 'valid', 'colocated': True,
                     'cdr': {'seconds': 0.5, 'sys': 0.01, 'user': 0.02, 'reads': 3,
                             'rbytes': 100, 'writes': 1, 'wbytes': 10, 'nreads': 0,
                             'nrbytes': 0, 'nwrites': 0, 'nwbytes': 0}}
    assert second['retcode'] is None and second['validation'] == 'not checked'
    assert second['cdr']['nreads'] == 2 and report['total_seconds'] == 1.5
    assert submit.exit_status(report) == submit.EXIT_FAILED
    text = submit.format_report(report)
    assert 'map-2     127.0.0.1:6020  killed by signal SIGSEGV' in text
    assert text.endswith('error: map-2 failed: killed by signal SIGSEGV')


def test_exit_statuses():
    ok = submit.parse_report(200, 'OK', headers(System='a', Status='ok', Retcode='0'))
    assert submit.exit_status(ok) == 0
    nonzero = submit.parse_report(200, 'OK', headers(System='a', Status='ok', Retcode='2'))
    assert submit.exit_status(nonzero) == submit.EXIT_NONZERO
    refused = submit.parse_report(400, 'Bad Request', headers())
    assert submit.exit_status(refused) == submit.EXIT_FAILED
    assert submit.format_report(refused) == 'HTTP 400 Bad Request'


def auth_args(monkeypatch, env, argv=()):
    for name in list(os.environ):
        if name.startswith(('ST_', 'OS_')):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    parser = argparse.ArgumentParser()
    swift_auth.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_credentials_from_st_environment_and_flags_override(monkeypatch):
    args = auth_args(monkeypatch, {'ST_AUTH': 'http://a/auth/v1.0', 'ST_USER': 't:u',
                                   'ST_KEY': 'k'}, ['-K', 'flag-key'])
    options = swift_auth.options_of(args)
    assert (options['auth'], options['user'], options['key']) == \
        ('http://a/auth/v1.0', 't:u', 'flag-key')
    assert options['auth_version'] == '1.0'


def test_keystone_credentials_from_os_environment(monkeypatch):
    args = auth_args(monkeypatch, {'OS_AUTH_URL': 'http://ks/v3', 'OS_USERNAME': 'u',
                                   'OS_PASSWORD': 'p', 'OS_PROJECT_NAME': 'proj',
                                   'OS_USER_DOMAIN_NAME': 'Default'})
    options = swift_auth.options_of(args)
    assert options['auth_version'] == '3' and options['auth'] == 'http://ks/v3'
    assert options['os_options']['project_name'] == 'proj'


def test_token_and_storage_url_need_no_password(monkeypatch):
    args = auth_args(monkeypatch, {}, ['--os-auth-token', 'tok', '--os-storage-url', 'http://s'])
    assert swift_auth.options_of(args)['os_options']['object_storage_url'] == 'http://s'


def test_no_credentials_is_a_clear_error(monkeypatch):
    with pytest.raises(swift_auth.AuthError, match='ST_AUTH, ST_USER and ST_KEY'):
        swift_auth.options_of(auth_args(monkeypatch, {}))


def test_report_body_in_json_mode(capsys):
    class Response:
        def iter_content(self, size):
            return iter([b'4', b'2\n'])
    args = argparse.Namespace(output=None, json=True)
    submit.output_body(Response(), {'http_status': 200}, args)
    assert json.load(io.StringIO(capsys.readouterr().out))['body'] == '42\n'
