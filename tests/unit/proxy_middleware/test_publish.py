"""All-or-nothing publishing and spool files."""
import pytest
from swift.common import swob
from swift.common.utils import get_logger

from tests.unit.fake_swift import FakeAuth, FakeSwift
from zerocloud import job as joblib
from zerocloud.proxy_middleware import publish
from zerocloud.proxy_middleware.results import SessionResult
from zerocloud.proxy_middleware.spool import OutputTooLarge, Spools
from zerocloud.proxy_middleware.swift_access import SwiftAccess
from zerocloud.report import Report


def instance_writing(*paths, min_size=0):
    job = joblib.parse_job([{'name': 'w', 'exec': {'path': 'file://python:python'},
                             'devices': [{'name': 'python'}] + [
                                 {'name': device, 'path': 'swift://AUTH_test/c/' + path,
                                  'min_size': min_size, 'meta': {'K': 'v'}}
                                 for device, path in zip(('stdout', 'output'), paths)]}])
    return joblib.expand(job, account='AUTH_test', list_objects=None).instances[0]


def result_with(instance, spools, **outputs):
    files = {}
    for device, data in outputs.items():
        files[device] = spools.new(device)
        files[device].write(data)
    return SessionResult(instance, 'n1', Report(status='ok', retcode=0), files)


def swift_with(app):
    req = swob.Request.blank('/v1/AUTH_test', method='POST')
    req.environ['swift.authorize'] = FakeAuth([('PUT', '/v1/AUTH_test/c/*'),
                                               ('DELETE', '/v1/AUTH_test/c/*')])
    return SwiftAccess(app, req)


def test_every_output_is_put_with_its_bytes_type_and_meta_empty_ones_too():
    app = FakeSwift()
    app.register('PUT', '/v1/AUTH_test/c/a', 201)
    app.register('PUT', '/v1/AUTH_test/c/b', 201)
    spools = Spools(100)
    instance = instance_writing('a', 'b')
    outputs = publish.outputs_to_publish([result_with(instance, spools, stdout=b'hello')],
                                         'application/x-default')
    assert publish.publish_all(swift_with(app), outputs, get_logger({})) == [
        '/AUTH_test/c/a', '/AUTH_test/c/b']
    first, second = app.calls
    assert first.body == b'hello' and first.headers['Content-Type'] == 'application/x-default'
    assert first.headers['X-Object-Meta-K'] == 'v'
    assert second.body == b'' and second.headers['Content-Length'] == '0'


def test_a_failed_put_removes_the_outputs_already_published_and_names_it():
    app = FakeSwift()
    app.register('PUT', '/v1/AUTH_test/c/a', 201)
    app.register('PUT', '/v1/AUTH_test/c/b', 413)
    app.register('DELETE', '/v1/AUTH_test/c/a', 204)
    spools = Spools(100)
    outputs = publish.outputs_to_publish(
        [result_with(instance_writing('a', 'b'), spools, stdout=b'x', output=b'y')], 'a/b')
    with pytest.raises(swob.HTTPException) as raised:
        publish.publish_all(swift_with(app), outputs, get_logger({}))
    assert raised.value.status_int == 413
    assert raised.value.headers['X-Nexe-Error'] == (
        'publishing /AUTH_test/c/b failed: 413 Request Entity Too Large; '
        '1 published outputs removed')
    assert [(c.method, c.path) for c in app.calls][-1] == ('DELETE', '/v1/AUTH_test/c/a')


def test_a_server_error_while_publishing_is_a_503():
    app = FakeSwift()
    app.register('PUT', '/v1/AUTH_test/c/a', 500)
    outputs = publish.outputs_to_publish(
        [result_with(instance_writing('a'), Spools(100), stdout=b'x')], 'a/b')
    with pytest.raises(swob.HTTPException) as raised:
        publish.publish_all(swift_with(app), outputs, get_logger({}))
    assert raised.value.status_int == 503


def test_an_output_shorter_than_min_size_is_not_published():
    spools = Spools(100)
    outputs = publish.outputs_to_publish(
        [result_with(instance_writing('a', min_size=3), spools, stdout=b'ab')], 'a/b')
    assert outputs == []


def test_a_spool_refuses_bytes_beyond_its_limit_and_reads_back_what_it_kept():
    spools = Spools(5)
    spool = spools.new('map-1: stdout')
    spool.write(b'abc')
    with pytest.raises(OutputTooLarge, match=r'map-1: stdout: more than 5 bytes'):
        spool.write(b'def')
    assert b''.join(spool.chunks()) == b'abc' and spool.size == 3
    spools.close()
    spools.close()  # idempotent


def test_a_full_proxy_disk_is_a_failure_naming_the_output(monkeypatch):
    import errno
    from zerocloud.proxy_middleware.spool import SpoolFailed
    spool = Spools(100).new('map-1: stdout')

    def full(chunk):
        raise OSError(errno.ENOSPC, 'No space left on device')
    monkeypatch.setattr(spool._file, 'write', full)
    with pytest.raises(SpoolFailed, match='map-1: stdout: cannot spool on the proxy .*'
                                          'No space left on device'):
        spool.write(b'x')
