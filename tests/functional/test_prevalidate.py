"""Prevalidation (SPEC S4) on the default all-in-one cluster (``zerovm_prevalidate = yes``
in both filters): a stored executable is validated once, its verdict recorded in object
sysmeta bound to its ETag, and jobs trust a valid record (``X-Nexe-Validation: 2``)."""
import hashlib
import json
import subprocess
import sys
import uuid

import pytest
import requests

from tests.functional.test_jobs_checks import post_job
from tests.functional.test_jobs_run import node, stdin_of

NEXE = 'application/x-nexe'


@pytest.fixture(scope='module')
def programs(c_program):
    found = {}
    for name in ('sb_cat', 'sb_args', 'sb_int80'):
        with open(c_program(name), 'rb') as handle:
            found[name] = handle.read()
    return found


@pytest.fixture
def stage(cluster):
    conn = cluster.connection()
    container = 'zcpv-' + uuid.uuid4().hex
    conn.put_container(container)
    conn.put_object(container, 'in.txt', b'alpha\nbeta\n', content_type='text/plain')
    return container


def put(cluster, container, name, data, content_type=NEXE, headers=None):
    """PUT as the client; returns the proxy's response."""
    url, token = cluster.auth()
    all_headers = {'X-Auth-Token': token, 'Content-Type': content_type}
    all_headers.update(headers or {})
    resp = requests.put('%s/%s/%s' % (url, container, name), data=data, headers=all_headers,
                        timeout=60)
    assert resp.status_code == 201, resp.text
    return resp


def run(cluster, container, exe):
    resp = post_job(cluster, node(container, exe, [stdin_of(container), {'name': 'stdout'}]))
    assert resp.status_code == 200, resp.text
    return resp


def test_a_valid_executable_is_validated_when_stored_and_not_again(cluster, stage, programs):
    resp = put(cluster, stage, 'cat', programs['sb_cat'],
               headers={'X-Object-Meta-Color': 'blue'})
    assert resp.headers['X-Zerovm-Valid'] == 'true'
    for _ in range(2):  # the record holds, the executable cache changes nothing
        job = run(cluster, stage, 'cat')
        assert job.headers['X-Nexe-Status'] == 'ok', job.headers
        assert job.headers['X-Nexe-Validation'] == '2' and job.content == b'alpha\nbeta\n'
    # the record's .meta file keeps what the client stored
    head = cluster.connection().head_object(stage, 'cat')
    assert head['x-object-meta-color'] == 'blue' and head['content-type'] == NEXE
    assert not any(key.startswith('x-object-sysmeta') for key in head)  # never shown


def test_a_rejected_executable_gets_no_valid_record(cluster, stage, programs):
    resp = put(cluster, stage, 'bad', programs['sb_int80'])
    assert resp.headers['X-Zerovm-Valid'] == 'false'
    job = run(cluster, stage, 'bad')
    assert job.headers['X-Nexe-Validation'] == '1'
    assert 'validation' in job.headers['X-Nexe-Status'] and b'RAN' not in job.content


def test_x_zerovm_validate_asks_for_any_content_type(cluster, stage, programs):
    resp = put(cluster, stage, 'cat.bin', programs['sb_cat'],
               content_type='application/octet-stream', headers={'X-Zerovm-Validate': '1'})
    assert resp.headers['X-Zerovm-Valid'] == 'true'
    assert run(cluster, stage, 'cat.bin').headers['X-Nexe-Validation'] == '2'


def test_a_client_cannot_forge_the_record(cluster, stage, programs):
    etag = hashlib.md5(programs['sb_int80']).hexdigest()
    resp = put(cluster, stage, 'forged', programs['sb_int80'],
               content_type='application/octet-stream',
               headers={'X-Object-Sysmeta-Zerocloud-Valid': '%s:valid' % etag})
    assert resp.headers['Etag'] == etag and 'X-Zerovm-Valid' not in resp.headers
    job = run(cluster, stage, 'forged')  # the gatekeeper stripped it: validated, rejected
    assert job.headers['X-Nexe-Validation'] == '1'


