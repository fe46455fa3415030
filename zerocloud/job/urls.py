"""The URLs of the job language (ZeroCloud doc/Url.md): parse, validate, normalise, render.

``swift://<account>/<container>/<object>``
    A Swift object; ``swift://<account>/<container>`` names a container (a container input,
    or a container-wide wildcard).  Each part is percent-encoded UTF-8; account and container
    contain no ``/`` (the object may).  The account ``~`` or ``.`` means the caller's account
    and is replaced by it when the caller's account is known.  ``*`` in the container and/or
    object part is a wildcard (see the package manual); never in the account.
``file://<image>:<path>`` and ``file://<path>``
    A file inside a system image named ``<image>`` (operator-configured, e.g. ``python``) or,
    without an image name, inside the user's image (the ``image`` device or the POSTed zapp).
    ``file://image:<path>`` is the same as ``file://<path>``.  An executable path without a
    scheme (``bin/sort``) is accepted as ``file://bin/sort``.
``zvm://<node>:<device>``
    A network channel to a device of another node of the same job; the device may be given
    with or without ``/dev/`` (``zvm://reducer:stdin`` == ``zvm://reducer:/dev/stdin``).
``tcp://<host>:<port>``, ``udp://<host>:<port>``
    Only for the ``debug`` device.

Every parsed URL is an immutable value whose ``str()`` is its normalised form; parsing the
normalised form gives an equal value.  Problems raise :class:`~zerocloud.job.errors.JobError`
located at the ``where`` given by the caller.
"""
import re
from typing import NamedTuple, Optional
from urllib.parse import quote, unquote

from zerocloud.job.errors import JobError, show

HOME_ACCOUNTS = ('~', '.')
MAX_CONTAINER_NAME = 256   # Swift's default constraints
MAX_OBJECT_NAME = 1024
MAX_URL_LENGTH = 8192
NODE_NAME = re.compile(r'[A-Za-z0-9_-]{1,128}\Z')
ZVM_DEVICE = re.compile(r'[A-Za-z0-9_][A-Za-z0-9_.*-]*(/[A-Za-z0-9_*][A-Za-z0-9_.*-]*)*\Z')
HOSTNAME = re.compile(r'[A-Za-z0-9.-]{1,253}\Z')
_CONTROL = re.compile('[\x00-\x1f\x7f\ud800-\udfff\ufffe\uffff]')
_SAFE_SWIFT = "~*!$&'()+,;=:@"


def has_control_chars(text):
    """True if ``text`` holds control characters, lone surrogates or non-characters."""
    return _CONTROL.search(text) is not None


class SwiftUrl(NamedTuple):
    """``swift://account/container/object``; container and object may be None."""
    account: str
    container: Optional[str] = None
    object: Optional[str] = None

    def __str__(self):
        text = 'swift://' + quote(self.account, safe=_SAFE_SWIFT)
        if self.container is not None:
            text += '/' + quote(self.container, safe=_SAFE_SWIFT)
            if self.object is not None:
                text += '/' + quote(self.object, safe='/' + _SAFE_SWIFT)
        return text

    @property
    def path(self):
        """The Swift path ``/account/container/object`` (not encoded)."""
        return '/' + '/'.join(p for p in self if p is not None)

    @property
    def has_wildcard(self):
        """True when the container or object part holds ``*``."""
        return '*' in (self.container or '') or '*' in (self.object or '')

    def with_account(self, account):
        """This URL with a home account (``~`` or ``.``) replaced by ``account``."""
        if account is not None and self.account in HOME_ACCOUNTS:
            return self._replace(account=account)
        return self


class ImageUrl(NamedTuple):
    """``file://image:path``; ``image`` None is the user's own image."""
    image: Optional[str]
    path: str

    def __str__(self):
        if self.image is None:  # ':' encoded so that no image name is read into it
            return 'file://' + quote(self.path, safe="/~!$&'()+,;=@")
        encoded = quote(self.path, safe="/~!$&'()+,;=:@")
        return f'file://{quote(self.image, safe="")}:{encoded}'

    def with_account(self, account):
        return self


class ZvmUrl(NamedTuple):
    """``zvm://node:device``: a channel to ``/dev/<device>`` of the instances of ``node``."""
    node: str
    device: str

    def __str__(self):
        return f'zvm://{self.node}:{self.device}'

    def with_account(self, account):
        return self


