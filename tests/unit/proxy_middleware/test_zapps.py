"""Zapps in the proxy (:mod:`.zapps`, :mod:`.job_input`): reading a zapp once, its errors,
the image of an instance, the X-Zerovm-Source URL; the wire's user image."""
import gzip
import hashlib
import io
import json
import tarfile
from types import SimpleNamespace

import pytest
from swift.common import swob

from zerocloud import job as joblib
from zerocloud import wire
from zerocloud.proxy_middleware import job_input, zapps
from zerocloud.proxy_middleware.config import ProxyConfig
from zerocloud.proxy_middleware.request import Route

JOB = [{'name': 'x', 'exec': {'path': 'bin/x'}, 'devices': [{'name': 'stdout'}]}]


def tar_of(*members):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w') as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def read(data, **options):
    return zapps.read_zapp_stream(io.BytesIO(data), ProxyConfig(**options), 'the zapp')


@pytest.mark.parametrize('compress', [False, True])
def test_a_zapp_is_read_once_into_its_map_and_a_spooled_image(compress):
    data = tar_of(('boot/system.map', json.dumps(JOB).encode()), ('bin/x', b'\x7fELF'))
    data = gzip.compress(data) if compress else data
    system_map, image = read(data)
    assert json.loads(system_map) == JOB
    assert image.etag == hashlib.md5(data).hexdigest() and image.size == len(data)
    with image.open() as (length, chunks):
        assert length == len(data) and b''.join(chunks) == data
    image.close()


@pytest.mark.parametrize('data,status,words', [
    (tar_of(('main.py', b'1')), 400, b'the zapp: the zapp has no boot/system.map'),
    (b'\x1f\x8b' + b'\x00' * 40, 400, b'corrupt gzip'),
    (b'x' * 1024, 400, b'corrupt tar'),
    (tar_of(('boot/system.map', b'[{"name": "a b"}]')), 400,
     b"job:\n[0].name: must be 1-128 of [A-Za-z0-9_-], got 'a b'\n[0].exec: required"),
    (tar_of(('boot/system.map', b'[]'), ('big', b'x' * 40960)), 413, b'larger than 20480'),
])
def test_a_bad_zapp_is_refused_naming_the_problem(data, status, words):
    with pytest.raises(swob.HTTPException) as caught:
        read(data, max_input_bytes=20480)
    assert caught.value.status_int == status
    assert words in caught.value.body, caught.value.body


def test_a_posted_zapp_over_zerovm_maxinput_is_413_before_it_is_read():
    req = swob.Request.blank('/v1/a', method='POST', body=b'x' * 10)
    with pytest.raises(swob.HTTPException) as caught:
        zapps.read_posted(req, ProxyConfig(max_input_bytes=5))
    assert caught.value.status_int == 413 and b'zerovm_maxinput' in caught.value.body


def instance_with(devices):
    job = joblib.parse_job(json.dumps([dict(JOB[0], devices=devices)]).encode(),
                           max_config_bytes=65536, sysimages=('python',))
    return joblib.expand(job, account='AUTH_t', list_objects=None,
                         list_containers=None).instances[0]


def test_the_image_device_wins_over_the_posted_zapp():
    posted = SimpleNamespace(etag='p')
    instance = instance_with([{'name': 'image', 'path': 'swift://~/apps/app.zapp'}])
    assert zapps.instance_image(instance, posted, lambda path: ('resolved', path)) == \
        ('resolved', '/AUTH_t/apps/app.zapp')
    assert zapps.instance_image(instance_with([]), posted, None) is posted


@pytest.mark.parametrize('header,path', [
    ('swift://~/c/job.json', '/AUTH_t/c/job.json'),
    ('swift://./c/a%20b', '/AUTH_t/c/a b'),
    ('swift://other/c/o', '/other/c/o'),
])
def test_x_zerovm_source_names_an_object_the_home_account_is_the_callers(header, path):
    req = swob.Request.blank('/v1/AUTH_t', headers={'X-Zerovm-Source': header})
    assert job_input.source_url(req, Route('source', '1.0', 'AUTH_t')).path == path


@pytest.mark.parametrize('header', ['swift://~/c', 'http://x/y', 'swift://~/c/*', ''])
def test_x_zerovm_source_that_is_not_an_object_is_400_naming_the_header(header):
    req = swob.Request.blank('/v1/AUTH_t', headers={'X-Zerovm-Source': header})
    with pytest.raises(swob.HTTPException) as caught:
        job_input.source_url(req, Route('source', '1.0', 'AUTH_t'))
    assert caught.value.status_int == 400 and b'X-Zerovm-Source' in caught.value.body


def test_chunk_reader_reads_across_chunks_and_skips_empty_ones():
    reader = job_input.ChunkReader([b'ab', b'', b'cde'])
    assert [reader.read(2), reader.read(2), reader.read(-1), reader.read(1)] == \
        [b'ab', b'cd', b'e', b'']


def test_a_session_with_a_user_image_crosses_the_wire():
    session = wire.Session(name='s', argv=('s',), env=(), devices=(),
                           executable=wire.Executable(path='main'),
                           limits=wire.SessionLimits(1.0, 1, 1),
                           images=(wire.USER_IMAGE, 'python'), image=wire.UserImage('e' * 32))
    assert wire.Session.from_json(session.to_json()) == session
    data = json.loads(session.to_json())
    data['images'] = ['python', 'image']
    with pytest.raises(wire.WireError, match='session.images'):
        wire.Session.from_json(json.dumps(data).encode())
    del data['image']
    data['images'] = ['python']
    assert wire.Session.from_json(json.dumps(data).encode()).image is None
