"""``zerocloud aio start --user NAME``: the configuration and the checks (no servers).

The cluster itself is tested in ``tests/functional/test_server_user.py``.
"""
import argparse
import configparser
import os
import pwd

import pytest

from zerocloud.aio import config, server_user
from zerocloud.aio.spec import ClusterSpec, XATTR_ROOM_NEEDED
from zerocloud.cli import aio as cli


def defaults(files):
    """The [DEFAULT] section of every configuration but swift.conf."""
    found = {}
    for path, text in files.items():
        if path != 'swift.conf':
            parser = configparser.ConfigParser(interpolation=None)
            parser.read_string(text)
            found[path] = parser['DEFAULT']
    return found


@pytest.fixture
def spec(tmp_path):
    return ClusterSpec(root=str(tmp_path / 'aio'), nodes=2, replicas=2, port=20000)


def test_every_server_switches_to_the_user_in_one_worker(spec):
    files = config.render_configs(spec, (), XATTR_ROOM_NEEDED, 'swift')
    assert len(defaults(files)) == 7
    for path, default in defaults(files).items():
        assert (default['user'], default['workers']) == ('swift', '1'), path


def test_without_a_user_servers_run_as_the_caller_in_one_process(spec):
    caller = pwd.getpwuid(os.getuid()).pw_name
    for path, default in defaults(config.render_configs(spec, (), XATTR_ROOM_NEEDED)).items():
        assert (default['user'], default['workers']) == (caller, '0'), path


@pytest.mark.parametrize('name, message', [
    ('test:tester', 'looks like ACCOUNT:USER'),
    ('zc-no-such-user-7f3a', 'no such user'),
])
def test_unusable_users_are_refused_naming_why(name, message):
    with pytest.raises(server_user.ServerUserError, match=message):
        server_user.lookup(name)


def test_user_option_means_the_server_user_on_start_and_the_account_on_env(capsys):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    assert parser.parse_args(['start', '--user', 'swift']).user == 'swift'
    args = parser.parse_args(['env', '--dir', '/nonexistent-aio'])
    assert cli.run_action(args, cli.build_spec(args)) == 0
    assert 'ST_USER=test:tester' in capsys.readouterr().out
