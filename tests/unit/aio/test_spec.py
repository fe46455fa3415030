"""ClusterSpec validation, ports and layout; ring building."""
import os

import pytest
from swift.common.ring import RingData

from zerocloud.aio.spec import ClusterSpec, spec_from_json
from zerocloud.aio import config, pipelines, rings


@pytest.mark.parametrize('field, value', [
    ('nodes', 0), ('replicas', -1), ('port', 'x'), ('nodes', 33)])
def test_bad_values_name_the_field(tmp_path, field, value):
    with pytest.raises(ValueError, match=field):
        ClusterSpec(root=str(tmp_path), **{field: value})


def test_replicas_cannot_exceed_nodes(tmp_path):
    with pytest.raises(ValueError, match='replicas'):
        ClusterSpec(root=str(tmp_path), nodes=2, replicas=3)


def test_port_too_high_is_refused(tmp_path):
    with pytest.raises(ValueError, match='port'):
        ClusterSpec(root=str(tmp_path), port=65500)


def test_ports_are_distinct(tmp_path):
    spec = ClusterSpec(root=str(tmp_path), nodes=5)
    ports = spec.all_ports()
    assert len(ports) == len(set(ports)) == 3 + 5 * 3
    assert spec.port == 8080 and spec.auth_url == 'http://127.0.0.1:8080/auth/v1.0'


def test_silver_policy_never_exceeds_replicas(tmp_path):
    assert ClusterSpec(root=str(tmp_path), nodes=1, replicas=1).policy_replicas() == [
        (0, 'gold', 1), (1, 'silver', 1)]
    assert ClusterSpec(root=str(tmp_path)).policy_replicas() == [
        (0, 'gold', 3), (1, 'silver', 2), (2, 'ec', 3)]


def test_the_ec_policy_needs_a_node_per_fragment(tmp_path):
    assert [p[1] for p in ClusterSpec(root=str(tmp_path), nodes=2,
                                      replicas=2).policy_replicas()] == ['gold', 'silver']
    text = config.swift_conf(ClusterSpec(root=str(tmp_path)), xattr_room=1 << 20)
    assert 'policy_type = erasure_coding' in text and 'ec_num_parity_fragments = 1' in text


def test_an_encryption_cluster_encrypts_before_the_proxy_app(tmp_path):
    spec = ClusterSpec(root=str(tmp_path), encryption=True)
    pipeline = pipelines.proxy_pipeline(('proxy_middleware',), spec.encryption)
    assert pipeline[-4:] == ('keymaster', 'encryption', 'proxy-logging', 'proxy-server')
    assert 'encryption_root_secret' in config.proxy_conf(spec, ('proxy_middleware',))
    assert 'keymaster' not in pipelines.proxy_pipeline(('proxy_middleware',))
    assert spec_from_json(spec.root, spec.to_json()).encryption


def test_spec_round_trips_through_json(tmp_path):
    spec = ClusterSpec(root=str(tmp_path), nodes=2, replicas=2, port=30000, zerocloud=False,
                       filter_options={'object_middleware': {'a': 'b'}})
    again = spec_from_json(str(tmp_path), spec.to_json())
    assert again == spec


def test_rings_are_deterministic_and_place_replicas_on_distinct_nodes(tmp_path):
    spec = ClusterSpec(root=str(tmp_path), nodes=4, replicas=3)
    first = rings.build_ring(spec, 'object', 3).get_ring()
    second = rings.build_ring(spec, 'object', 3).get_ring()
    assert first._replica2part2dev_id == second._replica2part2dev_id
    rings.write_rings(spec)
    assert rings.rings_present(spec)
    ring = RingData.load(os.path.join(spec.etc_dir, 'object.ring.gz'))
    assert ring._replica2part2dev_id == first._replica2part2dev_id
    for part in range(2 ** rings.PART_POWER):
        assert len({row[part] for row in ring._replica2part2dev_id}) == 3
    silver = RingData.load(os.path.join(spec.etc_dir, 'object-1.ring.gz'))
    assert len(silver._replica2part2dev_id) == 2
