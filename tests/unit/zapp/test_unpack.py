"""Unpacking hostile image tars (issue 12): each attack refused or neutralised, as claimed."""
import os
import stat
import tarfile

import pytest

from tests.unit.zapp.tars import (JOB, directory, hardlink, member, regular, symlink,
                                  tar_bytes, write, zapp_bytes)
from zerocloud.zapp import (CorruptGzip, CorruptTar, UnpackLimits, UnsafeMember,
                            ZappTooLarge, remove_tree, unpack)


@pytest.fixture
def unpack_tar(tmp_path):
    """unpack_tar(data, limits=...) -> (Unpacked, target); target is tmp_path/'image'."""
    def run(data, limits=UnpackLimits()):
        tar_path = write(tmp_path / 'image.tar', data)
        target = str(tmp_path / 'image')
        return unpack(tar_path, target, limits), target
    yield run
    remove_tree(str(tmp_path / 'image'))


def refused(unpack_tar, tmp_path, data, error=UnsafeMember, **limits):
    """The error of unpacking ``data``; the partial tree must be gone."""
    with pytest.raises(error) as caught:
        unpack_tar(data, UnpackLimits(**limits))
    assert not os.path.lexists(tmp_path / 'image')
    assert not os.path.lexists(tmp_path / 'escaped')
    return str(caught.value)


def test_ordinary_image_unpacks_read_only_with_links_inside(unpack_tar):
    data = zapp_bytes(directory('bin'), regular('bin/tool', b'#!x\n', mode=0o755),
                      regular('lib/data.txt', b'hello'), symlink('bin/data', '../lib/data.txt'),
                      hardlink('lib/again.txt', 'lib/data.txt'), compress=True)
    result, target = unpack_tar(data)
    assert result.bytes == len(b"#!x\n") + len(b"hello") + len(JOB)
    assert result.members == 6
    assert open(os.path.join(target, 'bin/data'), 'rb').read() == b'hello'
    assert os.path.samefile(os.path.join(target, 'lib/again.txt'),
                            os.path.join(target, 'lib/data.txt'))
    assert stat.S_IMODE(os.stat(os.path.join(target, 'bin/tool')).st_mode) == 0o555
    assert stat.S_IMODE(os.stat(os.path.join(target, 'lib/data.txt')).st_mode) == 0o444
    for path in (target, os.path.join(target, 'bin'), os.path.join(target, 'lib')):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o555


def test_cant_write_absolute_paths(unpack_tar, tmp_path):
    message = refused(unpack_tar, tmp_path, tar_bytes(regular(str(tmp_path / 'escaped'))))
    assert 'absolute path' in message and str(tmp_path / 'escaped') in message


def test_cant_climb_out_with_dotdot(unpack_tar, tmp_path):
    message = refused(unpack_tar, tmp_path, tar_bytes(regular('a/../../escaped', b'x')))
    assert 'member a/../../escaped: ".." in the path' == message


def test_cant_symlink_out_of_the_tree(unpack_tar, tmp_path):
    for target in (str(tmp_path), '../escaped', 'a/../../x', ''):
        message = refused(unpack_tar, tmp_path, tar_bytes(symlink('link', target)))
        assert 'member link: symlink to %r' % target in message


def test_cant_escape_through_a_symlink_to_the_root_followed_by_dotdot(unpack_tar, tmp_path):
    data = tar_bytes(symlink('d/up', '..'), symlink('d/out', 'up/..'))
    assert '".." after a name' in refused(unpack_tar, tmp_path, data)


def test_cant_write_through_a_symlink(unpack_tar, tmp_path):
    os.mkdir(tmp_path / 'outside')
    data = tar_bytes(directory('sub'), symlink('dir', 'sub'), regular('dir/file', b'x'))
    assert 'goes through dir' in refused(unpack_tar, tmp_path, data)
    assert not os.path.exists(tmp_path / 'sub' / 'file')


def test_cant_overwrite_a_member_with_a_symlink_then_write_through_it(unpack_tar, tmp_path):
    data = tar_bytes(regular('f', b'first'), symlink('f', '../escaped'))
    assert 'given twice' in refused(unpack_tar, tmp_path, data)
    data = tar_bytes(regular('a/b', b'x'), symlink('a', '.'))
    assert 'given twice' in refused(unpack_tar, tmp_path, data)


