"""The all-in-one cluster's generated configuration (pure text, no servers)."""
import configparser

import pytest

from zerocloud.aio import config, pipelines
from zerocloud.aio.spec import ClusterSpec, XATTR_ROOM_NEEDED

ALL_FILTERS = ('job_chain', 'proxy_middleware', 'object_middleware')


def parse(text):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return parser


@pytest.fixture
def spec(tmp_path):
    return ClusterSpec(root=str(tmp_path / 'aio'), nodes=3, replicas=2, port=20000)


def test_every_server_of_every_node_has_a_config(spec):
    files = config.render_configs(spec, ALL_FILTERS, XATTR_ROOM_NEEDED)
    expected = {'swift.conf', 'proxy-server.conf'} | {
        '%s-server/%d.conf' % (kind, node)
        for kind in ('account', 'container', 'object') for node in (1, 2, 3)}
    assert set(files) == expected


def test_storage_servers_have_own_ports_and_devices(spec):
    files = config.render_configs(spec, (), XATTR_ROOM_NEEDED)
    seen_ports, seen_devices = set(), set()
    for node in (1, 2, 3):
        for kind in ('account', 'container', 'object'):
            default = parse(files['%s-server/%d.conf' % (kind, node)])['DEFAULT']
            seen_ports.add(default['bind_port'])
            seen_devices.add((kind, default['devices']))
            assert default['mount_check'] == 'false'
            assert default['workers'] == '0'
            assert default['swift_dir'] == spec.etc_dir
            assert default['bind_ip'] == '127.0.0.1'
    assert len(seen_ports) == 9
    assert {d for _k, d in seen_devices} == {spec.node_devices(n) for n in (1, 2, 3)}


def test_proxy_pipeline_puts_zerocloud_after_auth_before_proxy_server(spec):
    proxy = parse(config.proxy_conf(spec, ALL_FILTERS))
    pipeline = proxy['pipeline:main']['pipeline'].split()
    assert pipeline[-1] == 'proxy-server'
    assert pipeline.index('tempauth') < pipeline.index('job_chain') \
        < pipeline.index('proxy_middleware') < pipeline.index('proxy-server')
    # the job's subrequests pass through the filters that give objects their meaning
    for name in ('copy', 'container-quotas', 'account-quotas', 'slo', 'dlo',
                 'versioned_writes', 'symlink'):
        assert pipeline.index('proxy_middleware') < pipeline.index(name), name
    assert proxy['filter:proxy_middleware']['use'] == 'egg:zerocloud#proxy_middleware'
    for name in pipeline[:-1]:
        assert proxy.has_section('filter:' + name), name


def test_object_pipeline_has_object_middleware_before_the_app(spec):
    text = config.storage_conf(spec, 'object', 2, ALL_FILTERS)
    assert parse(text)['pipeline:main']['pipeline'] == \
        'healthcheck object_middleware object-server'


def test_without_zerocloud_filters_no_zerocloud_section_appears(spec):
    files = config.render_configs(spec, (), XATTR_ROOM_NEEDED)
    assert not any('egg:zerocloud' in text for text in files.values())
    assert not any('_middleware' in text for text in files.values())


def test_filter_options_reach_the_filter_section(tmp_path):
    spec = ClusterSpec(root=str(tmp_path), filter_options={
        'object_middleware': {'max_sessions': 3}})
    text = config.storage_conf(spec, 'object', 1, ALL_FILTERS)
    assert parse(text)['filter:object_middleware']['max_sessions'] == '3'


def test_tempauth_has_the_saio_users(spec):
    tempauth = parse(config.proxy_conf(spec, ()))['filter:tempauth']
    assert tempauth['user_test_tester'] == 'testing .admin'
    assert tempauth['user_test2_tester2'] == 'testing2 .admin'
    assert tempauth['user_test_tester3'] == 'testing3'
    assert tempauth['user_admin_admin'] == 'admin .admin .reseller_admin'


def test_proxy_allows_account_management_and_info(spec):
    app = parse(config.proxy_conf(spec, ()))['app:proxy-server']
    assert app['allow_account_management'] == 'true'
    assert app['expose_info'] == 'true'
    assert app['account_autocreate'] == 'true'


def test_memcache_and_logs_use_the_spec_ports(spec):
    proxy = parse(config.proxy_conf(spec, ()))
    assert proxy['filter:cache']['memcache_servers'] == '127.0.0.1:20001'
    assert proxy['DEFAULT']['log_udp_port'] == '20002'


def test_two_storage_policies_gold_default(spec):
    swift = parse(config.swift_conf(spec, XATTR_ROOM_NEEDED))
    assert swift['storage-policy:0']['name'] == 'gold'
    assert swift['storage-policy:0']['default'] == 'yes'
    assert swift['storage-policy:1']['name'] == 'silver'
    assert not swift.has_section('swift-constraints')


def test_small_xattr_room_lowers_metadata_constraints(spec):
    swift = parse(config.swift_conf(spec, 4028))  # ext4
    assert swift['swift-constraints']['max_meta_overall_size'] == '1024'
    assert swift['swift-constraints']['max_meta_count'] == '16'


def test_pipeline_helpers_keep_only_known_zerocloud_filters():
    assert 'job_chain' not in pipelines.proxy_pipeline(('proxy_middleware',))
    assert pipelines.object_pipeline(()) == ('healthcheck', 'object-server')
    assert pipelines.available_zerocloud_filters(wanted=False) == ()
