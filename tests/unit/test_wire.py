"""The proxy <-> object wire format: round trips, truncation and garbage are caught."""
import dataclasses
import json

import pytest
from hypothesis import given, settings, strategies as st

from zerocloud import wire, wire_decode


def parts_of(body, max_bytes=10 ** 9):
    return wire_decode.read_parts(wire_decode.bytes_reader(body), max_bytes)


def session(**changes):
    base = wire.Session(
        name='map-1', argv=('map', '-x'), env=(('K', 'ü'),),
        executable=wire.Executable(etag='0' * 32),
        devices=(wire.Device('stdin', wire.READ, wire.LOCAL),
                 wire.Device('input', wire.READ, wire.REMOTE, '1' * 32),
                 wire.Device('script', wire.READ, wire.PAYLOAD),
                 wire.Device('stdout', wire.WRITE)),
        limits=wire.SessionLimits(10.0, 1 << 30, 1 << 20), images=('python',))
    return dataclasses.replace(base, **changes)


def test_request_round_trip():
    body = wire.encode_request(session(), executable=b'\x7fELF...', inputs={'stdin': b'hello'})
    parts = parts_of(body)
    assert wire.Session.from_json(parts['session']) == session()
    assert parts['executable'] == b'\x7fELF...'
    assert parts['in:stdin'] == b'hello'


def test_repeated_frames_concatenate_in_order():
    body = (wire.encode_frame('out:stdout', b'ab') + wire.encode_frame('out:stderr', b'E')
            + wire.encode_frame('out:stdout', b'cd') + wire.encode_end())
    assert parts_of(body) == {'out:stdout': b'abcd', 'out:stderr': b'E'}


def test_large_frame_is_yielded_in_chunks():
    body = wire.encode_frame('out:stdout', b'x' * 1000) + wire.encode_end()
    chunks = list(wire_decode.FrameReader(wire_decode.bytes_reader(body), 10 ** 6, chunk_size=300))
    assert [len(c) for _, c in chunks] == [300, 300, 300, 100]


NAMES = st.text(alphabet='abcdefghijklmnopqrstuvwxyz0123456789:_.-', min_size=1, max_size=20)


@settings(deadline=None)  # no timing assertions: the machine is shared
@given(st.dictionaries(NAMES.filter(lambda n: n != 'end'), st.binary(max_size=200),
                       max_size=5))
def test_any_parts_round_trip(parts):
    body = b''.join(wire.encode_frame(n, d) for n, d in parts.items()) + wire.encode_end()
    decoded = parts_of(body)
    assert decoded == {n: d for n, d in parts.items()}


@pytest.mark.parametrize('cut', [1, 5, 12, 20])
def test_truncated_body_is_rejected(cut):
    body = wire.encode_request(session(), inputs={'stdin': b'0123456789'})
    with pytest.raises(wire.WireError, match='truncated'):
        parts_of(body[:len(body) - cut])


@pytest.mark.parametrize('garbage', [
    b'hello world\n', b'session -1\n', b'session 01\nx', b'Session 1\nx', b'session 1 2\nx',
    b'x' * 500, b'\x00\xff\n', b'end 3\nabc',
])
def test_garbage_is_rejected(garbage):
    with pytest.raises(wire.WireError):
        parts_of(garbage)


def test_size_limit_is_enforced():
    body = wire.encode_frame('in:stdin', b'x' * 100) + wire.encode_end()
    with pytest.raises(wire.WireError, match='larger than 99'):
        parts_of(body, max_bytes=99)
    assert parts_of(body, max_bytes=100)['in:stdin'] == b'x' * 100


def test_bad_frame_names_are_refused_when_encoding():
    with pytest.raises(wire.WireError):
        wire.encode_frame('Bad Name', b'')


def test_decode_json_requires_an_object():
    with pytest.raises(wire.WireError, match='report'):
        wire_decode.decode_json('report', b'[1, 2]')
    with pytest.raises(wire.WireError, match='not valid JSON'):
        wire_decode.decode_json('report', b'{"a": ')


def test_report_json_carries_node():
    data = wire_decode.decode_json('report', wire.report_to_json({'status': 'ok'},
                                                                 node='n1:6010',
                                                                 local_object=True))
    assert data == {'status': 'ok', 'node': 'n1:6010', 'local_object': True, 'retry': False}


