"""Setuid apps (SPEC S7) on the real all-in-one cluster: who may use an app against its
owner's data, and what it may touch then.

test:tester (AUTH_test) owns every container; test2:tester2 (AUTH_test2) and anonymous are
the callers.  Each container's app reads its ``secret.txt`` and, for some, writes an
object.
"""
import json
import uuid

import pytest

from tests.functional.test_jobs_checks import post_job
from tests.functional.webapp_support import (account_of, api_url, app_job, call, deploy)
from tests.functional.mapreduce_support import python_node

SECRET = b'owner-only secret\n'


def private_container(cluster, headers=None, secret=True):
    conn = cluster.connection()
    container = 'zcsuid-' + uuid.uuid4().hex
    conn.put_container(container, headers=headers or {})
    if secret:
        conn.put_object(container, 'secret.txt', SECRET)
    return container


def own_app(cluster, suid, output=None, read_from=None, **deploy_args):
    """A container whose app reads its own (or ``read_from``'s) secret.txt."""
    account = account_of(cluster)
    container = private_container(cluster)
    source = read_from or container
    job = app_job(account, container, input_path='swift://%s/%s/secret.txt'
                  % (account, source), output_path=output)
    return deploy(cluster, job, suid=suid, container=container, **deploy_args)


@pytest.fixture(scope='module')
def granted(cluster):
    """An app whose container admits AUTH_test2 and writes its own log.txt."""
    account = account_of(cluster)
    container = 'zcsuid-' + uuid.uuid4().hex
    job = app_job(account, container, input_path='swift://%s/%s/secret.txt'
                  % (account, container),
                  output_path='swift://%s/%s/log.txt' % (account, container))
    deploy(cluster, job, suid=account_of(cluster, 'test2:tester2'), container=container)
    cluster.connection().put_object(container, 'secret.txt', SECRET)
    return container


def test_a_caller_in_the_suid_acl_uses_the_app_on_the_owners_data(cluster, granted):
    url = '%s/%s/secret.txt' % (cluster.auth()[0], granted)
    assert call(cluster, 'GET', url, user='test2:tester2').status_code == 403  # no own right
    resp = call(cluster, 'POST', api_url(cluster, granted, '/x'), user='test2:tester2',
                data=b'hello')
    assert resp.status_code == 200, (resp.headers, resp.text)
    seen = resp.json()
    assert seen['input'] == SECRET.decode() and seen['wrote'] and seen['body_length'] == 5
    assert seen['REMOTE_USER'] == 'test2:tester2'
    _, body = cluster.connection().get_object(granted, 'log.txt')
    assert body == b'written by the app'


def test_anonymous_and_a_caller_outside_the_acl_are_refused(cluster, granted):
    resp = call(cluster, 'GET', api_url(cluster, granted), user=None)
    assert resp.status_code == 401, resp.text
    # test:tester3 (not an admin of AUTH_test) is outside the ACL (AUTH_test2)
    resp = call(cluster, 'GET', api_url(cluster, granted), user='test:tester3')
    assert resp.status_code == 403, resp.text


def test_a_public_suid_acl_admits_anonymous_callers(cluster):
    container = own_app(cluster, suid='.r:*')
    resp = call(cluster, 'GET', api_url(cluster, container, '/q'), user=None)
    assert resp.status_code == 200, (resp.headers, resp.text)
    assert resp.json()['input'] == SECRET.decode()


def test_the_same_read_as_a_job_of_the_callers_own_is_refused(cluster, granted):
    account = account_of(cluster)
    job = [python_node('steal', granted, 'app.py', [
        {'name': 'input', 'path': 'swift://%s/%s/secret.txt' % (account, granted)},
        {'name': 'stdout'}])]
    job[0]['devices'][1]['path'] = 'swift://%s/%s/app.py' % (account, granted)
    resp = post_job(cluster, job, user='test2:tester2')        # its own account
    assert resp.status_code == 403, resp.text
    url2, _ = cluster.auth('test2:tester2')
    resp = post_job(cluster, job, user='test2:tester2',
                    account_url=url2.replace(account_of(cluster, 'test2:tester2'), account))
    assert resp.status_code == 403, resp.text                  # the owner's account


def test_a_container_whose_endpoint_is_another_app_grants_nothing(cluster):
    account = account_of(cluster)
    caller = account_of(cluster, 'test2:tester2')
    other = private_container(cluster, headers={
        'X-Container-Meta-Zerovm-Suid': caller,
        'X-Container-Meta-Rest-Endpoint': 'swift://%s/elsewhere/app.json' % account})
    container = own_app(cluster, suid=caller, read_from=other)
    resp = call(cluster, 'GET', api_url(cluster, container), user='test2:tester2')
    assert resp.status_code == 403 and other in resp.text, resp.text
    resp = call(cluster, 'GET', api_url(cluster, container))   # the owner may
    assert resp.status_code == 200 and resp.json()['input'] == SECRET.decode()


def test_writing_into_a_container_without_suid_is_refused(cluster):
    account = account_of(cluster)
    plain = private_container(cluster, secret=False)
    container = own_app(cluster, suid=account_of(cluster, 'test2:tester2'),
                        output='swift://%s/%s/out.txt' % (account, plain))
    resp = call(cluster, 'GET', api_url(cluster, container), user='test2:tester2')
    assert resp.status_code == 403 and plain in resp.text, resp.text
    assert [o['name'] for o in cluster.connection().get_container(plain)[1]] == []
    resp = call(cluster, 'GET', api_url(cluster, container))   # the owner may
    assert resp.status_code == 200, resp.text
    assert cluster.connection().get_object(plain, 'out.txt')[1] == b'written by the app'


def chain_app(cluster, suid, read_from=None):
    """A container whose app answers with a job that reads ``read_from``'s (default its
    own) secret.txt."""
    account = account_of(cluster)
    container = 'zcsuid-' + uuid.uuid4().hex
    second = app_job(account, container, input_path='swift://%s/%s/secret.txt'
                     % (account, read_from or container), stdin=False)
    first = app_job(account, container, script='chain.py', stdin=False)
    first[0]['exec']['env'] = {'CHAIN_JOB': json.dumps(second)}
    deploy(cluster, first, suid=suid, container=container)
    cluster.connection().put_object(container, 'secret.txt', SECRET)
    return container


def test_setuid_is_carried_through_a_chain(cluster):
    container = chain_app(cluster, suid=account_of(cluster, 'test2:tester2'))
    resp = call(cluster, 'GET', api_url(cluster, container, '/c'), user='test2:tester2')
    assert resp.status_code == 200, (resp.headers, resp.text)
    assert resp.headers['X-Chain-Length'] == '2'
    seen = resp.json()
    assert seen['input'] == SECRET.decode() and seen['PATH_INFO'] == '/c'


def test_a_chained_job_gets_no_more_than_its_app(cluster):
    plain = private_container(cluster)
    container = chain_app(cluster, suid=account_of(cluster, 'test2:tester2'),
                          read_from=plain)
    resp = call(cluster, 'GET', api_url(cluster, container), user='test2:tester2')
    assert resp.status_code == 403 and plain in resp.text, resp.text
    assert resp.headers['X-Chain-Length'] == '2'
