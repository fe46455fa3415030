"""Zapps on the real cluster (SPEC S1.2, S1.4, the ``image`` device; issue 12).

A zapp is a tar whose ``boot/system.map`` is the job; the tar is the read-only image of
every session, at ``/``.  Every zapp here holds a fresh nonce, so its ETag is new to the
object servers' image cache (shared by the cluster's servers, kept across runs).
"""
import gzip
import io
import json
import os
import re
import tarfile
import uuid

import pytest
import requests

TAR = 'application/x-tar'
MAIN_PY = b'''import sys
words = open('/data/words.txt').read().split()
print(len(words), sorted(words)[0], *sys.stdin.read().split())
'''
PYTHON_JOB = [{'name': 'py', 'exec': {'path': 'file://python:python', 'args': '/main.py'},
               'devices': [{'name': 'python'}, {'name': 'stdout'}]}]


def tar_bytes(members, compress=False):
    """A tar of ``members``: ``(name, bytes)`` for files, or a ready ``TarInfo``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w', format=tarfile.GNU_FORMAT) as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
                continue
            name, data, mode = (member + (0o644,))[:3]
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    data = buffer.getvalue()
    return gzip.compress(data) if compress else data


def zapp(job, files=(), compress=False):
    """A zapp running ``job``, with ``files`` and a fresh nonce."""
    members = [('boot/system.map', json.dumps(job).encode())] + list(files)
    members.append(('nonce', uuid.uuid4().hex.encode()))
    return tar_bytes(members, compress)


def python_zapp(compress=False):
    return zapp(PYTHON_JOB, [('main.py', MAIN_PY), ('data/words.txt', b'pear apple fig')],
                compress)


def post(cluster, body, content_type=TAR, url=None, headers=None):
    storage_url, token = cluster.auth()
    all_headers = {'X-Auth-Token': token, 'X-Zerovm-Execute': '1.0',
                   'Content-Type': content_type}
    all_headers.update(headers or {})
    return requests.post(url or storage_url, data=body, headers=all_headers, timeout=120)


@pytest.fixture(scope='module')
def container(cluster):
    name = 'zapps-' + uuid.uuid4().hex
    cluster.connection().put_container(name)
    return name


@pytest.fixture(scope='module')
def cat(c_program):
    with open(c_program('sb_cat'), 'rb') as handle:
        return handle.read()


@pytest.mark.parametrize('compress', [False, True], ids=['tar', 'gzip'])
def test_a_posted_zapp_runs_its_python_program_from_the_image(cluster, compress):
    resp = post(cluster, python_zapp(compress),
                'application/x-gzip' if compress else TAR)
    assert resp.status_code == 200, resp.text
    assert resp.text == '3 apple\n' and resp.headers['X-Nexe-Status'] == 'ok'


def test_a_posted_zapp_runs_a_static_program_inside_it(cluster, cat):
    job = [{'name': 'cat', 'exec': {'path': 'bin/cat', 'args': '/data/hello.txt'},
            'devices': [{'name': 'stdout'}]},
           {'name': 'named', 'exec': {'path': 'file://image:bin/cat', 'args': '/nonce'},
            'devices': [{'name': 'stdout'}]}]
    body = zapp(job, [('bin/cat', cat, 0o755), ('data/hello.txt', b'hello from the image\n')])
    resp = post(cluster, body)
    assert resp.status_code == 200, resp.text
    assert resp.text.startswith('hello from the image\n')
    assert re.fullmatch(r'hello from the image\n[0-9a-f]{32}', resp.text)
    assert resp.headers['X-Nexe-Retcode'] == '0,0'


def test_the_second_run_of_a_zapp_takes_its_image_from_the_cache(cluster):
    """Each server process unpacks an image once (its cache lives and dies with the
    process's work directory): 5 runs on 4 servers give at least one cache hit, and on
    every server the first run unpacked and later ones used the cache."""
    body = python_zapp()
    etag = __import__('hashlib').md5(body).hexdigest()
    for _ in range(5):
        resp = post(cluster, body)
        assert resp.status_code == 200 and resp.text == '3 apple\n', resp.text
    per_server = {}
    for name in sorted(os.listdir(cluster.log_dir)):
        if name.startswith('object') and name.endswith('.log'):
            with open(os.path.join(cluster.log_dir, name), errors='replace') as handle:
                lines = [line for line in handle if 'image %s' % etag in line]
            if lines:
                per_server[name] = lines
    assert sum(len(lines) for lines in per_server.values()) == 5, per_server
    for lines in per_server.values():
        assert 'image %s unpacked (' % etag in lines[0]
        assert all('image %s from the image cache' % etag in line for line in lines[1:])
    assert any(len(lines) > 1 for lines in per_server.values())


def test_the_image_device_names_a_zapp_object(cluster, container):
    cluster.connection().put_object(container, 'app.zapp', python_zapp(),
                                    content_type=TAR)
    job = [dict(PYTHON_JOB[0], devices=PYTHON_JOB[0]['devices'] + [
        {'name': 'image', 'path': 'swift://~/%s/app.zapp' % container}])]
    resp = post(cluster, json.dumps(job).encode(), 'application/json')
    assert resp.status_code == 200 and resp.text == '3 apple\n', resp.text


def test_the_image_device_is_read_as_the_caller(cluster, container):
    cluster.connection().put_object(container, 'private.zapp', python_zapp(),
                                    content_type=TAR)
    job = [dict(PYTHON_JOB[0], devices=PYTHON_JOB[0]['devices'] + [
        {'name': 'image', 'path': 'swift://AUTH_test/%s/private.zapp' % container}])]
    storage_url, token = cluster.auth('test2:tester2')
    resp = requests.post(storage_url, data=json.dumps(job), timeout=60, headers={
        'X-Auth-Token': token, 'X-Zerovm-Execute': '1.0', 'Content-Type': 'application/json'})
    assert resp.status_code in (401, 403), resp.text
    assert 'private.zapp' in resp.text


def test_x_zerovm_source_runs_a_stored_job_with_the_body_on_stdin(cluster, container):
    job = [{'name': 'echo', 'exec': {'path': 'file://python:python', 'args': [
        '-c', 'import sys; print(sys.stdin.read().upper())']},
        'devices': [{'name': 'python'}, {'name': 'stdin'}, {'name': 'stdout'}]}]
    cluster.connection().put_object(container, 'job.json', json.dumps(job),
                                    content_type='application/json')
    resp = post(cluster, b'body data', 'text/plain',
                headers={'X-Zerovm-Source': 'swift://~/%s/job.json' % container})
    assert resp.status_code == 200 and resp.text == 'BODY DATA\n', resp.text


def test_x_zerovm_source_runs_a_stored_script_with_the_body_on_stdin(cluster, container):
    script = b'#!file://python:python\nimport sys\nprint(sys.stdin.read()[::-1])\n'
    cluster.connection().put_object(container, 'rev.py', script, content_type='text/x-python')
    resp = post(cluster, b'abc', 'text/plain',
                headers={'X-Zerovm-Source': 'swift://./%s/rev.py' % container})
    assert resp.status_code == 200 and resp.text == 'cba\n', resp.text


def test_x_zerovm_source_runs_a_stored_zapp(cluster, container):
    cluster.connection().put_object(container, 'src.zapp', python_zapp(True),
                                    content_type='application/x-gzip')
    job = [dict(PYTHON_JOB[0], devices=PYTHON_JOB[0]['devices'] + [{'name': 'stdin'}])]
    cluster.connection().put_object(
        container, 'stdin.zapp', zapp(job, [('main.py', MAIN_PY), ('data/words.txt', b'z y')]),
        content_type=TAR)
    resp = post(cluster, b'', 'text/plain',
                headers={'X-Zerovm-Source': 'swift://~/%s/src.zapp' % container})
    assert resp.status_code == 200 and resp.text == '3 apple\n', resp.text
    resp = post(cluster, b'from the body', 'text/plain',
                headers={'X-Zerovm-Source': 'swift://~/%s/stdin.zapp' % container})
    assert resp.status_code == 200 and resp.text == '2 y from the body\n', resp.text


def test_x_zerovm_source_errors_name_the_object(cluster, container):
    resp = post(cluster, b'', 'text/plain',
                headers={'X-Zerovm-Source': 'swift://~/%s/missing' % container})
    assert resp.status_code == 404 and '%s/missing' % container in resp.text
    resp = post(cluster, b'', 'text/plain', headers={'X-Zerovm-Source': 'http://x/y'})
    assert resp.status_code == 400 and 'X-Zerovm-Source' in resp.text


@pytest.mark.parametrize('body,words', [
    (tar_bytes([('main.py', b'print(1)')]), 'boot/system.map'),
    (gzip.compress(tar_bytes([('boot/system.map', b'[]')]))[:-12] + b'garbage!1234',
     'corrupt gzip'),
    (b'this is not a tar at all' * 40, 'corrupt tar'),
    (tar_bytes([('boot/system.map', b'x' * 600)])[:700], 'corrupt tar'),
], ids=['no-map', 'gzip', 'not-tar', 'truncated'])
def test_a_broken_zapp_is_400_naming_the_problem(cluster, body, words):
    resp = post(cluster, body)
    assert resp.status_code == 400 and words in resp.text, resp.text


def test_a_map_that_is_not_a_valid_job_is_400_with_every_problem_located(cluster):
    resp = post(cluster, zapp([{'name': 'bad name!', 'exec': {'path': 'bin/x'},
                                'devices': [{'name': 'stdot'}]}]))
    assert resp.status_code == 400, resp.text
    assert 'boot/system.map is not a valid job' in resp.text
    assert '[0].name:' in resp.text and '[0].devices[0].name:' in resp.text


def test_a_program_missing_from_the_image_is_404_naming_it(cluster):
    job = [{'name': 'x', 'exec': {'path': 'bin/missing'}, 'devices': [{'name': 'stdout'}]}]
    resp = post(cluster, zapp(job))
    assert resp.status_code == 404 and 'bin/missing' in resp.text, resp.text


def _link(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def _device(name):
    info = tarfile.TarInfo(name)
    info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
    return info


@pytest.mark.parametrize('member,name', [
    (('../escape.txt', b'x'), '../escape.txt'),
    (_link('etc', '/etc'), 'etc'),
    (_link('up', '../../..'), 'up'),
    (_device('null'), 'null'),
], ids=['dotdot', 'absolute-link', 'link-out', 'device'])
def test_a_hostile_zapp_is_refused_naming_the_member(cluster, member, name):
    resp = post(cluster, zapp(PYTHON_JOB, [('main.py', MAIN_PY), member]))
    assert resp.status_code == 400, resp.text
    assert name in resp.text and 'image' in resp.text, resp.text


def test_a_zapp_is_posted_to_the_account(cluster, container):
    storage_url, _ = cluster.auth()
    resp = post(cluster, python_zapp(), url='%s/%s' % (storage_url, container))
    assert resp.status_code == 400 and 'zapp is POSTed to the account' in resp.text