def test_our_header_namespace():
    assert wire.is_zerocloud_header('x-backend-zerocloud-version')
    assert not wire.is_zerocloud_header('X-Backend-Storage-Policy-Index')


def test_session_channel_limit_fits_in_the_jail_open_files_limit():
    """Every channel the proxy lets through fits in the jail's open files limit (one per
    channel on top of the program's own) under the hard limit of this machine."""
    import resource
    from zerocloud.sandbox.spec import Limits
    needed = wire.MAX_SESSION_CHANNELS + Limits().max_open_files + 3
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert hard == resource.RLIM_INFINITY or needed <= hard


MESH = wire.Mesh(('127.0.0.1', 6000), 'tok', 'map-1', 5.0, (('in/red-1', 'red-1'),),
                 (('out/red-2', 'red-2'),))


@pytest.mark.parametrize('value', [
    session(), session(mesh=MESH), session(executable=wire.Executable(image='python',
                                                                      path='python')),
    session(executable=wire.Executable()), session(env=(), devices=(), images=())])
def test_session_round_trips_through_json(value):
    assert wire.Session.from_json(value.to_json()) == value


def edited(edit):
    data = json.loads(session(mesh=MESH).to_json())
    edit(data)
    return json.dumps(data).encode()


@pytest.mark.parametrize('edit, message', [
    (lambda d: d.update(extra=1), 'session.extra: unknown field'),
    (lambda d: d.pop('limits'), 'session.limits: missing'),
    (lambda d: d.update(name=3), 'session.name: must be a string'),
    (lambda d: d.update(argv=['a', 1]), 'session.argv: must be a list of strings'),
    (lambda d: d['env'].update(K=1), 'session.env.K: must be a string'),
    (lambda d: d['env'].update({'A=B': 'x'}), 'session.env.A=B'),
    (lambda d: d['devices'][0].update(access='rw'), r'session.devices\[0\].access: must be one'),
    (lambda d: d['devices'][0].update(acess='read'), r'session.devices\[0\].acess: unknown'),
    (lambda d: d['devices'][3].update(source='local'), r'session.devices\[3\].source'),
    (lambda d: d['devices'][0].update(etag='x'), r'session.devices\[0\].etag: only'),
    (lambda d: d['devices'][1].update(name='stdin'), r'session.devices\[1\].name: bad or'),
    (lambda d: d['devices'][1].update(name='../x'), r'session.devices\[1\].name: bad or'),
    (lambda d: d['limits'].update(timeout_seconds=-1), 'session.limits.timeout_seconds'),
    (lambda d: d['limits'].update(max_output_bytes=True), 'session.limits.max_output_bytes'),
    (lambda d: d['limits'].update(max_input_bytes=1.5), 'session.limits.max_input_bytes'),
    (lambda d: d['executable'].update(image='python'), 'session.executable: either'),
    (lambda d: d['mesh'].update(rendezvous=['h']), 'session.mesh.rendezvous'),
    (lambda d: d['mesh'].update(token=None), 'session.mesh.token: must be a string'),
    (lambda d: d['mesh'].update({'in': [['a']]}), 'session.mesh.in: must be a list'),
    (lambda d: d.update(images='python'), 'session.images: must be a list'),
])
def test_bad_or_unknown_session_fields_are_named(edit, message):
    with pytest.raises(wire.WireError, match=message):
        wire.Session.from_json(edited(edit))


@settings(deadline=None, max_examples=300)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda inner: st.lists(inner, max_size=4) |
                    st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20))
def test_arbitrary_json_is_a_session_or_a_wire_error(value):
    try:
        decoded = wire.Session.from_json(json.dumps(value).encode())
    except wire.WireError:
        return
    assert isinstance(decoded, wire.Session)


def test_frame_header_lets_a_part_stream_after_it():
    body = wire.frame_header('in:stdin', 5) + b'hel' + b'lo' + wire.encode_end()
    assert parts_of(body) == {'in:stdin': b'hello'}


def test_headers_can_be_read_by_readline():
    import io
    body = io.BytesIO(wire.encode_frame('out:stdout', b'ab') + wire.encode_frame('wait', b'')
                      + wire.encode_end())
    frames = list(wire_decode.FrameReader(body.read, 100, readline=body.readline))
    assert frames == [('out:stdout', b'ab'), ('wait', b'')]
