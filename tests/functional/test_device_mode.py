"""Device modes on the real cluster (issue 11, Servlets.md rule 16): the ``mode`` a job
writes decides what the program's ``stat()`` says and whether it can seek; without one a
device stays a regular file.  The program is ``tests/programs/sb_devices.py`` on the python
image, reporting each channel's type, whether it seeks and the bytes it read.
"""
import json
import os
import uuid

import pytest

from tests.functional.test_jobs_checks import post_job

SCRIPT = os.path.join(os.path.dirname(__file__), '..', 'programs', 'sb_devices.py')
OBJECT = bytes(range(256)) * 6000        # 1.5 MB: more than a FIFO holds at once


@pytest.fixture(scope='module')
def stage(cluster):
    conn = cluster.connection()
    container = 'zcmode-' + uuid.uuid4().hex
    conn.put_container(container)
    conn.put_object(container, 'in.bin', OBJECT, content_type='application/octet-stream')
    with open(SCRIPT, 'rb') as handle:
        conn.put_object(container, 'devices.py', handle.read(), content_type='text/x-python')
    return container


def devices_job(container, devices, channels):
    script = {'name': 'script', 'path': 'swift://~/%s/devices.py' % container}
    return [{'name': 'modes', 'exec': {'path': 'file://python:python',
                                       'args': ['/dev/script'] + channels},
             'devices': devices + [script, {'name': 'python'}]}]


def seen_by(cluster, job):
    resp = post_job(cluster, job)
    assert resp.status_code == 200 and resp.headers['X-Nexe-Status'] == 'ok', \
        (resp.status_code, resp.headers, resp.text[:2000])
    return json.loads(resp.content), resp


def stdin_object(container, **fields):
    return dict({'name': 'stdin', 'path': 'swift://~/%s/in.bin' % container}, **fields)


@pytest.mark.parametrize('mode, shown', [('pipe', {'type': 'fifo', 'seek': 'ESPIPE'}),
                                         ('char', {'type': 'fifo', 'seek': 'ESPIPE'}),
                                         ('block', {'type': 'file', 'seek': 'ok'}),
                                         (None, {'type': 'file', 'seek': 'ok'})])
def test_a_co_located_stdin_is_shown_as_its_mode_says(cluster, stage, mode, shown):
    stdin = stdin_object(stage, mode=mode) if mode else stdin_object(stage)
    seen, resp = seen_by(cluster, devices_job(stage, [stdin, {'name': 'stdout'}],
                                              ['stdin:r']))
    assert seen['stdin'] == dict(shown, data=OBJECT.decode('latin-1'))
    assert resp.headers['X-Nexe-Colocated'] == '1'     # still its object server's own file


@pytest.mark.parametrize('mode, shown', [('file', {'type': 'file', 'seek': 'ok'}),
                                         ('pipe', {'type': 'fifo', 'seek': 'ESPIPE'})])
def test_a_path_less_stdin_is_shown_as_its_mode_says(cluster, stage, mode, shown):
    """A JSON job's payload is empty: a path-less stdin reads no bytes, whatever its mode."""
    seen, _ = seen_by(cluster, devices_job(stage, [{'name': 'stdin', 'mode': mode},
                                                   {'name': 'stdout'}], ['stdin:r']))
    assert seen['stdin'] == dict(shown, data='')


def test_a_pipe_stdout_is_a_fifo_and_its_bytes_become_the_object(cluster, stage):
    out = {'name': 'stdout', 'path': 'swift://~/%s/report.json' % stage, 'mode': 'pipe',
           'content_type': 'application/json'}
    resp = post_job(cluster, devices_job(stage, [stdin_object(stage, mode='file'), out],
                                         ['stdin:r', 'stdout:w']))
    assert resp.status_code == 200 and resp.headers['X-Nexe-Status'] == 'ok', resp.headers
    headers, body = cluster.connection().get_object(stage, 'report.json')
    seen = json.loads(body)
    assert headers['content-type'] == 'application/json'
    assert seen['stdout'] == {'type': 'fifo', 'seek': 'ESPIPE'}
    assert seen['stdin'] == {'type': 'file', 'seek': 'ok', 'data': OBJECT.decode('latin-1')}


@pytest.mark.parametrize('device, message', [
    ({'name': 'stdin', 'mode': 'socket'},
     "[0].devices[0].mode: must be one of file, char, pipe, block, got 'socket'"),
    ({'name': 'stdin', 'mode': 7}, '[0].devices[0].mode: must be one of file, char, pipe, '
     'block, got 7'),
    ({'name': 'python', 'mode': 'file'}, '[0].devices[0].mode: python is not a channel of '
     'the program: it has no mode')])
def test_a_bad_mode_is_a_400_naming_the_field(cluster, stage, device, message):
    job = [{'name': 'bad', 'exec': {'path': 'file://python:python'}, 'devices': [device]}]
    resp = post_job(cluster, job)
    assert resp.status_code == 400, (resp.status_code, resp.text)
    assert message in resp.text
