"""The rendezvous protocol: messages, handshakes and the proxy's registry (pure)."""
import json

import pytest

from zerocloud.channels import rendezvous as proto


def register(token, name, port=1000, host='127.0.0.1'):
    return proto.decode(proto.encode(proto.REGISTER, token=token, instance=name, host=host,
                                     port=port))


def test_messages_round_trip_as_json_lines():
    line = proto.encode(proto.CANCEL, reason='map-1 failed')
    assert line.endswith(b'\n') and line.count(b'\n') == 1
    assert proto.decode(line) == {'op': 'cancel', 'reason': 'map-1 failed'}


@pytest.mark.parametrize('line', [b'nope\n', b'[1]\n', b'{"op": "dance"}\n', b'{"op":"peers"}',
                                  b'\xff\n'])
def test_bad_messages_are_protocol_errors(line):
    with pytest.raises(proto.ProtocolError):
        proto.decode(line)


def test_tokens_are_fresh_and_long():
    tokens = {proto.new_token() for _ in range(50)}
    assert len(tokens) == 50 and all(len(t) == 32 for t in tokens)


def test_registry_completes_when_every_instance_registered():
    registry = proto.Registry('t0k', ['a', 'b'])
    assert registry.register(register('t0k', 'b', 2000)) == 'b'
    assert not registry.complete and registry.missing == ['a']
    registry.register(register('t0k', 'a', 1000))
    assert registry.complete
    peers = proto.decode(registry.peers_message())['peers']
    assert peers == {'a': ['127.0.0.1', 1000], 'b': ['127.0.0.1', 2000]}


@pytest.mark.parametrize('message, error', [
    (register('wrong', 'a'), 'wrong token'),
    (register('t0k', 'zz'), 'unknown instance'),
    (register('t0k', 'a', port=0), 'bad address'),
    (register('t0k', 'a', port='80'), 'bad address'),
    ({'op': 'ended', 'ok': True}, 'expected register'),
])
def test_bad_registrations_are_refused(message, error):
    registry = proto.Registry('t0k', ['a', 'b'])
    with pytest.raises(proto.ProtocolError, match=error):
        registry.register(message)
    assert registry.addresses == {}


def test_an_instance_registers_once():
    registry = proto.Registry('t0k', ['a', 'b'])
    registry.register(register('t0k', 'a'))
    with pytest.raises(proto.ProtocolError, match='twice'):
        registry.register(register('t0k', 'a'))


def test_only_the_first_failure_is_kept_and_named_in_cancel():
    registry = proto.Registry('t0k', ['a', 'b'])
    assert registry.fail('b', 'crashed') is True
    assert registry.fail('a', 'cancelled too') is False
    assert registry.failure == ('b', 'crashed')
    assert json.loads(registry.cancel_message())['reason'] == 'cancelled: b failed: crashed'


def test_deadline_reason_names_the_missing_instances():
    registry = proto.Registry('t0k', ['a', 'b', 'c'])
    registry.register(register('t0k', 'b'))
    assert registry.deadline_reason(5) == 'not placed within 5s (missing: a, c)'


def test_handshake_names_the_source_and_checks_everything():
    line = proto.encode_handshake('t0k', 'map-1', 'reduce-2')
    assert proto.decode_handshake(line, 't0k', 'reduce-2', {'map-1', 'map-2'}) == 'map-1'
    for token, dest, sources in (('bad', 'reduce-2', {'map-1'}), ('t0k', 'reduce-1', {'map-1'}),
                                 ('t0k', 'reduce-2', {'map-2'})):
        with pytest.raises(proto.ProtocolError):
            proto.decode_handshake(line, token, dest, sources)
    with pytest.raises(proto.ProtocolError):
        proto.decode_handshake(b'GET / HTTP/1.1\n', 't0k', 'reduce-2', {'map-1'})


def test_failure_reason_counts_non_zero_exits_as_failures():
    from zerocloud.report import Report
    assert proto.failure_reason(Report(status='ok', retcode=0)) is None
    assert proto.failure_reason(Report(status='ok', retcode=3)) == 'exited with status 3'
    assert proto.failure_reason(Report(status='signal', reason='killed by SIGSEGV')) == \
        'killed by SIGSEGV'
