"""The JSON text of a job: bytes -> decoded values, and what JSON lets through but a job
cannot hold.

:func:`decode` takes UTF-8 only (a leading BOM is ignored) and says where the text breaks:
``line 3, column 7`` for bad JSON or bytes that are not UTF-8 (and the byte offset), the
nesting point when the decoder runs out of stack.  :func:`check_values` walks the decoded
values, before any rule of the language looks at them, and locates like the parser
(``[0].devices[1].meta['\\ud800']``):

- lone surrogates (``"\\ud800"``: valid JSON, but not text; no header, object name,
  argument or message can carry one), in keys as in values;
- ``NaN``, ``Infinity``, ``-Infinity`` (not JSON), numbers out of range (``1e999``, integers
  of more than :data:`MAX_INT_DIGITS` digits);
- duplicate keys in one object;
- nesting deeper than :data:`MAX_NESTING` (a job needs 5 levels).
"""
import json
import math
import re

from zerocloud.job.errors import JobError, at_key, show

DEFAULT_MAX_CONFIG_BYTES = 65536
MAX_NESTING = 32
MAX_INT_DIGITS = 4000
_SURROGATE = re.compile('[\ud800-\udfff]')
_BOM = '\ufeff'
DUPLICATE = 'duplicate key (given more than once in this object)'


class _NotJson:
    """What the decoder found where a value should be, reported by :func:`check_values`."""

    def __init__(self, why):
        self.why = why

    def __repr__(self):
        return '<%s>' % self.why


class _Object(dict):
    """A decoded JSON object that remembers the keys given more than once."""
    duplicates = ()


def _object(pairs):
    result = _Object(pairs)
    if len(result) < len(pairs):
        seen = set()
        result.duplicates = tuple(key for key, _ in pairs if key in seen or seen.add(key))
    return result


def _constant(name):
    return _NotJson(f'{name} is not valid JSON')


def _integer(text):
    if len(text) > MAX_INT_DIGITS:
        return _NotJson(f'an integer of {len(text)} digits is out of range')
    return int(text)


def _position(text, index):
    line = text.count('\n', 0, index) + 1
    return f'line {line}, column {index - (text.rfind(chr(10), 0, index) + 1) + 1}'


def _deepest(text):
    """The index where ``text`` is nested deepest (strings skipped)."""
    depth = best = where = 0
    in_string = escaped = False
    for index, char in enumerate(text):
        if in_string:
            escaped = not escaped and char == '\\'
            in_string = escaped or char != '"'
        elif char == '"':
            in_string = True
        elif char in '[{':
            depth += 1
            if depth > best:
                best, where = depth, index
        elif char in ']}':
            depth -= 1
    return where, best


def _text_of(data):
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError as err:
        prefix = data[:err.start].decode('utf-8', 'replace')
        raise JobError([(_position(prefix, len(prefix)), f'not UTF-8 (byte {err.start}, '
                         f'{data[err.start]:#04x}: {err.reason}); a job is UTF-8 JSON')]) from None


def decode(data, max_config_bytes=DEFAULT_MAX_CONFIG_BYTES):
    """Bytes or text -> decoded JSON; a decoded value passes through.  Either way checked
    with :func:`check_values`.

    :raises JobError: 413 when larger than ``max_config_bytes``, 400 when not UTF-8 JSON
        (saying where it broke) or holding what a job cannot (see the module docstring).
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        data = bytes(data)
        size = len(data)
    elif isinstance(data, str):
        size = len(data.encode('utf-8', 'surrogatepass'))
    else:
        check_values(data)
        return data
    if size > max_config_bytes:
        raise JobError([('', f'job description is {size} bytes, more than the '
                         f'{max_config_bytes} allowed')], status=413)
    text = _text_of(data) if isinstance(data, bytes) else data
    text = text[1:] if text.startswith(_BOM) else text
    try:
        value = json.loads(text, object_pairs_hook=_object, parse_constant=_constant,
                           parse_int=_integer)
    except json.JSONDecodeError as err:
        raise JobError([(_position(text, err.pos), f'invalid JSON: {err.msg}')]) from None
    except RecursionError:
        index, depth = _deepest(text)
        raise JobError([(_position(text, index), f'nested {depth} levels deep, more than the '
                         f'{MAX_NESTING} allowed')]) from None
    except ValueError as err:  # not expected past the hooks; still the caller's text
        raise JobError([('', f'invalid JSON: {show(str(err), 120)}')]) from None
    check_values(value)
    return value


def check_values(value):
    """Refuse what a decoded job cannot hold (module docstring), every place located.

    :raises JobError: 400 listing each place.
    """
    problems = []
    stack = [('[0]' if isinstance(value, dict) else '', value, 0)]  # an object: a node
    while stack:
        where, item, depth = stack.pop()
        if isinstance(item, (dict, list)) and depth >= MAX_NESTING:
            problems.append((where, f'nested more than {MAX_NESTING} levels deep'))
            continue
        if isinstance(item, dict):
            for key in getattr(item, 'duplicates', ()):
                problems.append((at_key(where, key), DUPLICATE))
            children = []
            for key, child in item.items():
                here = at_key(where, key)
                if isinstance(key, str) and _SURROGATE.search(key):
                    problems.append((here, _surrogate_message('key', key)))
                children.append((here, child, depth + 1))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend(reversed([(f'{where}[{i}]', child, depth + 1)
                                   for i, child in enumerate(item)]))
        elif isinstance(item, str) and _SURROGATE.search(item):
            problems.append((where, _surrogate_message('value', item)))
        elif isinstance(item, _NotJson):
            problems.append((where, item.why))
        elif isinstance(item, float) and not math.isfinite(item):
            problems.append((where, 'number out of range'))
    if problems:
        raise JobError([(where, what if where else f'the job itself: {what}')
                        for where, what in problems])


def _surrogate_message(what, text):
    char = _SURROGATE.search(text).group()
    return (f'the {what} {show(text)} holds a lone surrogate U+{ord(char):04X}, which is '
            'not text (a \\ud800-\\udfff escape must be half of a pair)')
