"""Immutable data of the job language: the parsed job and the expanded plan.

The parser (:mod:`zerocloud.job.parse`) produces a :class:`Job` of :class:`Node` definitions;
the planner (:mod:`zerocloud.job.expand`) turns it into a :class:`Plan` of :class:`Instance`
values.  Every value here is immutable (tuples, named tuples, frozen dataclasses, read-only
mappings) and has a JSON form (``to_dict``) used by ``zerocloud check --json`` and by the
round-trip tests.
"""
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple, Optional

READABLE = 'readable'    # sequential or random read: stdin, input, script
WRITABLE = 'writable'    # sequential or random write: stdout, stderr, output
IMAGE = 'image'          # a tar mounted read-only at / (ZeroVM's CDR device)
NETWORK = 'network'      # debug: tcp:// or udp:// (ZeroVM's debug channel)
SYSIMAGE = 'sysimage'    # an operator-configured system image: read-only, never a path

READABLE_DEVICES = ('stdin', 'input', 'script')
WRITABLE_DEVICES = ('stdout', 'stderr', 'output')
STANDARD_DEVICES = READABLE_DEVICES + WRITABLE_DEVICES + ('image', 'debug')
RESPONSE_DEVICES = WRITABLE_DEVICES           # may be path-less: go into the HTTP response
PAYLOAD_DEVICES = READABLE_DEVICES            # may be path-less: receive the request payload
DEVICE_MODES = ('file', 'char', 'pipe', 'block')   # stat() types (Servlets.md rule 16)
STREAM_MODES = ('pipe', 'char')                     # shown as a FIFO: no random access
DEFAULT_SYSIMAGES = ('python',)
EMPTY = MappingProxyType({})


def device_access(name):
    """The access kind of a device name; names that are not standard are system images."""
    if name in READABLE_DEVICES:
        return READABLE
    if name in WRITABLE_DEVICES:
        return WRITABLE
    if name == 'image':
        return IMAGE
    if name == 'debug':
        return NETWORK
    return SYSIMAGE


def _drop_empty(mapping):
    return {key: value for key, value in mapping.items() if value not in (None, (), {})}


@dataclass(frozen=True)
class ExecSpec:
    """The ``exec`` of a node: executable URL, argument list, environment, argv[0] or None."""
    url: object
    args: tuple = ()
    env: MappingProxyType = field(default_factory=lambda: EMPTY)
    name: Optional[str] = None

    def to_dict(self):
        return _drop_empty({'path': str(self.url), 'args': list(self.args),
                            'env': dict(self.env), 'name': self.name})


@dataclass(frozen=True)
class DeviceSpec:
    """One entry of a node's ``devices``; ``url`` None when the device has no path."""
    name: str
    url: object = None
    content_type: Optional[str] = None
    meta: MappingProxyType = field(default_factory=lambda: EMPTY)
    mode: Optional[str] = None
    min_size: int = 0

    @property
    def access(self):
        return device_access(self.name)

    def to_dict(self):
        data = _drop_empty({'name': self.name, 'path': None if self.url is None else str(self.url),
                            'content_type': self.content_type, 'meta': dict(self.meta),
                            'mode': self.mode})
        if self.min_size:
            data['min_size'] = self.min_size
        return data


@dataclass(frozen=True)
class Node:
    """One node definition of the job, validated and normalised (defaults filled in)."""
    name: str
    exec: ExecSpec
    devices: tuple = ()
    count: int = 1
    connect: tuple = ()
    replicate: int = 1
    attach: str = 'default'
    location: Optional[str] = None

    def device(self, name):
        """The device called ``name``, or None."""
        return next((d for d in self.devices if d.name == name), None)

    @property
    def wildcard_device(self):
        """The readable (or image) device whose swift path holds ``*``, or None."""
        return next((d for d in self.devices if d.access in (READABLE, IMAGE)
                     and getattr(d.url, 'has_wildcard', False)), None)

    @property
    def is_group(self):
        """True when instances are numbered ``name-1..N`` (wildcard input or count > 1)."""
        return self.wildcard_device is not None or self.count > 1 or any(
            d.access == WRITABLE and '*' in str(d.url or '') for d in self.devices)

    def to_dict(self):
        data = {'name': self.name, 'exec': self.exec.to_dict()}
        if self.devices:
            data['devices'] = [device.to_dict() for device in self.devices]
        if self.count != 1:
            data['count'] = self.count
        if self.connect:
            data['connect'] = list(self.connect)
        if self.replicate != 1:
            data['replicate'] = self.replicate
        if self.attach != 'default':
            data['attach'] = self.attach
        if self.location is not None:
            data['location'] = self.location
        return data


