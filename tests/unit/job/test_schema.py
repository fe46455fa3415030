"""schema.json (shipped with the package) stays consistent with the parser.

The schema is weaker than the parser (it cannot check URLs, cross-field rules or listings),
so the properties are: the same keys, names and bounds; every job the parser accepts is
valid for the schema; every shape error (type, unknown key, enum, range) is caught by both.
A small validator for the subset of JSON Schema used keeps the test free of dependencies.
"""
import json
import re

import pytest
from hypothesis import given, settings

from zerocloud.job import DEVICE_MODES, JobError, STANDARD_DEVICES, load_schema, parse_job
from zerocloud.job.command import MAX_ARGS_TEXT, RESERVED_ENV_NAMES, RESERVED_ENV_PREFIXES
from zerocloud.job.devices import DEVICE_KEYS
from zerocloud.job.fields import MIME_TYPE
from zerocloud.job.parse import EXEC_KEYS, MAX_COUNT, MAX_REPLICATE, NODE_KEYS
from zerocloud.limits import MAX_ARGV_ITEMS, MAX_JOB_ENV_ITEMS
from tests.unit.job import test_parse_rules, test_properties

SCHEMA = load_schema()
DEFS = SCHEMA['$defs']
JSON_TYPES = {'object': dict, 'array': list, 'string': str, 'boolean': bool,
              'null': type(None)}


def _type_ok(value, name):
    if name in ('integer', 'number'):
        kinds = int if name == 'integer' else (int, float)
        return isinstance(value, kinds) and not isinstance(value, bool)
    return isinstance(value, JSON_TYPES[name])


def _object_errors(value, schema):
    props = schema.get('properties', {})
    extra = schema.get('additionalProperties', True)
    for key in schema.get('required', []):
        if key not in value:
            yield f'missing {key}'
    if 'maxProperties' in schema and len(value) > schema['maxProperties']:
        yield 'too many properties'
    for key, item in value.items():
        if 'propertyNames' in schema:
            yield from errors(key, schema['propertyNames'])
        if key in props:
            yield from errors(item, props[key])
        elif extra is False:
            yield f'unknown {key}'
        elif isinstance(extra, dict):
            yield from errors(item, extra)


def errors(value, schema):
    """Yield what is wrong with ``value`` for ``schema`` (the subset used by schema.json)."""
    if '$ref' in schema:
        yield from errors(value, DEFS[schema['$ref'].rsplit('/', 1)[1]])
    types = schema.get('type')
    if types and not any(_type_ok(value, t) for t in ([types] if isinstance(types, str) else types)):
        yield f'not {types}'
        return
    if 'enum' in schema and value not in schema['enum']:
        yield 'not in enum'
    for key, combine in (('oneOf', lambda n, total: n == 1), ('anyOf', lambda n, total: n >= 1)):
        if key in schema:
            good = sum(not list(errors(value, sub)) for sub in schema[key])
            if not combine(good, len(schema[key])):
                yield f'{key} failed'
    if 'not' in schema and not list(errors(value, schema['not'])):
        yield 'matches not'
    if isinstance(value, str):
        if len(value) < schema.get('minLength', 0) or len(value) > schema.get('maxLength', 1e9):
            yield 'length'
        if 'pattern' in schema and not re.search(schema['pattern'], value):
            yield 'pattern'
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < schema.get('minimum', -float('inf')) or value > schema.get('maximum', float('inf')):
            yield 'range'
    if isinstance(value, list):
        if len(value) < schema.get('minItems', 0):
            yield 'too few items'
        if len(value) > schema.get('maxItems', len(value)):
            yield 'too many items'
        for item in value:
            yield from errors(item, schema.get('items', {}))
    if isinstance(value, dict):
        yield from _object_errors(value, schema)


def test_schema_has_the_parsers_keys_names_and_bounds():
    assert set(DEFS['node']['properties']) == NODE_KEYS
    assert set(DEFS['exec']['properties']) == EXEC_KEYS
    assert set(DEFS['device']['properties']) == DEVICE_KEYS
    assert DEFS['device']['properties']['mode']['enum'] == list(DEVICE_MODES)
    assert DEFS['deviceName']['anyOf'][0]['enum'] == list(STANDARD_DEVICES)
    assert DEFS['node']['properties']['replicate']['maximum'] == MAX_REPLICATE
    assert DEFS['node']['properties']['count']['maximum'] == MAX_COUNT
    assert DEFS['device']['properties']['content_type']['pattern'] == '^' + MIME_TYPE.pattern + '$'


def test_schema_has_the_parsers_command_line_and_environment_rules():
    string_form, list_form = DEFS['args']['oneOf']
    assert string_form['maxLength'] == MAX_ARGS_TEXT
    assert list_form['maxItems'] == MAX_ARGV_ITEMS - 1          # argv[0] is the first string
    env = DEFS['exec']['properties']['env']
    assert env['maxProperties'] == MAX_JOB_ENV_ITEMS
    reserved_names, reserved_prefixes = env['propertyNames']['not']['anyOf']
    assert set(reserved_names['enum']) == RESERVED_ENV_NAMES
    assert reserved_prefixes['pattern'] == '^(%s)' % '|'.join(RESERVED_ENV_PREFIXES)


@pytest.mark.parametrize('rule, job', test_parse_rules.VALID,
                         ids=[row[0] for row in test_parse_rules.VALID])
def test_jobs_the_parser_accepts_are_schema_valid(rule, job):
    assert list(errors(job, SCHEMA)) == []


SHAPE_MESSAGES = ('unknown key', 'expected an', 'expected a string', "required",
                  'must be between', 'must be one of', 'not both', '[A-Za-z0-9_-]',
                  'not a MIME type', 'no nodes', 'must not be empty', 'must be >=',
                  'reserved: set by zerocloud', 'argv would hold', 'environment variables, more')


@pytest.mark.parametrize('rule, job, where, message', [
    row for row in test_parse_rules.INVALID
    if not isinstance(row[1], str) and any(m in row[3] for m in SHAPE_MESSAGES)
    and row[0] not in ('8 env keys unique', '11 readable needs path', '2 readable needs path',
                       '2 debug needs path')],
    ids=lambda value: value if isinstance(value, str) and ' ' in value else '')
def test_shape_errors_are_caught_by_the_schema_too(rule, job, where, message):
    assert list(errors(job, SCHEMA)), f'schema accepts what the parser rejects: {rule}'


@settings(max_examples=200, deadline=None)
@given(test_properties.jobs | test_properties.likely_valid_jobs())
def test_any_job_the_parser_accepts_is_schema_valid(raw):
    try:
        parse_job(raw)
    except JobError:
        return
    assert list(errors(json.loads(json.dumps(raw)), SCHEMA)) == []
