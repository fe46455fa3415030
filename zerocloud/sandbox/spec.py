"""What one sandbox session is: the program, its channels, images and limits, as plain data.

Every type here is a frozen dataclass with ``to_dict()``/``from_dict()`` so that a session
travels as JSON from a client to the supervisor; file descriptors never travel in the JSON,
they travel beside it (SCM_RIGHTS), one per channel, in channel order.

    spec = SessionSpec(program='/path/to/static-elf', argv=('wc', '-l'),
                       channels=(ChannelSpec('stdin', 'r', 'file'),
                                 ChannelSpec('stdout', 'w', 'pipe')),
                       limits=Limits(wall_seconds=5))

``program`` is the host path of a static x86-64 ELF executable, or ``file://<image>:<path>``
naming a program inside an image (``file://python:python`` is the built-in Python
interpreter).  Bad values raise :class:`SpecError` naming the field.

argv and env are bounded (:mod:`zerocloud.limits`, the job's share plus room for the variables
the servers add): at most 1024 argv strings, 2048 variables and 131072 bytes, each string
counted with its NUL and a variable as ``NAME=VALUE``; a larger session is a
:class:`SpecError` naming its size and the limit, so the supervisor and ``zerocloud run``
refuse it before anything starts.
"""
import dataclasses
import re
from typing import Optional

from zerocloud.limits import (MAX_ARGV_ITEMS, MAX_SESSION_ARGV_ENV_BYTES, MAX_SESSION_ENV_ITEMS,
                              argv_env_bytes)

GIB = 1 << 30
STD_DEVICES = ('stdin', 'stdout', 'stderr')
PLAIN_DEVICES = STD_DEVICES + ('input', 'output', 'script')
ACCESS_MODES = ('r', 'w', 'rw')
CHANNEL_KINDS = ('file', 'pipe', 'socket', 'dir')
# The job language's device modes (Servlets.md rule 16) as channel kinds.  A jail has no
# character or block devices of its own, so each is shown as the closest the kernel offers:
# ``block`` as a regular file (random access), ``char`` as a FIFO (a non-seekable stream).
MODE_KINDS = {'file': 'file', 'block': 'file', 'pipe': 'pipe', 'char': 'pipe'}
NODE_NAME = re.compile(r'^(?!\.{1,2}$)[A-Za-z0-9_.-]{1,64}$')
IMAGE_PROGRAM = re.compile(r'^file://([A-Za-z0-9_.-]+):(.+)$')


class SpecError(ValueError):
    """A session description is invalid; the message names the field."""


def _require(condition, message):
    if not condition:
        raise SpecError(message)


def _positive_number(name, value, integer=False):
    kinds = (int,) if integer else (int, float)
    _require(isinstance(value, kinds) and not isinstance(value, bool) and value > 0,
             '%s must be a positive %s, got %r' % (name, 'integer' if integer else 'number',
                                                   value))


