"""The ``session.shuffle`` field of the wire (connected jobs run in waves): round trip and
every refusal naming its field."""
import json

import pytest

from tests.unit.test_wire import session as wire_session
from zerocloud import shuffle as shufflelib
from zerocloud import wire

SESSION_DICT = json.loads(wire_session().to_json())

TOKEN = 'ab' * 16
SHUFFLE = {'token': TOKEN, 'instance': 'red-1', 'out': ['merge'],
           'in': {'127.0.0.1:6010': ['map-1'], '[::1]:6020': ['map-2', 'mäp-3']}}


def session_with(shuffle, **extra):
    data = dict(SESSION_DICT, shuffle=shuffle, **extra)
    return json.dumps(data).encode()


def test_a_shuffle_round_trips_through_the_session_frame():
    session = wire.Session.from_json(session_with(SHUFFLE))
    assert session.shuffle == shufflelib.Shuffle(
        TOKEN, 'red-1', ('out/merge',),
        (('in/map-1', 'map-1', 'out/red-1', '127.0.0.1:6010'),
         ('in/map-2', 'map-2', 'out/red-1', '[::1]:6020'),
         ('in/mäp-3', 'mäp-3', 'out/red-1', '[::1]:6020')))
    assert [item[0] for item in session.shuffle.ins] + list(session.shuffle.outs) == [
        'in/map-1', 'in/map-2', 'in/mäp-3', 'out/merge']
    assert wire.Session.from_json(session.to_json()) == session
    assert wire.Session.from_json(json.dumps(SESSION_DICT).encode()).shuffle is None


@pytest.mark.parametrize('change, message', [
    ({'token': 'short'}, 'session.shuffle.token: must be 32 hex digits'),
    ({'token': 'AB' * 16}, 'session.shuffle.token: must be 32 hex digits'),
    ({'instance': ''}, 'session.shuffle.instance'),
    ({'instance': '..'}, 'session.shuffle.instance'),
    ({'out': ['a/b']}, 'session.shuffle.out: must be a list of instance names'),
    ({'out': 'merge'}, 'session.shuffle.out: must be a list of instance names'),
    ({'in': [['map-1', 'h:1']]}, 'session.shuffle.in: must map ip:port'),
    ({'in': {'no-port': ['map-1']}}, 'session.shuffle.in: must map ip:port'),
    ({'in': {'h:1': ['..']}}, 'session.shuffle.in: must map ip:port'),
    ({'in': {'h:1': ['a'], 'h:2': ['a']}}, 'session.shuffle: an instance is named twice'),
    ({'out': ['a', 'a']}, 'session.shuffle: an instance is named twice'),
    ({'extra': 1}, 'session.shuffle: must have exactly token, instance, out and in'),
])
def test_a_bad_shuffle_is_refused_naming_its_field(change, message):
    with pytest.raises(wire.WireError) as raised:
        wire.Session.from_json(session_with(dict(SHUFFLE, **change)))
    assert message in str(raised.value)


def test_a_shuffle_cannot_come_with_a_mesh():
    mesh = {'rendezvous': ['127.0.0.1', 1], 'token': 't', 'instance': 'red-1',
            'timeout_seconds': 1.0}
    with pytest.raises(wire.WireError, match='session.shuffle: not with a mesh'):
        wire.Session.from_json(session_with(SHUFFLE, mesh=mesh))


def test_the_wire_form_costs_about_a_dozen_bytes_per_producer():
    producers = [('map-%d' % index, '10.0.0.%d:6010' % (index % 10)) for index in range(50000)]
    shuffle = shufflelib.Shuffle.of(TOKEN, 'reduce-1', ['merge'], producers)
    payload = json.dumps(shuffle.to_dict(), separators=(',', ':'))
    assert len(payload) < 50000 * 13
    decoded = shufflelib.Shuffle.from_dict(json.loads(payload))
    assert sorted(decoded.ins) == sorted(shuffle.ins)   # grouped by server on the wire
    assert decoded.outs == ('out/merge',)


def test_spool_names_are_fixed_length_hex_for_any_instance_name():
    names = {shufflelib.spool_name(producer, device)
             for producer in ('map-1', 'mäp-2', 'x' * 500) for device in ('out/a', 'out/b')}
    assert len(names) == 6
    assert all(shufflelib.SPOOL_NAME.match(name) for name in names)
