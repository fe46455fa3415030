"""The proxy <-> object wire format: round trips, truncation and garbage are caught."""
import pytest
from hypothesis import given, settings, strategies as st

from zerocloud import wire


def parts_of(body, max_bytes=10 ** 9):
    return wire.read_parts(wire.bytes_reader(body), max_bytes)


def test_request_round_trip():
    session = {'name': 'map-1', 'argv': ['map', '-x'], 'env': {'K': 'ü'}}
    body = wire.encode_request(session, executable=b'\x7fELF...', inputs={'stdin': b'hello'})
    parts = parts_of(body)
    assert wire.decode_json('session', parts['session']) == session
    assert parts['executable'] == b'\x7fELF...'
    assert parts['in:stdin'] == b'hello'


def test_repeated_frames_concatenate_in_order():
    body = (wire.encode_frame('out:stdout', b'ab') + wire.encode_frame('out:stderr', b'E')
            + wire.encode_frame('out:stdout', b'cd') + wire.encode_end())
    assert parts_of(body) == {'out:stdout': b'abcd', 'out:stderr': b'E'}


def test_large_frame_is_yielded_in_chunks():
    body = wire.encode_frame('out:stdout', b'x' * 1000) + wire.encode_end()
    chunks = list(wire.FrameReader(wire.bytes_reader(body), 10 ** 6, chunk_size=300))
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
    body = wire.encode_request({'name': 'a'}, inputs={'stdin': b'0123456789'})
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
        wire.decode_json('report', b'[1, 2]')
    with pytest.raises(wire.WireError, match='not valid JSON'):
        wire.decode_json('report', b'{"a": ')


def test_report_json_carries_node():
    data = wire.decode_json('report', wire.report_to_json({'status': 'ok'}, node='n1:6010',
                                                          local_object=True))
    assert data == {'status': 'ok', 'node': 'n1:6010', 'local_object': True}


def test_our_header_namespace():
    assert wire.is_zerocloud_header('x-backend-zerocloud-version')
    assert not wire.is_zerocloud_header('X-Backend-Storage-Policy-Index')


def test_session_channel_limit_fits_in_one_supervisor_message():
    """Every channel the proxy lets through is one descriptor in the supervisor's message."""
    from zerocloud.sandbox import supervisor
    assert wire.MAX_SESSION_CHANNELS < supervisor.MAX_FDS
