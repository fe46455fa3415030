"""The DiskFile adapter over a real on-disk object written by Swift's own DiskFile writer."""
import hashlib
import os
import time

import pytest
from swift.common import swob
from swift.common.storage_policy import POLICIES
from swift.common.utils import Timestamp, get_logger
from swift.obj import diskfile

from zerocloud import wire
from zerocloud.object_middleware.local_object import LocalObjects

DATA = b'bytes on the object server\n' * 10


def write_object(conf, name, metadata_extra=None):
    policy = POLICIES.default
    manager = diskfile.DiskFileRouter(conf, get_logger({}))[policy]
    disk_file = manager.get_diskfile('sda1', '3', 'AUTH_test', 'c', name, policy=policy)
    with disk_file.create() as writer:
        writer.write(DATA)
        metadata = {'ETag': hashlib.md5(DATA).hexdigest(), 'X-Timestamp':
                    Timestamp(time.time()).internal, 'Content-Length': str(len(DATA)),
                    'Content-Type': 'text/plain', 'name': '/AUTH_test/c/' + name,
                    'X-Object-Meta-Color': 'blue'}
        metadata.update(metadata_extra or {})
        writer.put(metadata)
        writer.commit(Timestamp(metadata['X-Timestamp']))


@pytest.fixture
def conf(tmp_path):
    os.makedirs(tmp_path / 'sda1')
    return {'devices': str(tmp_path), 'mount_check': 'false'}


def test_local_object_fd_reads_the_object_bytes(conf):
    write_object(conf, 'o')
    local = LocalObjects(conf, get_logger({})).open('sda1', '3', 'AUTH_test', 'c', 'o',
                                                     policy_index=0)
    try:
        assert os.pread(local.fd, 10000, 0) == DATA
        assert local.content_length == len(DATA) and local.path == '/AUTH_test/c/o'
        assert local.metadata['X-Object-Meta-Color'] == 'blue'
        assert os.lseek(local.fd, 0, os.SEEK_CUR) == 0
    finally:
        os.close(local.fd)


def test_missing_object_is_404_naming_it(conf):
    with pytest.raises(swob.HTTPException) as raised:
        LocalObjects(conf, get_logger({})).open('sda1', '3', 'AUTH_test', 'c', 'nope', 0)
    assert raised.value.status_int == 404 and b'/AUTH_test/c/nope' in raised.value.body


@pytest.mark.parametrize('metadata, why', [
    ({'X-Object-Sysmeta-Crypto-Body-Meta': '{}'}, b'encrypted'),
    ({'X-Static-Large-Object': 'True'}, b'static large object manifest'),
    ({'X-Object-Manifest': 'c/segments/'}, b'dynamic large object manifest'),
])
def test_a_file_that_is_not_the_object_asks_for_its_stream(conf, metadata, why):
    write_object(conf, 'special', metadata)
    with pytest.raises(swob.HTTPException) as raised:
        LocalObjects(conf, get_logger({})).open('sda1', '3', 'AUTH_test', 'c', 'special', 0)
    assert raised.value.status_int == 409 and why in raised.value.body
    assert raised.value.headers[wire.NEED_HEADER] == wire.NEED_OBJECT


def test_unknown_policy_is_400(conf):
    with pytest.raises(swob.HTTPException) as raised:
        LocalObjects(conf, get_logger({})).open('sda1', '3', 'AUTH_test', 'c', 'o', 99)
    assert raised.value.status_int == 400
