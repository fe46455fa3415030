"""A full disk on an object server during a job (issue 10): a clear error, nothing published.

The object servers of this cluster keep their spools (``zerovm_work_dir``) on an 8 MiB
tmpfs mounted for the test (the tests run as root, as CI does: a machine where the mount
fails fails this test)."""
import subprocess
import uuid

import pytest

from tests.functional.mapreduce_support import post_job, python_node

WRITER = b'''import sys
chunk = b"x" * (1 << 20)
for _ in range(int(sys.argv[1])):
    sys.stdout.buffer.write(chunk)
'''


@pytest.fixture(scope='module')
def small_disk(start_cluster, tmp_path_factory):
    work = tmp_path_factory.mktemp('small-work')
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=8m,mode=0700', 'zc-test-full', str(work)],
                   check=True)
    try:
        cluster = start_cluster('small-disk', filter_options={
            'object_middleware': {'zerovm_work_dir': str(work)}})
        conn = cluster.connection()
        container = 'zcfull-' + uuid.uuid4().hex
        conn.put_container(container)
        conn.put_object(container, 'writer.py', WRITER)
        yield cluster, container
    finally:
        subprocess.run(['umount', '-l', str(work)], check=False)


def test_outputs_cut_by_a_full_disk_fail_the_job_and_publish_nothing(small_disk):
    cluster, container = small_disk
    job = [python_node('w', container, 'writer.py', [
        {'name': 'stdout', 'path': 'swift://~/%s/out/big' % container}], args='32')]
    resp = post_job(cluster, job)
    assert resp.status_code == 200, resp.text
    assert resp.headers['X-Nexe-Error'].startswith('w failed: no space left'), resp.headers
    assert cluster.connection().get_container(container, prefix='out/')[1] == []
    small = [python_node('w', container, 'writer.py', [
        {'name': 'stdout', 'path': 'swift://~/%s/out/small' % container}], args='1')]
    resp = post_job(cluster, small)  # the spools were removed: the disk is usable again
    assert resp.status_code == 200 and resp.headers['X-Nexe-Status'] == 'ok', resp.headers
