"""The all-in-one cluster's shape: :class:`ClusterSpec`, its ports, directories and users.

Ports, from the proxy port ``P`` (8080 by default): memcache ``P+1``, log receiver (UDP)
``P+2``; node ``i`` (1-based) has its object server on ``P+10*i``, container server on
``P+10*i+1`` and account server on ``P+10*i+2``.  Everything listens on 127.0.0.1 only.

Directory layout under the cluster directory ``DIR``::

    DIR/aio.json          the spec the cluster was built with (rings depend on it)
    DIR/etc/              swift.conf, *.conf, rings and ring builders
    DIR/srv/<i>/d<i>/     the device of node i (or under --devices)
    DIR/run/<name>.pid    one pid file per process
    DIR/log/<name>.log    what each server logged (via the UDP receiver); <name>.out: stdio
"""
import dataclasses
import json
import os
import types

DEFAULT_NODES = 4
DEFAULT_REPLICAS = 3
DEFAULT_PORT = 8080
MAX_NODES = 32
PORT_SPAN_PER_NODE = 10

#: Storage policies: (index, name, replicas wanted); the replica count is capped by the spec.
POLICIES = ((0, 'gold', None), (1, 'silver', 2))
#: The erasure-coded policy ``ec`` (index 2): 2 data + 1 parity fragments, on clusters of at
#: least 3 nodes (each fragment on its own node).
EC_INDEX, EC_NAME, EC_DATA_FRAGMENTS, EC_PARITY_FRAGMENTS = 2, 'ec', 2, 1
EC_FRAGMENTS = EC_DATA_FRAGMENTS + EC_PARITY_FRAGMENTS

#: The upstream SAIO tempauth users: (account, user, key, groups).
USERS = (
    ('test', 'tester', 'testing', ('.admin',)),
    ('test2', 'tester2', 'testing2', ('.admin',)),
    ('test', 'tester3', 'testing3', ()),
    ('admin', 'admin', 'admin', ('.admin', '.reseller_admin')),
)

#: Xattr room (bytes per file) from which Swift's default metadata constraints are safe.
XATTR_ROOM_NEEDED = 16384
#: Worst-case bytes of pickled metadata besides the user's (measured: 1,665 bytes for a
#: 1 KiB object name in a 256-byte container), plus room for the checksum xattr and some
#: system metadata (symlink, versioning, encryption).
METADATA_BASE_BYTES = 1900
#: Metadata item count allowed on a small-xattr filesystem, and the measured pickling cost of
#: one item beyond its name and value (Swift pickles bytes keys and values with protocol 2).
SMALL_XATTR_META_COUNT = 16
METADATA_ITEM_OVERHEAD = 56


