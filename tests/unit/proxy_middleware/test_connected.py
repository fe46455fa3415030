"""Collecting the outcomes of a connected job: the first failure is named."""
import pytest
from swift.common import swob

from zerocloud.proxy_middleware import connected
from zerocloud.proxy_middleware.response import SessionResult
from zerocloud.report import Report


def ok(name):
    return SessionResult(name, 'node', Report(status='ok', retcode=0), {})


def test_a_placement_error_is_raised_with_the_failing_instance_named():
    missing = swob.HTTPNotFound(body=b'Error 404 Not Found while fetching /a/c/o\n')
    cancelled = ok('map')
    with pytest.raises(swob.HTTPException) as raised:
        connected.collect(['map', 'reduce'], [cancelled, missing],
                          ('reduce', '404 Not Found Error 404 Not Found while fetching /a/c/o'))
    assert raised.value.status_int == 404
    assert raised.value.headers['X-Nexe-Error'] == \
        'reduce failed: 404 Not Found Error 404 Not Found while fetching /a/c/o'


def test_a_session_failure_is_the_first_error_of_its_result():
    results = [ok('map'), ok('reduce')]
    collected = connected.collect(['map', 'reduce'], results, ('reduce', 'killed by SIGSEGV'))
    assert collected[1].errors == ['reduce failed: killed by SIGSEGV']
    assert collected[0].errors == []


def test_no_failure_changes_nothing():
    results = [ok('map'), ok('reduce')]
    assert connected.collect(['map', 'reduce'], results, None) == results
    assert all(result.errors == [] for result in results)


def test_channel_pairs_strip_dev():
    from zerocloud.job.model import Channel
    assert connected.channel_pairs([Channel('/dev/out/reduce-1', 'reduce-1'),
                                    Channel('/dev/stdout', 'upper')]) == \
        [['out/reduce-1', 'reduce-1'], ['stdout', 'upper']]
