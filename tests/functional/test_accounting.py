"""Accounting records of jobs land in the stats account, off the job's path (issue 14.6)."""
import json
import time
import uuid

import pytest
import swiftclient.client as client

from tests.functional.test_jobs_checks import post_job


@pytest.fixture(scope='module')
def accounted(start_cluster, c_program):
    cluster = start_cluster('accounting', nodes=1, replicas=1, filter_options={
        'proxy_middleware': {'zerovm_accounting_enabled': 'yes',
                             'user_stats_account': 'AUTH_stats'}})
    container = 'zcacct-' + uuid.uuid4().hex
    conn = cluster.connection()
    conn.put_container(container)
    conn.put_object(container, 'in.txt', b'twelve bytes')
    with open(c_program('sb_cat'), 'rb') as handle:
        conn.put_object(container, 'cat', handle.read(), content_type='application/x-nexe')
    return cluster, container


def stored_records(cluster, account, seconds=20):
    """Every record in the job account's container of the stats account, read by the
    reseller admin, polling until one appears (bounded)."""
    conn = cluster.connection('admin:admin')
    storage_url, token = conn.get_auth()
    url = storage_url.rsplit('/', 1)[0] + '/AUTH_stats'
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            names = [item['name'] for item in client.get_container(url, token, account)[1]]
        except client.ClientException:
            names = []
        if names:
            return [json.loads(line) for name in names for line in
                    client.get_object(url, token, account, name)[1].decode().splitlines()]
        time.sleep(0.5)
    return []


def test_a_job_leaves_one_record_in_the_stats_account(accounted):
    cluster, container = accounted
    job = [{'name': 'cat', 'exec': {'path': 'swift://~/%s/cat' % container},
            'devices': [{'name': 'stdin', 'path': 'swift://~/%s/in.txt' % container},
                        {'name': 'stdout'}]}]
    resp = post_job(cluster, job)
    assert resp.status_code == 200 and resp.content == b'twelve bytes', resp.text
    records = stored_records(cluster, 'AUTH_test')
    assert len(records) == 1, records
    (record,) = records
    assert record['account'] == 'AUTH_test' and record['status'] == 200
    assert record['instances'] == 1 and record['sessions'] == {'ok': 1}
    assert record['bytes_read'] >= 12 and record['job'] == resp.headers['X-Trans-Id']
    assert record['wall_seconds'] > 0
