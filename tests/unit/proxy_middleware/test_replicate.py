"""replicate (S2.6): copies go to different servers and must agree."""
from zerocloud.proxy_middleware import replicate
from zerocloud.proxy_middleware.response import SessionResult
from zerocloud.report import Report


def result(node, outputs, status='ok', retcode=0, reason=''):
    return SessionResult('inst', node, Report(status=status, retcode=retcode, reason=reason),
                         outputs)


def test_copies_start_on_different_nodes():
    nodes = ['a', 'b', 'c', 'd']
    assert [list(replicate.rotated((7, nodes), k)[1]) for k in range(3)] == [
        ['a', 'b', 'c', 'd'], ['b', 'c', 'd', 'a'], ['c', 'd', 'a', 'b']]
    assert replicate.rotated((7, nodes), 1)[0] == 7
    assert list(replicate.rotated((0, []), 2)[1]) == []


def test_agreeing_copies_give_the_first_result_and_every_node():
    merged = replicate.compare([result('n1', {'stdout': b'x'}), result('n2', {'stdout': b'x'})])
    assert merged.report.ok and merged.outputs == {'stdout': b'x'} and merged.node == 'n1 n2'


def test_different_bytes_or_exit_codes_are_an_error_naming_them():
    merged = replicate.compare([result('n1', {'stdout': b'x'}),
                                result('n2', {'stdout': b'y'}, retcode=3)])
    assert not merged.report.ok
    assert merged.report.reason == (
        'replicas disagree: replica 2 exited with 3, replica 1 with 0; '
        'replica 2 wrote different bytes on stdout than replica 1')


def test_a_failed_copy_fails_the_instance():
    merged = replicate.compare([result('n1', {}), result('n2', {}, status='timeout',
                                                         retcode=None, reason='too slow')])
    assert merged.report.status == 'timeout'
    assert merged.report.reason == 'replica 2 of 2 failed: too slow'
