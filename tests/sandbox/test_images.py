"""Images (``--image DIR|TAR``, programs ``file://image:<path>``): shown read-only, validated
like any executable, and never a way to reach or change host files.

Images come from users (tar objects in the cluster), so a hostile image is an attack too:
links to host files, ``..`` members, programs that point outside the image.
"""
import io
import os
import shutil
import tarfile

import pytest

from tests.sandbox.checks import (assert_denied, assert_nothing_leaked, assert_ran_ok,
                                  assert_status)


def make_image(root, sb, extra_files=None):
    """A directory image: bin/cat (sb_cat), bin/fs (sb_escape_fs), data/x; returns its path."""
    os.makedirs(root / 'bin')
    os.makedirs(root / 'data')
    shutil.copy(sb('sb_cat', 'musl'), root / 'bin' / 'cat')
    shutil.copy(sb('sb_escape_fs', 'musl'), root / 'bin' / 'fs')
    (root / 'data' / 'x').write_bytes(b'image data\n')
    for name, content in (extra_files or {}).items():
        (root / name).write_bytes(content)
    return root


def as_tar(directory, target):
    with tarfile.open(target, 'w') as archive:
        for entry in sorted(os.listdir(directory)):
            archive.add(os.path.join(directory, entry), arcname=entry)
    return target


@pytest.mark.parametrize('form', ['dir', 'tar'])
def test_image_program_runs_and_reads_image_files(sb, run_sandboxed, tmp_path, form):
    image = make_image(tmp_path / 'image', sb)
    if form == 'tar':
        image = as_tar(image, tmp_path / 'image.tar')
    result = run_sandboxed('file://image:/bin/cat', ('/data/x',),
                           extra_options=('--image', str(image)))
    assert_ran_ok(result)
    assert result.stdout == b'image data\n'


def test_image_is_read_only(sb, run_sandboxed, tmp_path):
    image = make_image(tmp_path / 'image', sb)
    for attempt in (('write', '/data/x'), ('create', '/data/new'), ('mkdir', '/bin/new'),
                    ('unlink', '/data/x'), ('truncate', '/bin/cat')):
        result = run_sandboxed('file://image:/bin/fs', attempt,
                               extra_options=('--image', str(image)))
        assert_denied(result, attempt[0])
    assert (image / 'data' / 'x').read_bytes() == b'image data\n'
    assert sorted(os.listdir(image / 'data')) == ['x']
    assert sorted(os.listdir(image / 'bin')) == ['cat', 'fs']


def test_image_symlinks_cant_expose_host_files(sb, run_sandboxed, tmp_path, secret_file):
    path, secret = secret_file
    image = make_image(tmp_path / 'image', sb)
    os.symlink('/etc', image / 'etc')
    os.symlink(path, image / 'data' / 'secret')
    os.symlink('/etc/passwd', image / 'data' / 'passwd')
    os.symlink(os.path.dirname(path), image / 'hostdir')
    result = run_sandboxed('file://image:/bin/fs',
                           ('read', '/etc/passwd', '/data/secret', '/data/passwd',
                            '/hostdir/' + os.path.basename(path)),
                           extra_options=('--image', str(image)))
    assert_denied(result, 'read')
    assert result.stdout.count(b'DENIED read') == 4, result.describe()
    assert_nothing_leaked(result, secret, b'root:')


def hostile_tar(target, token, sb):
    """A tar whose members try to land outside the unpack directory."""
    with tarfile.open(target, 'w') as archive:
        archive.add(sb('sb_cat', 'musl'), arcname='bin/cat')
        for name in ('../escape-' + token, '../../escape-' + token, '/tmp/escape-' + token):
            member = tarfile.TarInfo(name)
            member.size = 8
            archive.addfile(member, io.BytesIO(b'ESCAPED\n'))
        link = tarfile.TarInfo('up')
        link.type = tarfile.SYMTYPE
        link.linkname = '/tmp'
        archive.addfile(link)
        through = tarfile.TarInfo('up/escape-' + token)
        through.size = 8
        archive.addfile(through, io.BytesIO(b'ESCAPED\n'))
    return target


def test_image_tar_cant_write_outside_its_directory(sb, run_sandboxed, tmp_path, token):
    tar = hostile_tar(tmp_path / 'hostile.tar', token, sb)
    result = run_sandboxed('file://image:/bin/cat', ('/dev/stdin',), stdin=b'ok\n',
                           extra_options=('--image', str(tar)))
    assert result.report, result.describe()
    assert b'Traceback' not in result.cli_stderr, result.describe()
    assert result.status in ('ok', 'error'), result.describe()
    for where in ('/tmp', str(tmp_path), str(tmp_path.parent), '/'):
        assert not os.path.lexists(os.path.join(where, 'escape-' + token)), where


@pytest.mark.parametrize('reference', ['file://image:../../../bin/ls', 'file://image:/bin/out',
                                       'file://image:/bin/hostlink'])
def test_image_program_cant_point_outside_the_image(sb, run_sandboxed, tmp_path, reference):
    image = make_image(tmp_path / 'image', sb)
    os.symlink(sb('sb_marker'), image / 'bin' / 'hostlink')
    os.symlink('../../../../../../bin/ls', image / 'bin' / 'out')
    result = run_sandboxed(reference, extra_options=('--image', str(image)))
    assert b'ESCAPED' not in result.stdout
    assert result.exit_code != 0 and result.status != 'ok', result.describe()
    assert b'Traceback' not in result.cli_stderr, result.describe()


def test_image_programs_are_validated(sb, run_sandboxed, tmp_path):
    image = make_image(tmp_path / 'image', sb)
    shutil.copy(sb('sb_int80', 'musl'), image / 'bin' / 'int80')
    result = run_sandboxed('file://image:/bin/int80', output=True,
                           extra_options=('--image', str(image)))
    assert_status(result, 'validation')
    assert result.report.get('validation') == 1
    assert b'RAN' not in result.stdout and not result.output