@dataclass(frozen=True)
class Job:
    """A validated job: its node definitions in order, and the system images it may use."""
    nodes: tuple
    sysimages: tuple = DEFAULT_SYSIMAGES

    def node(self, name):
        """The node definition called ``name``, or None."""
        return next((n for n in self.nodes if n.name == name), None)

    def to_dict(self):
        """The canonical JSON form (a list of nodes); parsing it gives an equal Job."""
        return [node.to_dict() for node in self.nodes]


class Exec(NamedTuple):
    """What one instance runs: executable URL, args list, env mapping and argv[0]."""
    url: object
    args: tuple
    env: MappingProxyType
    argv0: str


class Device(NamedTuple):
    """A device of one instance, with its final URL (wildcards substituted) or None.

    ``content_type`` None means the operator's default (``zerovm_default_content_type``
    for objects; the proxy's choice for the response); ``mode`` is the one the job wrote,
    None when it wrote none (the device is then shown as what holds its bytes: a regular
    file in the cluster; Servlets.md's defaults are not applied, see :mod:`zerocloud.job`).
    """
    name: str
    url: object
    access: str
    content_type: Optional[str]
    meta: MappingProxyType
    mode: Optional[str]
    min_size: int


class Channel(NamedTuple):
    """A network channel of an instance: its device path and the instance at the other end."""
    device: str     # '/dev/in/mapper-1', '/dev/out/reducer-2', or a zvm:// device '/dev/stdin'
    peer: str       # the instance name at the other end


class Instance(NamedTuple):
    """One program run of the plan (before replication)."""
    name: str                 # 'map-3', or the node name for a single instance
    node: str                 # the definition it comes from
    exec: Exec
    devices: MappingProxyType  # device name -> Device, in definition order
    in_channels: tuple = ()
    out_channels: tuple = ()
    placement: object = None  # SwiftUrl (object or container) to co-locate with, or None
    attach: Optional[str] = None  # the device that placement comes from
    location: Optional[str] = None
    replicate: int = 1

    @property
    def inputs(self):
        """The ``/dev/in/...`` device paths of this instance."""
        return tuple(channel.device for channel in self.in_channels)

    @property
    def outputs(self):
        """The ``/dev/out/...`` device paths of this instance."""
        return tuple(channel.device for channel in self.out_channels)

    def to_dict(self):
        def url(value):
            return None if value is None else str(value)
        return {
            'name': self.name, 'node': self.node,
            'exec': {'path': str(self.exec.url), 'args': list(self.exec.args),
                     'env': dict(self.exec.env), 'argv0': self.exec.argv0},
            'devices': {name: url(d.url) for name, d in self.devices.items()},
            'device_details': {name: {'access': d.access, 'content_type': d.content_type,
                                      'meta': dict(d.meta), 'mode': d.mode,
                                      'min_size': d.min_size}
                               for name, d in self.devices.items()},
            'in': [c.peer for c in self.in_channels],
            'out': [c.peer for c in self.out_channels],
            'in_devices': list(self.inputs), 'out_devices': list(self.outputs),
            'placement': url(self.placement), 'attach': self.attach,
            'location': self.location, 'replicate': self.replicate,
        }


@dataclass(frozen=True)
class Plan:
    """The expanded job: every instance in instance order (definition order, then index)."""
    instances: tuple
    by_name: MappingProxyType = field(default_factory=lambda: EMPTY, compare=False, repr=False)

    def __post_init__(self):
        if not self.by_name and self.instances:
            object.__setattr__(self, 'by_name', MappingProxyType(
                {instance.name: instance for instance in self.instances}))

    @property
    def total_sessions(self):
        """How many sandbox sessions the plan runs (instances times their replicas)."""
        return sum(instance.replicate for instance in self.instances)

    def to_dict(self):
        """The JSON form printed by ``zerocloud check --json``."""
        return {'instances': [instance.to_dict() for instance in self.instances],
                'total_sessions': self.total_sessions}
