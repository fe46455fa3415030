"""The ``session.shuffle`` field of the wire (connected jobs run in waves): round trip and
every refusal naming its field."""
import json

import pytest

from tests.unit.test_wire import session as wire_session
from zerocloud import shuffle as shufflelib
from zerocloud import wire

SESSION_DICT = json.loads(wire_session().to_json())

TOKEN = 'ab' * 16
SHUFFLE = {'token': TOKEN, 'instance': 'red-1', 'out': ['out/merge'],
           'in': [['in/map-1', 'map-1', 'out/red-1', '127.0.0.1:6010'],
                  ['in/map-2', 'map-2', 'out/red-1', '[::1]:6020']]}


def session_with(shuffle, **extra):
    data = dict(SESSION_DICT, shuffle=shuffle, **extra)
    return json.dumps(data).encode()


def test_a_shuffle_round_trips_through_the_session_frame():
    session = wire.Session.from_json(session_with(SHUFFLE))
    assert session.shuffle == shufflelib.Shuffle(
        TOKEN, 'red-1', ('out/merge',),
        (('in/map-1', 'map-1', 'out/red-1', '127.0.0.1:6010'),
         ('in/map-2', 'map-2', 'out/red-1', '[::1]:6020')))
    assert session.shuffle.devices == ('in/map-1', 'in/map-2', 'out/merge')
    assert wire.Session.from_json(session.to_json()) == session
    assert wire.Session.from_json(json.dumps(SESSION_DICT).encode()).shuffle is None


@pytest.mark.parametrize('change, message', [
    ({'token': 'short'}, 'session.shuffle.token: must be 32 hex digits'),
    ({'token': 'AB' * 16}, 'session.shuffle.token: must be 32 hex digits'),
    ({'instance': ''}, 'session.shuffle.instance'),
    ({'out': ['in/x']}, 'session.shuffle.out: must be a list of out/<peer> devices'),
    ({'in': [['in/a', 'a', 'out/b']]}, 'session.shuffle.in: must be a list'),
    ({'in': [['in/a', 'a', 'out/b', 'no-port']]}, 'session.shuffle.in: must be a list'),
    ({'in': [['out/a', 'a', 'out/b', 'h:1']]}, 'session.shuffle.in: must be a list'),
    ({'out': ['out/a', 'out/a']}, 'session.shuffle: a device is named twice'),
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


def test_spool_names_are_fixed_length_hex_for_any_instance_name():
    names = {shufflelib.spool_name(producer, device)
             for producer in ('map-1', 'mäp-2', 'x' * 500) for device in ('out/a', 'out/b')}
    assert len(names) == 6
    assert all(shufflelib.SPOOL_NAME.match(name) for name in names)