def test_cant_hardlink_out_of_the_tree(unpack_tar, tmp_path):
    secret = write(tmp_path / 'secret', b'host secret')
    for target in (secret, '../secret', 'x/../../secret', 'not-a-member'):
        message = refused(unpack_tar, tmp_path, tar_bytes(hardlink('link', target)))
        assert 'hard link to %r' % target in message
    assert open(secret, 'rb').read() == b'host secret'


def test_cant_hardlink_to_a_symlink_or_directory(unpack_tar, tmp_path):
    data = tar_bytes(symlink('s', 'x'), hardlink('h', 's'))
    assert 'not an earlier regular file' in refused(unpack_tar, tmp_path, data)


@pytest.mark.parametrize('kind, name', [(tarfile.CHRTYPE, 'device node'),
                                        (tarfile.BLKTYPE, 'device node'),
                                        (tarfile.FIFOTYPE, 'FIFO'),
                                        (b'Z', "member type b'Z'")])
def test_cant_create_device_nodes_fifos_or_unknown_types(unpack_tar, tmp_path, kind, name):
    data = tar_bytes(member('dev/sda', kind=kind, devmajor=8, devminor=0))
    assert refused(unpack_tar, tmp_path, data) == 'member dev/sda: %s not allowed in an ' \
                                                  'image' % name


def test_setuid_setgid_sticky_and_write_bits_are_stripped(unpack_tar):
    data = tar_bytes(regular('suid', b'x', mode=0o6777), regular('sticky', b'y', mode=0o1666),
                     member('dir', kind=tarfile.DIRTYPE, mode=0o7777))
    _result, target = unpack_tar(data)
    assert stat.S_IMODE(os.stat(os.path.join(target, 'suid')).st_mode) == 0o555
    assert stat.S_IMODE(os.stat(os.path.join(target, 'sticky')).st_mode) == 0o444
    assert stat.S_IMODE(os.stat(os.path.join(target, 'dir')).st_mode) == 0o555


def test_tar_bomb_by_size_stops_before_the_member_is_written(unpack_tar, tmp_path):
    data = zapp_bytes(regular('small', b'x' * 1000), regular('big', b'\0' * 100000),
                      compress=True)
    message = refused(unpack_tar, tmp_path, data, ZappTooLarge, max_bytes=50000)
    assert message == 'member big: 100000 bytes would pass the image bound of 50000 bytes'


def test_tar_bomb_by_member_count(unpack_tar, tmp_path):
    data = tar_bytes(*[regular('f%04d' % i) for i in range(1001)])
    message = refused(unpack_tar, tmp_path, data, ZappTooLarge, max_members=1000)
    assert message == 'the tar has more than 1000 members'


def test_header_size_that_lies_is_a_corrupt_tar(unpack_tar, tmp_path):
    data = tar_bytes(member('liar', b'short', size=1 << 20))[:4096]
    assert 'corrupt tar' in refused(unpack_tar, tmp_path, data, CorruptTar)


def test_hardlinks_are_counted_once_and_files_as_written(unpack_tar):
    data = tar_bytes(regular('a', b'x' * 4000), hardlink('b', 'a'), hardlink('c', './a'))
    result, _target = unpack_tar(data, UnpackLimits(max_bytes=4000))
    assert result.bytes == 4000


def test_corrupt_gzip_is_reported_as_such(unpack_tar, tmp_path):
    data = zapp_bytes(regular('a', os.urandom(20000)), compress=True)
    damaged = data[:300] + bytes(b ^ 0xff for b in data[300:400]) + data[400:]
    assert refused(unpack_tar, tmp_path, damaged, CorruptGzip).startswith('corrupt gzip')


def test_root_entry_and_dot_slash_names_are_normalised(unpack_tar):
    data = tar_bytes(directory('./'), regular('./x//y', b'z'))
    _result, target = unpack_tar(data)
    assert open(os.path.join(target, 'x', 'y'), 'rb').read() == b'z'


def test_remove_tree_removes_a_read_only_tree(unpack_tar):
    _result, target = unpack_tar(tar_bytes(regular('a/b/c', b'x'), symlink('a/l', 'b')))
    remove_tree(target)
    assert not os.path.lexists(target)
    remove_tree(target)     # already gone: not an error
