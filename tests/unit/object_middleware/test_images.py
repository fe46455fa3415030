"""User images on the object server (:mod:`zerocloud.object_middleware.images`): the lease of
a session's image (sent, cached, refused) and where its program is found."""
import dataclasses
import hashlib
import io
import tarfile

import pytest
from swift.common import swob

from zerocloud import wire
from zerocloud.object_middleware.body import Spool
from zerocloud.object_middleware.config import ObjectConfig
from zerocloud.object_middleware.images import UserImages, resolve_program

SESSION = wire.Session(name='s', argv=('s',), env=(), devices=(),
                       executable=wire.Executable(path='bin/prog'),
                       limits=wire.SessionLimits(10.0, 1 << 20, 1 << 20),
                       images=(wire.USER_IMAGE, 'python'), image=wire.UserImage(''))


class Logger:
    def __init__(self):
        self.lines = []
        self.counters = []

    def info(self, message, *args):
        self.lines.append(message % args)

    def increment(self, name):
        self.counters.append(name)


def tar_of(*members):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w') as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def images(tmp_path):
    config = ObjectConfig(work_dir=str(tmp_path), image_cache_bytes=1 << 20)
    return UserImages(config, Logger(), lambda: str(tmp_path))


def spooled(tmp_path, data):
    spool = Spool(str(tmp_path))
    spool.write(data)
    spool.rewind()
    return spool


def with_etag(etag):
    return dataclasses.replace(SESSION, image=wire.UserImage(etag))


def test_a_sent_image_is_unpacked_once_then_taken_from_the_cache(images, tmp_path):
    data = tar_of(('bin/prog', b'\x7fELF'), ('main.py', b'print(1)'))
    etag = hashlib.md5(data).hexdigest()
    files = []
    session, config = images.prepare(with_etag(etag), spooled(tmp_path, data), files)
    tree = config.sysimages[wire.USER_IMAGE]
    assert open(tree + '/main.py').read() == 'print(1)'
    assert session.executable == wire.Executable(image=wire.USER_IMAGE, path='bin/prog')
    assert images.logger.lines == ['zerocloud: session s: image %s unpacked (12 bytes)' % etag]
    files[0].close()
    images.prepare(with_etag(etag), None, [])
    assert images.logger.lines[-1] == 'zerocloud: session s: image %s from the image cache' \
        % etag
    assert images.logger.counters == ['cache.image.miss', 'cache.image.hit']


def test_an_image_neither_sent_nor_cached_is_asked_for(images):
    with pytest.raises(swob.HTTPException) as caught:
        images.prepare(with_etag('0' * 32), None, [])
    assert caught.value.status_int == 409
    assert caught.value.headers[wire.NEED_HEADER] == wire.NEED_IMAGE


def test_image_bytes_that_do_not_match_their_etag_are_400(images, tmp_path):
    with pytest.raises(swob.HTTPException) as caught:
        images.prepare(with_etag('0' * 32), spooled(tmp_path, tar_of(('a', b'1'))), [])
    assert caught.value.status_int == 400 and b'do not match ETag' in caught.value.body


def test_a_hostile_image_is_400_naming_the_member(images, tmp_path):
    data = tar_of(('../evil', b'x'))
    with pytest.raises(swob.HTTPException) as caught:
        images.prepare(SESSION, spooled(tmp_path, data), [])
    assert caught.value.status_int == 400 and b'../evil' in caught.value.body


def test_a_program_path_is_searched_in_the_user_image_then_the_system_images(tmp_path):
    (tmp_path / 'bin').mkdir()
    (tmp_path / 'bin' / 'prog').write_bytes(b'x')
    config = ObjectConfig().with_user_image(str(tmp_path))
    assert resolve_program(SESSION, config).executable.image == wire.USER_IMAGE
    python = dataclasses.replace(SESSION, executable=wire.Executable(path='python'))
    assert resolve_program(python, config).executable.image == 'python'
    no_python = dataclasses.replace(python, images=(wire.USER_IMAGE,))
    assert resolve_program(no_python, config).images == (wire.USER_IMAGE, 'python')


@pytest.mark.parametrize('path', ['bin/missing', '../../etc/passwd'])
def test_a_program_missing_from_the_images_is_a_final_404_naming_it(tmp_path, path):
    config = ObjectConfig().with_user_image(str(tmp_path))
    session = dataclasses.replace(SESSION, executable=wire.Executable(path=path))
    with pytest.raises(swob.HTTPException) as caught:
        resolve_program(session, config)
    assert caught.value.status_int == 404 and path.encode() in caught.value.body
    assert caught.value.headers[wire.FINAL_HEADER] == '1'


def test_a_program_in_a_named_system_image_is_left_to_the_sandbox():
    session = dataclasses.replace(SESSION, executable=wire.Executable('', 'python', 'x'))
    assert resolve_program(session, ObjectConfig()) is session


def test_the_image_cache_bound_is_an_option():
    assert ObjectConfig.from_conf({'zerovm_image_cache_bytes': '2M'}).image_cache_bytes \
        == 2 << 20
    with pytest.raises(ValueError, match='zerovm_image_cache_bytes'):
        ObjectConfig.from_conf({'zerovm_image_cache_bytes': '0'})
