"""The proxy's 2 s memory of HEADs (:mod:`zerocloud.proxy_middleware.etag_cache`) on a real
cluster: every job still authorizes its executable as its caller, and an overwritten
executable runs its new bytes once the bound has passed."""
import time
import uuid

import pytest

from tests.functional.test_jobs_checks import post_job
from zerocloud.proxy_middleware.etag_cache import HEAD_CACHE_SECONDS

TEXT = b'alpha beta\ngamma\n'


@pytest.fixture
def tools(cluster, c_program):
    conn = cluster.connection()
    container = 'zchead-' + uuid.uuid4().hex
    conn.put_container(container)
    conn.put_object(container, 'in.txt', TEXT)
    with open(c_program('sb_cat'), 'rb') as handle:
        conn.put_object(container, 'prog', handle.read())
    return conn, container


def cat_job(account_path, container):
    return [{'name': 'prog', 'exec': {'path': 'swift://%s/%s/prog' % (account_path, container)},
             'devices': [{'name': 'stdin', 'path': 'swift://%s/%s/in.txt'
                          % (account_path, container)}, {'name': 'stdout'}]}]


def test_an_overwritten_executable_runs_its_new_bytes_after_the_bound(cluster, c_program,
                                                                       tools):
    conn, container = tools
    first = post_job(cluster, cat_job('~', container))
    assert first.status_code == 200 and first.content == TEXT, first.text
    with open(c_program('sb_wc'), 'rb') as handle:
        conn.put_object(container, 'prog', handle.read())
    time.sleep(HEAD_CACHE_SECONDS + 0.2)
    second = post_job(cluster, cat_job('~', container))
    assert second.status_code == 200, second.text
    assert second.content.split() == [b'2', b'3', str(len(TEXT)).encode()]


def test_a_remembered_executable_is_still_authorized_for_each_caller(cluster, tools):
    _, container = tools
    owner = cluster.auth('test:tester')[0].rstrip('/').rsplit('/', 1)[1]
    warm = post_job(cluster, cat_job(owner, container))   # the proxy now remembers prog
    assert warm.status_code == 200 and warm.content == TEXT, warm.text
    stranger = post_job(cluster, cat_job(owner, container), user='test2:tester2')
    assert stranger.status_code in (401, 403), stranger.text
    again = post_job(cluster, cat_job(owner, container))
    assert again.status_code == 200 and again.content == TEXT
