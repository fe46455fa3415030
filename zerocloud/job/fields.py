"""Checks of single JSON values, each recording a located problem instead of raising.

Every checker takes the collector, the location and the raw value, and returns the
normalised value, or None after recording what is wrong.  Kept free of job semantics so the
parser reads as a list of rules.
"""
import re
from types import MappingProxyType

from zerocloud.job.errors import at_key, show, type_name
from zerocloud.job.urls import has_control_chars

MAX_TEXT = 4096              # any free-text field (args item, env value, location ...)
MAX_META_NAME_LENGTH = 128   # Swift's default object metadata constraints
MAX_META_VALUE_LENGTH = 256
MAX_META_COUNT = 90
MAX_META_OVERALL_SIZE = 4096
MIME_TYPE = re.compile(r'[^/\s;]+/[^/\s;]+\s*(;.*)?', re.DOTALL)   # also in schema.json


def check_text(problems, where, value, *, empty_ok=False, limit=MAX_TEXT):
    """A string without control characters (and non-empty unless ``empty_ok``)."""
    if not isinstance(value, str):
        problems.add(where, f'expected a string, got {type_name(value)}')
        return None
    if not value and not empty_ok:
        problems.add(where, 'must not be empty')
        return None
    if has_control_chars(value):
        problems.add(where, f'control characters not allowed: {show(value)}')
        return None
    if len(value) > limit:
        problems.add(where, f'longer than {limit} characters')
        return None
    return value


def check_int(problems, where, value, *, minimum=0, maximum=None):
    """An integer (not a boolean) within [minimum, maximum]."""
    if not isinstance(value, int) or isinstance(value, bool):
        problems.add(where, f'expected an integer, got {type_name(value)}')
        return None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f'between {minimum} and {maximum}' if maximum is not None else f'>= {minimum}'
        problems.add(where, f'must be {bound}, got {show(value)}')
        return None
    return value


def check_object(problems, where, value, allowed_keys):
    """A JSON object whose keys are all in ``allowed_keys``; returns it or None."""
    if not isinstance(value, dict):
        problems.add(where, f'expected an object, got {type_name(value)}')
        return None
    for key in value:
        if key not in allowed_keys:
            problems.add(at_key(where, key),
                         f'unknown key {show(key)} (allowed: {", ".join(sorted(allowed_keys))})')
    return value


def check_list(problems, where, value):
    """A JSON array; returns it or None."""
    if not isinstance(value, list):
        problems.add(where, f'expected an array, got {type_name(value)}')
        return None
    return value


def check_meta(problems, where, value):
    """Object metadata (``meta``): string names and values within Swift's limits."""
    if not isinstance(value, dict):
        problems.add(where, f'expected an object, got {type_name(value)}')
        return None
    total, ok = 0, True
    for key, item in value.items():
        here = at_key(where, key)
        name = check_text(problems, here, key, limit=MAX_META_NAME_LENGTH)
        text = check_text(problems, here, item, empty_ok=True, limit=MAX_META_VALUE_LENGTH)
        ok = ok and name is not None and text is not None
        if ok:
            total += len(name) + len(text)
    if len(value) > MAX_META_COUNT:
        problems.add(where, f'more than {MAX_META_COUNT} metadata items')
        ok = False
    if total > MAX_META_OVERALL_SIZE:
        problems.add(where, f'metadata larger than {MAX_META_OVERALL_SIZE} bytes in total')
        ok = False
    return MappingProxyType(dict(value)) if ok else None


def check_content_type(problems, where, value):
    """A MIME type such as ``text/plain`` or ``message/http; charset=utf-8``."""
    text = check_text(problems, where, value, limit=256)
    if text is None:
        return None
    if not MIME_TYPE.fullmatch(text):
        problems.add(where, f'not a MIME type: {show(text)}')
        return None
    return text
