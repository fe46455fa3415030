"""Typed parsing of ``[filter:...]`` options: every bad value raises ``ValueError`` naming it.

The one options parser of both filters (bottom floor).  Each parser takes the merged paste
``conf`` dict, the option name and its default, and returns a typed value.  Booleans accept
exactly the words Swift accepts (``swift.common.utils.TRUE_VALUES`` and their negations), so
an operator's ``yes``/``on``/``1`` means the same here as in Swift's own options; anything
else is refused instead of silently meaning "no" as ``config_true_value`` would.
"""
from swift.common.utils import TRUE_VALUES

_TRUE = tuple(TRUE_VALUES)
FALSE_WORDS = _FALSE = ('false', '0', 'no', 'off', 'f', 'n')
_SIZE_SUFFIXES = {'k': 1024, 'm': 1024 ** 2, 'g': 1024 ** 3, 't': 1024 ** 4}


def _raw(conf, name):
    value = conf.get(name)
    if value is None:
        return None
    value = str(value).strip()
    return value if value else None


def parse_bool(conf, name, default):
    """A boolean option (true/false, yes/no, on/off, 1/0)."""
    value = _raw(conf, name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ValueError('%s: expected a boolean (yes/no), got %r' % (name, value))


def parse_int(conf, name, default, minimum=0):
    """A whole number (sizes may carry a K/M/G/T binary suffix, e.g. ``64K``)."""
    value = _raw(conf, name)
    if value is None:
        return default
    multiplier = _SIZE_SUFFIXES.get(value[-1].lower(), 1)
    digits = value[:-1] if multiplier != 1 else value
    try:
        number = int(digits) * multiplier
    except ValueError:
        raise ValueError('%s: expected a whole number, got %r' % (name, value))
    if number < minimum:
        raise ValueError('%s: must be at least %d, got %r' % (name, minimum, value))
    return number


def parse_seconds(conf, name, default, minimum=0.0):
    """A positive duration in seconds (float)."""
    value = _raw(conf, name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ValueError('%s: expected a number of seconds, got %r' % (name, value))
    if not number > minimum or number != number or number == float('inf'):
        raise ValueError('%s: must be a finite number above %s, got %r'
                         % (name, minimum, value))
    return number


def refuse_unbuilt(conf, name, why, allowed=()):
    """Refuse an option this version does not implement (a server must not start believing
    it applies): ``ValueError`` when ``name`` is set to anything but one of ``allowed``
    (e.g. ``('no', 'false', ...)`` for a feature switch that may stay off)."""
    value = _raw(conf, name)
    if value is not None and value.lower() not in allowed:
        raise ValueError('%s: not supported by this version of zerocloud (%s); remove it'
                         % (name, why))


def parse_str(conf, name, default):
    """A free string (stripped)."""
    value = _raw(conf, name)
    return default if value is None else value


def parse_choice(conf, name, default, choices):
    """One of ``choices`` (case-insensitive).

    :raises ValueError: naming the option and the choices.
    """
    value = _raw(conf, name)
    if value is None:
        return default
    if value.lower() not in choices:
        raise ValueError('%s: must be one of %s, got %r' % (name, ', '.join(choices), value))
    return value.lower()


def parse_sysimages(conf, name):
    """System images: ``name path [name path ...]`` (whitespace or comma separated).

    Returns a tuple of ``(name, path)`` pairs; ``path`` is ``None`` when only names are given
    (enough for the proxy, which only needs to know which device names exist).

    :raises ValueError: for a bad name, a relative path or a duplicated name.
    """
    tokens = (_raw(conf, name) or '').replace(',', ' ').split()
    images = []
    for token in tokens:
        if token.startswith('/'):
            if not images or images[-1][1] is not None:
                raise ValueError('%s: path %r does not follow an image name' % (name, token))
            images[-1] = (images[-1][0], token)
            continue
        if not token.replace('_', '').replace('-', '').isalnum():
            raise ValueError('%s: bad image name %r' % (name, token))
        if any(existing == token for existing, _ in images):
            raise ValueError('%s: image %r named twice' % (name, token))
        images.append((token, None))
    return tuple(images)


def default_bind_ip(conf):
    """The server's ``bind_ip`` when it names one address, else 127.0.0.1 (the default of
    the addresses zerocloud listens on: the rendezvous and the channel listeners)."""
    bind_ip = str(conf.get('bind_ip') or '').strip()
    return bind_ip if bind_ip and bind_ip not in ('0.0.0.0', '::') else '127.0.0.1'
