"""Device modes on the object server: wire mode -> channel kind, and what the program sees.

The real-session test runs the real sandbox in this process (``run_local``) behind the
object filter, with the co-located object, a payload and the outputs in the filter's own
files, as ``test_runner.test_real_session_through_the_filter`` does.
"""
import dataclasses
import json
import os

import pytest
from swift.common import swob
from swift.common.utils import get_logger

from tests.unit.fake_swift import FakeSwift, call_app
from tests.unit.object_middleware.test_object_filter import FakeLocalObjects
from tests.unit.object_middleware.test_runner import SESSION
from zerocloud import object_middleware, wire, wire_decode
from zerocloud.object_middleware.config import ObjectConfig
from zerocloud.object_middleware.runner import build_spec

SCRIPT = os.path.join(os.path.dirname(__file__), '..', '..', 'programs', 'sb_devices.py')
OBJECT = b'bytes of the co-located object\n' * 1000


def with_modes(session, **modes):
    return dataclasses.replace(session, devices=tuple(
        dataclasses.replace(device, mode=modes.get(device.name, ''))
        for device in session.devices))


def test_modes_become_channel_kinds_and_no_mode_stays_a_file():
    session = with_modes(SESSION, stdin='pipe', stdout='char', stderr='')
    spec, _ = build_spec(session, '/cache/e', ObjectConfig.from_conf({}))
    assert [(c.device, c.kind) for c in spec.channels] == [
        ('stdin', 'pipe'), ('stdout', 'pipe'), ('stderr', 'file')]
    for mode in ('file', 'block'):
        spec, _ = build_spec(with_modes(SESSION, stdin=mode), '/cache/e',
                             ObjectConfig.from_conf({}))
        assert spec.channels[0].kind == 'file'


def run_through_the_filter(tmp_path, session):
    from zerocloud.sandbox.session import run_local

    def runner(session, executable_path, fds, config):
        spec, order = build_spec(session, executable_path, config)
        return run_local(spec, [fds[name] for name in order])
    with open(SCRIPT, 'rb') as handle:
        script = handle.read()
    middleware = object_middleware.ZerocloudObject(
        FakeSwift(), ObjectConfig.from_conf({'zerovm_work_dir': str(tmp_path)}),
        get_logger({}), {}, runner=runner, local_objects=FakeLocalObjects(OBJECT))
    req = swob.Request.blank('/sda1/1/a/c/o', method='EXECUTE', body=wire.encode_request(
        session, inputs={'script': script}), headers={wire.VERSION_HEADER: wire.WIRE_VERSION})
    status, _, payload = call_app(middleware, req)
    parts = wire_decode.read_parts(wire_decode.bytes_reader(payload), 1 << 24)
    report = wire_decode.decode_json('report', parts['report'])
    assert status == 200 and report['status'] == 'ok', (report, parts)
    return json.loads(parts['out:stdout']), parts


@pytest.mark.parametrize('stdin_mode, stdin_type, stdout_mode, stdout_type', [
    ('pipe', 'fifo', 'pipe', 'fifo'), ('char', 'fifo', '', 'file'),
    ('file', 'file', 'char', 'fifo'), ('block', 'file', 'block', 'file'),
    ('', 'file', 'file', 'file')])
def test_the_program_sees_its_modes(tmp_path, stdin_mode, stdin_type, stdout_mode,
                                    stdout_type):
    session = wire.Session(
        name='a', argv=('python', '/dev/script', 'stdin:r', 'stdout:w'), env=(),
        executable=wire.Executable(image='python', path='python'),
        devices=(wire.Device('stdin', wire.READ, wire.LOCAL, mode=stdin_mode),
                 wire.Device('script', wire.READ, wire.PAYLOAD),
                 wire.Device('stdout', wire.WRITE, mode=stdout_mode)),
        limits=SESSION.limits, images=('python',))
    seen, _ = run_through_the_filter(tmp_path, dataclasses.replace(
        session, limits=dataclasses.replace(SESSION.limits, max_output_bytes=1 << 20)))
    assert seen['stdin'] == {'type': stdin_type, 'data': OBJECT.decode(),
                             'seek': 'ok' if stdin_type == 'file' else 'ESPIPE'}
    assert seen['stdout'] == {'type': stdout_type,
                              'seek': 'ok' if stdout_type == 'file' else 'ESPIPE'}