class NetUrl(NamedTuple):
    """``tcp://host:port`` or ``udp://host:port`` (the ``debug`` device only)."""
    proto: str
    host: str
    port: int

    def __str__(self):
        return f'{self.proto}://{self.host}:{self.port}'

    def with_account(self, account):
        return self


def _fail(where, text, message):
    raise JobError([(where, f'{message}: {show(text)}')])


def _decode(where, text, part):
    try:
        value = unquote(part, errors='strict')
    except UnicodeDecodeError:
        _fail(where, text, 'percent-encoding is not valid UTF-8')
    if has_control_chars(value):
        _fail(where, text, 'control characters not allowed in URL')
    return value


def _parse_swift(where, text, rest):
    parts = rest.split('/', 2)
    account = _decode(where, text, parts[0])
    container = _decode(where, text, parts[1]) if len(parts) > 1 else None
    obj = _decode(where, text, parts[2]) if len(parts) > 2 else None
    if obj == '':
        obj = None
    if container == '' and obj is None:
        container = None
    if not account:
        _fail(where, text, 'swift URL needs an account')
    if '/' in account or (container is not None and '/' in container):
        _fail(where, text, 'account and container names cannot contain "/"')
    if '*' in account:
        _fail(where, text, 'wildcard not allowed in the account')
    if container == '':
        _fail(where, text, 'empty container name')
    if container is not None and len(container.encode()) > MAX_CONTAINER_NAME:
        _fail(where, text, f'container name longer than {MAX_CONTAINER_NAME} bytes')
    if obj is not None and len(obj.encode()) > MAX_OBJECT_NAME:
        _fail(where, text, f'object name longer than {MAX_OBJECT_NAME} bytes')
    return SwiftUrl(account, container, obj)


def _parse_file(where, text, rest):
    head, colon, tail = rest.partition(':')
    if colon and '/' not in head and head:
        image, path = _decode(where, text, head), _decode(where, text, tail)
        if image == 'image':
            image = None
    else:
        image, path = None, _decode(where, text, rest)
    if not path.strip('/'):
        _fail(where, text, 'file URL needs a path')
    if '*' in path:
        _fail(where, text, 'wildcard not allowed in a file URL')
    return ImageUrl(image, path)


def _parse_zvm(where, text, rest):
    node, colon, device = rest.partition(':')
    if not colon or not NODE_NAME.match(node):
        _fail(where, text, 'zvm URL must be zvm://<node>:<device> with node [A-Za-z0-9_-]+')
    if device.startswith('/dev/'):
        device = device[len('/dev/'):]
    if not ZVM_DEVICE.match(device) or '..' in device:
        _fail(where, text, 'zvm URL names an invalid device')
    return ZvmUrl(node, device)


def _parse_net(where, text, proto, rest):
    host, colon, port = rest.rpartition(':')
    if not colon or not HOSTNAME.match(host) or not port.isascii() or not port.isdigit():
        _fail(where, text, f'{proto} URL must be {proto}://<hostname>:<numeric port>')
    if not 0 < int(port) < 65536:
        _fail(where, text, 'port out of range')
    return NetUrl(proto, host, int(port))


def parse_url(text, *, account=None, where='', relative_ok=False):
    """Parse a job URL into SwiftUrl, ImageUrl, ZvmUrl or NetUrl.

    ``account`` (the caller's account), when given, replaces a ``~`` or ``.`` account.
    ``relative_ok`` accepts a path without scheme as a file in the user's image (exec paths).
    :raises JobError: located at ``where`` when the text is not a valid URL.
    """
    if not isinstance(text, str):
        raise JobError([(where, f'expected a URL string, got {show(text)}')])
    if len(text) > MAX_URL_LENGTH:
        _fail(where, text, f'URL longer than {MAX_URL_LENGTH} characters')
    if has_control_chars(text) or text != text.strip():
        _fail(where, text, 'control characters or surrounding spaces not allowed in URL')
    scheme, sep, rest = text.partition('://')
    if not sep:
        if relative_ok and text:
            return _parse_file(where, text, text)
        _fail(where, text, 'not a URL (expected swift://, file:// or zvm://)')
    if scheme == 'swift':
        return _parse_swift(where, text, rest).with_account(account)
    if scheme == 'file':
        return _parse_file(where, text, rest)
    if scheme == 'zvm':
        return _parse_zvm(where, text, rest)
    if scheme in ('tcp', 'udp'):
        return _parse_net(where, text, scheme, rest)
    _fail(where, text, 'unknown URL scheme (expected swift://, file:// or zvm://)')
