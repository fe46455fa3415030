"""A session's argv and environment are bounded (issue 10): zerocloud.limits, checked by
SessionSpec so that the supervisor and ``zerocloud run`` refuse before anything starts."""
import json

import pytest

from zerocloud.limits import (MAX_ARGV_ITEMS, MAX_JOB_ARGV_ENV_BYTES, MAX_JOB_ENV_ITEMS,
                              MAX_SESSION_ARGV_ENV_BYTES, MAX_SESSION_ENV_ITEMS,
                              argv_env_bytes)
from zerocloud.sandbox.spec import ChannelSpec, SessionSpec, SpecError


def argv_of_size(total, env=()):
    """argv whose strings and ``env`` take exactly ``total`` bytes."""
    remaining = total - argv_env_bytes(['prog'], env)
    argv = ['prog']
    while remaining > 0:
        length = min(remaining, 65536) - 1
        argv.append('a' * length)
        remaining -= length + 1
    assert argv_env_bytes(argv, env) == total
    return argv


def test_the_session_takes_the_jobs_share_and_as_much_again_for_the_servers():
    assert MAX_SESSION_ARGV_ENV_BYTES == 2 * MAX_JOB_ARGV_ENV_BYTES == 131072
    assert MAX_SESSION_ENV_ITEMS == 2 * MAX_JOB_ENV_ITEMS == 2048
    assert MAX_ARGV_ITEMS == 1024


def test_argv_and_env_up_to_the_limit_are_accepted_and_travel_as_json():
    env = (('A', 'x' * 1000), ('B', ''))
    spec = SessionSpec(program='/bin/prog', argv=argv_of_size(MAX_SESSION_ARGV_ENV_BYTES, env),
                       env=env)
    assert SessionSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_one_byte_more_is_refused_naming_the_size_and_the_limit():
    env = (('A', 'é' * 100),)
    argv = argv_of_size(MAX_SESSION_ARGV_ENV_BYTES + 1, env)
    with pytest.raises(SpecError) as info:
        SessionSpec(program='/bin/prog', argv=argv, env=env)
    assert str(info.value) == (
        'argv and env take 131073 bytes (each string with its NUL, variables as NAME=VALUE), '
        'more than the 131072 allowed')
    data = SessionSpec(program='/bin/prog').to_dict()
    data.update(argv=argv, env=dict(env))
    with pytest.raises(SpecError, match='more than the 131072 allowed'):
        SessionSpec.from_dict(data)          # as the supervisor receives it


def test_argv_holds_at_most_1024_strings():
    assert len(SessionSpec(program='/bin/prog', argv=[''] * MAX_ARGV_ITEMS).argv) == 1024
    with pytest.raises(SpecError, match='argv has 1025 strings, more than the 1024 allowed'):
        SessionSpec(program='/bin/prog', argv=[''] * (MAX_ARGV_ITEMS + 1))


def test_env_holds_at_most_2048_variables():
    env = {f'V{i}': '' for i in range(MAX_SESSION_ENV_ITEMS)}
    assert len(SessionSpec(program='/bin/prog', env=env).env) == 2048
    env['ONE_MORE'] = ''
    with pytest.raises(SpecError, match='env has 2049 variables, more than the 2048 allowed'):
        SessionSpec(program='/bin/prog', env=env)


@pytest.mark.parametrize('device', ['mydev', 'in/map-1', 'out/reduce-2', 'stdin'])
def test_channel_device_names_the_jail_can_show(device):
    assert ChannelSpec(device, 'r', 'socket').device == device


@pytest.mark.parametrize('device', ['in', 'out', '..', 'a/b', '', 'in/..', 'x' * 65, 'dev/'])
def test_channel_device_names_that_would_escape_or_clash_are_refused(device):
    with pytest.raises(SpecError, match='channel.device'):
        ChannelSpec(device, 'r', 'socket')
