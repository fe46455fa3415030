"""The wire Device's optional ``mode``: carried, omitted when not written, validated."""
import dataclasses
import json

import pytest

from tests.unit.test_wire import session
from zerocloud import wire
from zerocloud.job import DEVICE_MODES


def with_modes(*modes):
    devices = tuple(dataclasses.replace(device, mode=mode)
                    for device, mode in zip(session().devices, modes))
    return session(devices=devices)


@pytest.mark.parametrize('mode', DEVICE_MODES)
def test_a_mode_survives_the_round_trip(mode):
    described = with_modes(mode, '', mode, mode)
    assert wire.Session.from_json(described.to_json()) == described
    devices = json.loads(described.to_json())['devices']
    assert [device.get('mode') for device in devices] == [mode, None, mode, mode]


def test_no_mode_is_left_out_of_the_json_and_reads_back_empty():
    devices = json.loads(session().to_json())['devices']
    assert all('mode' not in device for device in devices)
    assert [d.mode for d in wire.Session.from_json(session().to_json()).devices] == [''] * 4


@pytest.mark.parametrize('mode, message', [
    ('socket', 'must be one of file, char, pipe, block'),
    ('', 'must be one of file, char, pipe, block'),
    (None, 'must be a string'), (['pipe'], 'must be a string')])
def test_a_bad_mode_names_its_field(mode, message):
    data = json.loads(session().to_json())
    data['devices'][2]['mode'] = mode
    with pytest.raises(wire.WireError) as caught:
        wire.Session.from_json(json.dumps(data).encode())
    assert str(caught.value) == 'session.devices[2].mode: ' + message
