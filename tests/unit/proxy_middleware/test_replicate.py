"""replicate (S2.6): copies go to different servers and must agree."""
from zerocloud.proxy_middleware import replicate
from zerocloud.proxy_middleware.results import SessionResult
from zerocloud.proxy_middleware.spool import Spools
from zerocloud.report import Report

SPOOLS = Spools(1 << 20)


def result(node, outputs, status='ok', retcode=0, reason=''):
    spools = {}
    for device, data in outputs.items():
        spools[device] = SPOOLS.new(device)
        spools[device].write(data)
    return SessionResult('inst', node, Report(status=status, retcode=retcode, reason=reason),
                         spools)


def test_copies_start_on_different_nodes():
    nodes = ('a', 'b', 'c', 'd')
    assert [replicate.rotated(nodes, k) for k in range(3)] == [
        ('a', 'b', 'c', 'd'), ('b', 'c', 'd', 'a'), ('c', 'd', 'a', 'b')]
    assert replicate.rotated((), 2) == ()


def test_agreeing_copies_give_the_first_result_and_every_node():
    first = result('n1', {'stdout': b'x'})
    merged = replicate.compare([first, result('n2', {'stdout': b'x'})])
    assert merged.report.ok and merged.outputs is first.outputs and merged.node == 'n1 n2'


def test_an_empty_output_equals_a_missing_one():
    merged = replicate.compare([result('n1', {'stdout': b''}), result('n2', {})])
    assert merged.report.ok


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