def test_an_overwrite_with_other_bytes_does_not_inherit_the_verdict(cluster, stage, programs):
    assert put(cluster, stage, 'exe', programs['sb_cat']).headers['X-Zerovm-Valid'] == 'true'
    put(cluster, stage, 'exe', programs['sb_int80'], content_type='application/octet-stream')
    assert run(cluster, stage, 'exe').headers['X-Nexe-Validation'] == '1'


def test_an_overwrite_with_other_valid_bytes_gets_its_own_record(cluster, stage, programs):
    put(cluster, stage, 'exe', programs['sb_cat'])
    assert run(cluster, stage, 'exe').content == b'alpha\nbeta\n'
    assert put(cluster, stage, 'exe', programs['sb_args']).headers['X-Zerovm-Valid'] == 'true'
    job = run(cluster, stage, 'exe')
    assert job.headers['X-Nexe-Validation'] == '2' and job.headers['X-Nexe-Status'] == 'ok'
    assert job.content != b'alpha\nbeta\n'  # the new bytes ran


def test_a_post_keeps_the_record(cluster, stage, programs):
    put(cluster, stage, 'cat', programs['sb_cat'])
    cluster.connection().post_object(stage, 'cat', headers={'X-Object-Meta-Size': 'big'})
    assert run(cluster, stage, 'cat').headers['X-Nexe-Validation'] == '2'
    assert cluster.connection().head_object(stage, 'cat')['x-object-meta-size'] == 'big'


def test_an_object_name_that_needs_quoting_gets_its_verdict(cluster, stage, programs):
    name = 'dir/a %3F?\u00e9#.nexe'
    quoted = requests.utils.quote(name, safe='/')
    resp = put(cluster, stage, quoted, programs['sb_cat'])
    assert resp.headers['X-Zerovm-Valid'] == 'true'
    exe = {'path': 'swift://~/%s/%s' % (stage, quoted)}  # job URLs are percent-decoded
    job = post_job(cluster, [{'name': 'q', 'exec': exe,
                              'devices': [stdin_of(stage), {'name': 'stdout'}]}])
    assert job.status_code == 200, job.text
    assert job.headers['X-Nexe-Validation'] == '2'


def test_an_erasure_coded_executable_gets_no_record_and_is_validated_by_sessions(
        cluster, programs):
    conn = cluster.connection()
    container = 'zcpv-ec-' + uuid.uuid4().hex
    conn.put_container(container, headers={'X-Storage-Policy': 'ec'})
    conn.put_object(container, 'in.txt', b'alpha\nbeta\n', content_type='text/plain')
    assert put(cluster, container, 'cat', programs['sb_cat']).headers['X-Zerovm-Valid'] == \
        'false'  # each server holds a fragment, not the executable
    job = run(cluster, container, 'cat')
    # validated by the session (0), or found among the results the sandbox already has for
    # these bytes from other tests' sessions (2, "cached result", S4): never from a record
    assert job.headers['X-Nexe-Validation'] in ('0', '2') and job.content == b'alpha\nbeta\n'


REPLICA_RECORDS = '''
import sys, json
from swift.common.utils import set_swift_dir
set_swift_dir(sys.argv[1])
from swift.common.ring import Ring
from swift.common.direct_client import direct_head_object
part, nodes = Ring(sys.argv[1], ring_name="object").get_nodes(*sys.argv[2:5])
heads = [direct_head_object(node, part, *sys.argv[2:5]) for node in nodes]
print(json.dumps([[head.get(sys.argv[5]), head.get("Etag")] for head in heads]))
'''


def test_every_replica_holds_its_own_record(cluster, stage, programs):
    """Asked of each primary object server directly, in a separate process (a ring needs
    the cluster's swift.conf, which must not leak into this process's Swift globals)."""
    put(cluster, stage, 'cat', programs['sb_cat'])
    account = cluster.auth()[0].rsplit('/', 1)[1]
    output = subprocess.run(
        [sys.executable, '-c', REPLICA_RECORDS, cluster.etc_dir, account, stage, 'cat',
         'X-Object-Sysmeta-Zerocloud-Valid'], check=True, capture_output=True).stdout
    records = json.loads(output)
    assert len(records) >= 2
    assert all(record == '%s:valid' % etag.strip('"') for record, etag in records), records
