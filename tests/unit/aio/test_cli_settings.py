"""zerocloud aio start --set SERVER:OPTION=VALUE and --encryption: parsed, merged, kept."""
import argparse

import pytest

from zerocloud.aio import cluster
from zerocloud.cli import aio as cli


def parse(*argv):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize('text, expected', [
    ('proxy:zerovm_maxconfig=1M', ('proxy_middleware', 'zerovm_maxconfig', '1M')),
    ('object:zerovm_timeout= 30 ', ('object_middleware', 'zerovm_timeout', '30')),
    ('chain:chain_timeout=5', ('job_chain', 'chain_timeout', '5')),
    ('proxy:zerovm_sysimage_devices=python /usr/share/x=y',
     ('proxy_middleware', 'zerovm_sysimage_devices', 'python /usr/share/x=y')),
    ('proxy:zerovm_maxconfig=', ('proxy_middleware', 'zerovm_maxconfig', '')),
])
def test_settings_name_the_filter_section(text, expected):
    assert cli.parse_setting(text) == expected


@pytest.mark.parametrize('text, words', [
    ('zerovm_maxconfig=1', 'SERVER:OPTION=VALUE'),
    ('account:x=1', 'SERVER one of proxy, object, chain'),
    ('proxy:zerovm_maxconfig', 'SERVER:OPTION=VALUE'),
    ('proxy:bad name=1', "'bad name' is not an option name"),
    ('proxy:[x]=1', 'is not an option name'),
    ('proxy:x=1\n[filter:evil]', 'line breaks'),
])
def test_bad_settings_are_refused_naming_them(text, words):
    with pytest.raises(ValueError) as info:
        cli.parse_setting(text)
    assert words in str(info.value) and '--set' in str(info.value)


def test_settings_merge_into_the_recorded_ones_and_empty_removes():
    recorded = {'proxy_middleware': {'zerovm_maxconfig': '2000', 'zerovm_timeout': '5'}}
    merged = cli.merged_filter_options(recorded, ['proxy:zerovm_timeout=',
                                                  'object:zerovm_maxoutput=1M'])
    assert merged == {'proxy_middleware': {'zerovm_maxconfig': '2000'},
                      'object_middleware': {'zerovm_maxoutput': '1M'}}
    assert recorded['proxy_middleware']['zerovm_timeout'] == '5', 'the input is not changed'


def test_build_spec_keeps_recorded_settings_and_encryption(tmp_path):
    root = str(tmp_path / 'aio')
    first = cli.build_spec(parse('start', '--dir', root, '--encryption',
                                 '--set', 'proxy:zerovm_maxconfig=2000'))
    assert first.encryption and dict(first.filter_options['proxy_middleware']) == {
        'zerovm_maxconfig': '2000'}
    (tmp_path / 'aio').mkdir()
    (tmp_path / 'aio' / 'aio.json').write_text(first.to_json())
    again = cli.build_spec(parse('start', '--dir', root, '--set', 'object:zerovm_timeout=9'))
    assert again.encryption
    assert dict(again.filter_options['proxy_middleware']) == {'zerovm_maxconfig': '2000'}
    assert dict(again.filter_options['object_middleware']) == {'zerovm_timeout': '9'}


def test_a_running_cluster_refuses_other_settings(tmp_path):
    root = str(tmp_path / 'aio')
    recorded = cli.build_spec(parse('start', '--dir', root, '--set', 'proxy:zerovm_timeout=5'))
    (tmp_path / 'aio').mkdir()
    (tmp_path / 'aio' / 'aio.json').write_text(recorded.to_json())
    cluster.check_same_settings(recorded)
    other = cli.build_spec(parse('start', '--dir', root, '--set', 'proxy:zerovm_timeout=6'))
    with pytest.raises(cluster.ClusterError) as info:
        cluster.check_same_settings(other)
    assert 'stop it first' in str(info.value) and '"6"' in str(info.value)
    encrypted = cli.build_spec(parse('start', '--dir', root, '--encryption'))
    with pytest.raises(cluster.ClusterError) as info:
        cluster.check_same_settings(encrypted)
    assert 'encryption=false' in str(info.value)


def test_memcache_is_memcached_when_installed_else_the_python_stand_in(monkeypatch):
    monkeypatch.setattr(cluster.shutil, 'which', lambda name, path=None: '/usr/bin/memcached')
    argv = cluster.memcache_command(18001)
    assert argv[0] == '/usr/bin/memcached' and argv[argv.index('-p') + 1] == '18001'
    assert argv[argv.index('-l') + 1] == '127.0.0.1' and '-u' in argv
    assert cluster.memcache_kind() == 'memcached'
    monkeypatch.setattr(cluster.shutil, 'which', lambda name, path=None: None)
    assert cluster.memcache_command(18001)[1:] == ['-m', 'zerocloud.aio.memcache', '18001']
    assert 'install the memcached package' in cluster.memcache_kind()