def metadata_constraints(xattr_room):
    """``[swift-constraints]`` overrides so that any accepted metadata fits in the xattrs.

    Empty when the filesystem has room (tmpfs); on ext4 (~4 KiB per file) the count and total
    size are lowered, so that too much metadata gets a clean 400 instead of a 503 (ENOSPC).
    """
    if xattr_room >= XATTR_ROOM_NEEDED:
        return {}
    spare = xattr_room - METADATA_BASE_BYTES - SMALL_XATTR_META_COUNT * METADATA_ITEM_OVERHEAD
    return {'max_meta_count': SMALL_XATTR_META_COUNT,
            'max_meta_overall_size': max(256, spare // 256 * 256)}


@dataclasses.dataclass(frozen=True)
class ClusterSpec:
    """What to build.  ``root`` is the cluster directory (made absolute).

    :param nodes: storage nodes, each with its own account, container and object server.
    :param replicas: replicas of the default policy ``gold`` (``silver`` has min(2, R)).
    :param port: the proxy port; the other ports follow it (see the module docstring).
    :param zerocloud: False builds a plain Swift cluster (no zerocloud filter at all).
    :param filter_options: {filter name: {option: value}} for the zerocloud filters.
    :param devices: directory holding the node devices (default ``root/srv``); a tmpfs here
        lifts the metadata constraints that ext4's small xattr room imposes.
    :param owner_pid: when set, a watchdog process stops the cluster as soon as that process
        is gone (a test session killed before its teardown leaves no cluster behind).
    :param encryption: put Swift's ``keymaster encryption`` in the proxy pipeline: every
        object is stored encrypted (a test cluster for encrypted objects; the key is fixed
        and public, never use it for real data).
    """
    root: str
    nodes: int = DEFAULT_NODES
    replicas: int = DEFAULT_REPLICAS
    port: int = DEFAULT_PORT
    zerocloud: bool = True
    filter_options: types.MappingProxyType = dataclasses.field(
        default_factory=lambda: types.MappingProxyType({}))
    devices: str = ''
    owner_pid: int = 0
    encryption: bool = False

    def __post_init__(self):
        object.__setattr__(self, 'root', os.path.abspath(self.root))
        object.__setattr__(self, 'devices', os.path.abspath(
            self.devices or os.path.join(self.root, 'srv')))
        object.__setattr__(self, 'filter_options', types.MappingProxyType(
            {k: types.MappingProxyType(dict(v)) for k, v in dict(self.filter_options).items()}))
        self.validate()

    def validate(self):
        """Raise ``ValueError`` naming the field when the spec cannot be built."""
        for field in ('nodes', 'replicas', 'port'):
            if not isinstance(getattr(self, field), int) or getattr(self, field) < 1:
                raise ValueError('%s must be a positive integer, not %r'
                                 % (field, getattr(self, field)))
        if self.nodes > MAX_NODES:
            raise ValueError('nodes must be at most %d, not %d' % (MAX_NODES, self.nodes))
        if self.replicas > self.nodes:
            raise ValueError('replicas (%d) must not exceed nodes (%d)'
                             % (self.replicas, self.nodes))
        if self.port < 1024 or self.last_port() > 65535:
            raise ValueError('port %d leaves no room for the cluster\'s ports (%d-%d)'
                             % (self.port, self.port, self.last_port()))

    # -- ports ---------------------------------------------------------------------------
    @property
    def memcache_port(self):
        return self.port + 1

    @property
    def log_port(self):
        return self.port + 2

    def server_port(self, kind, node):
        """Port of the ``kind`` ('object', 'container', 'account') server of node (1-based)."""
        offset = {'object': 0, 'container': 1, 'account': 2}[kind]
        return self.port + PORT_SPAN_PER_NODE * node + offset

    def last_port(self):
        return self.server_port('account', self.nodes)

    def all_ports(self):
        """Every TCP port the cluster listens on (the log receiver's UDP port included)."""
        ports = [self.port, self.memcache_port, self.log_port]
        for node in self.node_numbers():
            ports += [self.server_port(kind, node) for kind in STORAGE_KINDS]
        return ports

    # -- layout --------------------------------------------------------------------------
    def node_numbers(self):
        return range(1, self.nodes + 1)

    @property
    def etc_dir(self):
        return os.path.join(self.root, 'etc')

    @property
    def run_dir(self):
        return os.path.join(self.root, 'run')

    @property
    def log_dir(self):
        return os.path.join(self.root, 'log')

    @property
    def state_file(self):
        return os.path.join(self.root, 'aio.json')

    def node_devices(self, node):
        """The ``devices`` directory of node ``node``; its one device is ``d<node>``."""
        return os.path.join(self.devices, str(node))

    def policy_replicas(self):
        """[(index, name, replicas)] of the storage policies (an EC policy's "replicas" are
        its fragments)."""
        policies = [(index, name, min(wanted or self.replicas, self.replicas))
                    for index, name, wanted in POLICIES]
        if self.nodes >= EC_FRAGMENTS:
            policies.append((EC_INDEX, EC_NAME, EC_FRAGMENTS))
        return policies

    # -- clients -------------------------------------------------------------------------
    @property
    def proxy_url(self):
        return 'http://127.0.0.1:%d' % self.port

    @property
    def auth_url(self):
        return self.proxy_url + '/auth/v1.0'

    def topology(self):
        """The fields the rings depend on: a cluster directory keeps them for life."""
        return {'nodes': self.nodes, 'replicas': self.replicas, 'port': self.port,
                'devices': self.devices}

    def to_json(self):
        return json.dumps(dict(self.topology(), zerocloud=self.zerocloud,
                               owner_pid=self.owner_pid, encryption=self.encryption,
                               filter_options={k: dict(v) for k, v in
                                               self.filter_options.items()}),
                          indent=1, sort_keys=True)


STORAGE_KINDS = ('account', 'container', 'object')


def spec_from_json(root, text):
    """Rebuild the ClusterSpec recorded in ``DIR/aio.json``."""
    data = json.loads(text)
    return ClusterSpec(root=root, nodes=data['nodes'], replicas=data['replicas'],
                       port=data['port'], devices=data['devices'],
                       zerocloud=data.get('zerocloud', True),
                       filter_options=data.get('filter_options', {}),
                       owner_pid=data.get('owner_pid', 0),
                       encryption=data.get('encryption', False))