@dataclasses.dataclass(frozen=True)
class Limits:
    """Resource limits of one session (units are in the names).

    ``max_output_bytes`` and ``max_input_bytes`` apply to each writable / readable channel
    separately and exactly: a channel passes or holds at most that many bytes; a program
    that writes (or an input that has) exactly the limit is fine, one byte more ends the
    session with ``output-limit`` / ``input-limit``.
    """
    wall_seconds: float = 10.0
    cpu_seconds: float = 10.0
    memory_bytes: int = GIB
    max_output_bytes: int = GIB
    max_input_bytes: int = GIB
    max_open_files: int = 64
    max_processes: int = 1

    def __post_init__(self):
        for field in dataclasses.fields(self):
            integer = field.name not in ('wall_seconds', 'cpu_seconds')
            _positive_number('limits.' + field.name, getattr(self, field.name), integer)

    def to_dict(self):
        """Return a JSON-serialisable dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data):
        """Build limits from a dict; unknown keys are an error naming them."""
        return cls(**_known_fields(cls, data, 'limits'))


def channel_kind(mode, default='file'):
    """The channel kind that shows a device of ``mode`` (``file``, ``char``, ``pipe``,
    ``block``; see :data:`MODE_KINDS`); ``default`` when no mode was given (falsy).

    :raises SpecError: for any other mode, naming it.
    """
    if not mode:
        return default
    _require(mode in MODE_KINDS, 'device mode must be one of %s, got %r'
             % (', '.join(MODE_KINDS), mode))
    return MODE_KINDS[mode]


@dataclasses.dataclass(frozen=True)
class ChannelSpec:
    """One channel: ``/dev/<device>`` in the jail, backed by the fd passed beside the spec.

    ``device``: ``stdin|stdout|stderr|input|output|script|in/<name>|out/<name>`` or a
    custom name (the device a ``zvm://node:<device>`` path names; never ``in``/``out``);
    ``access``: ``r``, ``w`` or ``rw``; ``kind`` says how the jail shows it:

    - ``file``: the fd as it is.  A regular file is bound at ``/dev/<device>`` (zero-copy,
      seekable, ``stat()`` a regular file); any other fd (a pipe, a terminal) cannot be, so
      it is pumped through a FIFO like ``pipe``.
    - ``pipe`` or ``socket``: always a FIFO, pumped by the supervisor (counted and limited
      exactly), also from or into a regular file: then the program cannot seek, and
      ``stat()`` says FIFO.  ``socket`` is the kind of connected jobs' network channels.
    - ``dir``: only as the read-only device ``in``: the fd is a directory, bound whole at
      ``/dev/in`` (read-only, nosuid, nodev, noexec; its entries are the ``/dev/in/<name>``
      inputs: one mount for any number of them, e.g. a reducer's thousands of spooled
      shuffle inputs); a session with it has no ``in/<name>`` channel.

    :func:`channel_kind` maps the job language's device modes to these.  ``network`` marks
    the channel for the ``n*`` accounting fields (defaults to True for ``in/*`` and
    ``out/*``).
    """
    device: str
    access: str = 'r'
    kind: str = 'file'
    network: Optional[bool] = None

    def __post_init__(self):
        device = self.device
        name_ok = isinstance(device, str) and (
            device in PLAIN_DEVICES or (device == 'in' and self.kind == 'dir') or
            (device[:3] in ('in/',) and NODE_NAME.match(device[3:]) is not None) or
            (device[:4] == 'out/' and NODE_NAME.match(device[4:]) is not None) or
            (device not in ('in', 'out') and NODE_NAME.match(device) is not None))
        _require(name_ok, 'channel.device must be one of %s, in/<name>, out/<name> or a '
                 'custom name (a zvm:// device: [A-Za-z0-9_.-], not in or out), got %r'
                 % ('|'.join(PLAIN_DEVICES), device))
        _require(self.access in ACCESS_MODES, 'channel %s: access must be one of %s, got %r'
                 % (device, ACCESS_MODES, self.access))
        _require(self.kind in CHANNEL_KINDS, 'channel %s: kind must be one of %s, got %r'
                 % (device, CHANNEL_KINDS, self.kind))
        _require(not (self.kind != 'file' and self.access == 'rw'),
                 'channel %s: access rw needs kind file' % device)
        _require(self.kind != 'dir' or (device == 'in' and self.access == 'r'),
                 'channel %s: kind dir is only for the read-only device in' % device)
        if self.network is None:
            object.__setattr__(self, 'network', device.startswith(('in/', 'out/')))

    @property
    def readable(self):
        return 'r' in self.access

    @property
    def writable(self):
        return 'w' in self.access

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data):
        return cls(**_known_fields(cls, data, 'channel'))


@dataclasses.dataclass(frozen=True)
class ImageSpec:
    """A read-only image: a host directory (or tar archive) shown at ``mount_point``.

    The ``python`` system image is built in (see :mod:`zerocloud.sandbox.images`); naming
    it with a ``host_path`` of ``''`` selects the host's own CPython.
    """
    name: str
    host_path: str = ''
    mount_point: str = '/'

    def __post_init__(self):
        _require(isinstance(self.name, str) and NODE_NAME.match(self.name) is not None,
                 'image.name must be a simple name, got %r' % (self.name,))
        _require(isinstance(self.host_path, str), 'image %s: host_path must be a string'
                 % self.name)
        mount = self.mount_point
        _require(isinstance(mount, str) and mount.startswith('/') and
                 '..' not in mount.split('/') and not mount.startswith('/dev'),
                 'image %s: mount_point must be an absolute path outside /dev, got %r'
                 % (self.name, mount))

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data):
        return cls(**_known_fields(cls, data, 'image'))


@dataclasses.dataclass(frozen=True)
class SessionSpec:
    """One session: program, argv (argv[0] included), environment, channels, images, limits.

    ``trusted`` skips validation of a host-path program (``validation`` 2 in the report);
    programs from images are always trusted.  ``name`` is used for argv[0] when ``argv``
    is empty.
    """
    program: str
    argv: tuple = ()
    env: tuple = ()
    channels: tuple = ()
    images: tuple = ()
    limits: Limits = Limits()
    trusted: bool = False

    def __post_init__(self):
        _require(isinstance(self.program, str) and self.program != '' and '\0' not in
                 self.program, 'program must be a non-empty path or file:// reference')
        if self.program.startswith('file://'):
            _require(IMAGE_PROGRAM.match(self.program) is not None,
                     'program must look like file://<image>:<path>, got %r' % self.program)
        object.__setattr__(self, 'argv', tuple(self.argv))
        _require(all(isinstance(a, str) and '\0' not in a for a in self.argv),
                 'argv must be a list of strings without NUL')
        env = self.env.items() if isinstance(self.env, dict) else self.env
        env = tuple(tuple(pair) for pair in env)
        _require(all(len(p) == 2 and all(isinstance(x, str) and '\0' not in x for x in p)
                     and p[0] and '=' not in p[0] for p in env),
                 'env must map names (without "=") to strings')
        object.__setattr__(self, 'env', env)
        _check_argv_env_size(self.argv, env)
        object.__setattr__(self, 'channels', tuple(self.channels))
        object.__setattr__(self, 'images', tuple(self.images))
        devices = [c.device for c in self.channels]
        _require(len(set(devices)) == len(devices), 'channels: duplicate device in %s'
                 % devices)
        _require('in' not in devices or not any(d.startswith('in/') for d in devices),
                 'channels: the directory in and in/<name> channels exclude each other')
        names = [i.name for i in self.images]
        _require(len(set(names)) == len(names), 'images: duplicate name in %s' % names)
        _require(isinstance(self.limits, Limits), 'limits must be a Limits')
        _require(isinstance(self.trusted, bool), 'trusted must be true or false')

    @property
    def image_program(self):
        """``(image_name, path)`` for a ``file://`` program, else None."""
        match = IMAGE_PROGRAM.match(self.program)
        return (match.group(1), match.group(2)) if match else None

    def to_dict(self):
        return {'program': self.program, 'argv': list(self.argv),
                'env': dict(self.env),
                'channels': [c.to_dict() for c in self.channels],
                'images': [i.to_dict() for i in self.images],
                'limits': self.limits.to_dict(), 'trusted': self.trusted}

    @classmethod
    def from_dict(cls, data):
        """Build a spec from :meth:`to_dict` output; raises :class:`SpecError`."""
        _require(isinstance(data, dict), 'session spec must be a JSON object')
        values = _known_fields(cls, data, 'session')
        _require('program' in values, 'program is required')
        values['channels'] = tuple(ChannelSpec.from_dict(c)
                                   for c in _list(values.get('channels', ()), 'channels'))
        values['images'] = tuple(ImageSpec.from_dict(i)
                                 for i in _list(values.get('images', ()), 'images'))
        values['limits'] = Limits.from_dict(values.get('limits', {}))
        values['argv'] = _list(values.get('argv', ()), 'argv')
        env = values.get('env', {})
        _require(isinstance(env, (dict, list)), 'env must be an object')
        values['env'] = env
        return cls(**values)


def _check_argv_env_size(argv, env):
    """argv and env within the session limits of :mod:`zerocloud.limits`."""
    _require(len(argv) <= MAX_ARGV_ITEMS, 'argv has %d strings, more than the %d allowed'
             % (len(argv), MAX_ARGV_ITEMS))
    _require(len(env) <= MAX_SESSION_ENV_ITEMS, 'env has %d variables, more than the %d '
             'allowed' % (len(env), MAX_SESSION_ENV_ITEMS))
    size = argv_env_bytes(argv, env)
    _require(size <= MAX_SESSION_ARGV_ENV_BYTES, 'argv and env take %d bytes (each string '
             'with its NUL, variables as NAME=VALUE), more than the %d allowed'
             % (size, MAX_SESSION_ARGV_ENV_BYTES))


def _list(value, name):
    _require(isinstance(value, (list, tuple)), '%s must be a list' % name)
    return value


def _known_fields(cls, data, what):
    _require(isinstance(data, dict), '%s must be a JSON object' % what)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    _require(not unknown, '%s: unknown field(s) %s' % (what, ', '.join(unknown)))
    return dict(data)
