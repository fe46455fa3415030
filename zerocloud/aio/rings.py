"""Build the cluster's rings with Swift's own ``RingBuilder`` (the only module here that does).

One device per node (``d<i>`` in zone ``i``, weight 100), one ring per server kind: account,
container, and one object ring per storage policy (``object.ring.gz`` for policy 0,
``object-<n>.ring.gz`` otherwise).  Building is deterministic (fixed seed), so rings rebuilt
from the same spec place data exactly as before.
"""
import os

PART_POWER = 10
SEED = 4  # any fixed value: same spec, same placement


def ring_names(spec):
    """[(ring name, server kind, replicas)] of every ring the spec needs."""
    rings = [('account', 'account', spec.replicas), ('container', 'container', spec.replicas)]
    for index, _name, replicas in spec.policy_replicas():
        rings.append(('object' if index == 0 else 'object-%d' % index, 'object', replicas))
    return rings


def build_ring(spec, kind, replicas):
    """Return a rebalanced ``RingBuilder`` with the ``kind`` servers of every node."""
    from swift.common.ring import RingBuilder
    builder = RingBuilder(PART_POWER, replicas, 0)
    for node in spec.node_numbers():
        builder.add_dev({'id': node - 1, 'region': 1, 'zone': node, 'weight': 100,
                         'ip': '127.0.0.1', 'port': spec.server_port(kind, node),
                         'device': 'd%d' % node, 'meta': ''})
    builder.rebalance(seed=SEED)
    return builder


def write_rings(spec):
    """Build every ring of ``spec`` into ``spec.etc_dir`` (builders kept next to the rings)."""
    os.makedirs(spec.etc_dir, exist_ok=True)
    for name, kind, replicas in ring_names(spec):
        builder = build_ring(spec, kind, replicas)
        builder.save(os.path.join(spec.etc_dir, name + '.builder'))
        builder.get_ring().save(os.path.join(spec.etc_dir, name + '.ring.gz'))


def rings_present(spec):
    """True when every ring file of ``spec`` exists."""
    return all(os.path.exists(os.path.join(spec.etc_dir, name + '.ring.gz'))
               for name, _kind, _replicas in ring_names(spec))
