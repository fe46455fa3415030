"""Hostile job requests: the generator shared by the fuzz suite (tests/functional/test_fuzz.py)
and the long fuzz (bench/fuzz_jobs.py), the staging of the few objects they name, the
request sender and the checks every answer must pass.

What is generated (:func:`cases`): valid-ish jobs with mutated fields (wrong types, empty,
huge and non-Latin-1 strings, lone surrogates in keys and values, hostile paths and content
types, meta, env, args, deep nesting, duplicated nodes), random JSON, random bytes with and
without a Content-Type, scripts with odd shebangs, odd ``X-Zerovm-Execute`` values, methods,
paths and tokens.  Nothing expensive ever runs: executables are missing, rejected by
validation (``exe`` is not an ELF), or the ``python`` system image on a one-line script.

The checks (:func:`check`): no 5xx other than 501 (a documented "not yet supported") and 503
(no capacity), no dropped connection, no hang, and every 400 says where the problem is.
"""
import dataclasses
import json
import os
import re

import requests
from hypothesis import strategies as st

STAGE = 'fuzz-stage'   # the objects jobs read (never written by a generated job's template)
OUT = 'fuzz-out'       # where the templates' outputs go
SCRATCH = 'fuzz-scratch'   # what requests Swift answers itself (not ours) may touch
STAGE_OBJECTS = {
    'in.txt': b'hello\nworld\n',
    'ok.py': b'print("ok")\n',
    'cat.py': b'import sys\nsys.stdout.write(sys.stdin.read())\n',
    'exe': b'\x7fELF not really an executable',
    '\u00e9-1.txt': b'e one\n',
    '\u65e5\u672c.txt': b'nihon\n',
}
TIMEOUT = 30
MAX_BODY = 65536          # zerovm_maxconfig of the test clusters

# --------------------------------------------------------------------------- values

SURROGATES = ('\ud800', '\udfff', '\udc80', '\udbff\ud800')
ODD_TEXT = (
    '', ' ', '\x00', '\n', '\t', '\x7f', '\u0085', '\u2028', '\ufeff', '\ufffe', '\uffff',
    '\u00e9', '\u00ff', '\u0100', '\u65e5\u672c', '\U0001f600', 'caf\u00e9 \u65e5', '%',
    '%ff', '%ff%fe', '%00', '%2F', '%2e%2e', '..', '../..', '*', '**', '~', '.', '/', '//',
    '\\', '"', "'", "'unterminated", '"x', 'a\\', '$HOME', '`id`', '; rm -rf /', '-c',
    'default', 'stdin', 'python', 'None', 'null', 'true', '0', '-1', '1e999',
) + SURROGATES
DEVICE_NAMES = ('stdin', 'stdout', 'stderr', 'input', 'output', 'script', 'image', 'debug',
                'python', 'Stdin', 'nope', 'stdin ', '\u00e9', '\ud800')
CONTENT_TYPES = ('text/plain', 'text/plain; charset=utf-8', 'message/http', 'message/cgi',
                 'text/x-\u65e5', 'text/plain; x=\u65e5', 'text/\u00e9', 'x', '/', 'a/b/c',
                 'text/plain\r\nX-Evil: 1', 'text/plain;' + 'p' * 300, '\ud800/x')
MODES = ('file', 'char', 'pipe', 'block', 'FILE', 'socket', '')
NODE_NAMES = ('n', 'map', 'reduce', 'a-b_c', 'x' * 128, 'x' * 129, 'n.1', 'n 1', '\u00e9',
              '\u65e5', '\ud800', '')


def _paths():
    stage = 'swift://~/' + STAGE
    out = 'swift://~/' + OUT
    return (
        stage + '/in.txt', stage + '/ok.py', stage + '/exe', stage + '/missing',
        stage + '/*', stage + '/%C3%A9-*', stage + '/\u00e9-*', stage + '/\u65e5*',
        stage + '/*.txt', stage, stage + '/', 'swift://./' + STAGE + '/in.txt',
        'swift://~/c/\u00e9*', 'swift://~/*/x', 'swift://~/c*/*', 'swift://*/c/o',
        out + '/o-*', out + '/out', out + '/\u00e9-*', out + '/**', out + '/out\u00e9',
        'swift://AUTH_test2/c/o', 'swift://AUTH_nobody/c/o', 'swift://~/%ff%fe/x',
        'swift://~/c/%ff', 'swift://~/%00/x', 'swift://~/c/%0a', 'swift://~/a%2Fb/c',
        'swift://~/../../etc/passwd', stage + '/../in.txt', 'swift://~/c/%2e%2e/%2e%2e',
        'swift://', 'swift:///', 'swift://~', 'swift://~/', 'swift://~//o',
        'swift://~/c/' + 'x' * 1025, 'swift://~/' + 'c' * 257 + '/o',
        'swift://~/c/' + '%e6%97%a5' * 400, 'file://python:python', 'file://python:',
        'file://python:../../etc/passwd', 'file://image:bin/x', 'file://nope:bin/x',
        'file://bin/x', 'file://', 'file://*', 'bin/sort', '/bin/sh', '..',
        'zvm://n:stdin', 'zvm://n:/dev/stdin', 'zvm://x:/dev/../../x', 'zvm://:x',
        'zvm://\u00e9:stdin', 'tcp://localhost:99999', 'tcp://h:1', 'udp://h:0',
        'http://example.com/', 'swift:/~/c/o', 'SWIFT://~/c/o', ' swift://~/c/o', '',
        'swift://~/c/o\ud800', 'swift://~/\ud800/o', 'swift://~/c/%ed%a0%80',
    )


PATHS = _paths()

# Scalars and containers of every JSON type, with the awkward ones over-represented.
ints = st.one_of(st.integers(-3, 3), st.sampled_from(
    (2 ** 31 - 1, 2 ** 31, 2 ** 63, -2 ** 63, 10 ** 30, 100, 101, 10000)), st.integers())
floats = st.one_of(st.sampled_from((0.5, -0.0, 1e308, 1.0, float('nan'), float('inf'))),
                   st.floats(allow_nan=True, allow_infinity=True))
odd_text = st.one_of(
    st.sampled_from(ODD_TEXT),
    st.text(max_size=20),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=12),
    st.builds(lambda n, c: c * n, st.sampled_from((127, 128, 129, 255, 256, 257, 1024,
                                                   4096, 4097, 9000)),
              st.sampled_from(('x', '\u00e9', '\u65e5', '/', '*'))),
    st.builds(lambda parts: ''.join(parts), st.lists(st.sampled_from(ODD_TEXT), max_size=4)),
    st.builds(lambda data: ''.join('%%%02x' % b for b in data), st.binary(max_size=12)),
)
path_text = st.one_of(
    st.sampled_from(PATHS),
    st.builds(lambda a, b: 'swift://~/%s/%s' % (a, b), odd_text, odd_text),
    st.builds(lambda a, b: 'file://%s:%s' % (a, b), odd_text, odd_text),
    st.builds(lambda s, r: '%s://%s' % (s, r), st.sampled_from(('swift', 'file', 'zvm', 'tcp')),
              odd_text),
)
scalars = st.one_of(st.none(), st.booleans(), ints, floats, odd_text, path_text)
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(odd_text, inner, max_size=4)), max_leaves=12)


def nested(depth, leaf='x'):
    """``[[[...leaf...]]]`` (or objects) ``depth`` deep."""
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {'k': value}
    return value


deep = st.builds(nested, st.sampled_from((31, 32, 33, 50, 100, 500, 900)))
hostile = st.one_of(scalars, json_values, st.lists(path_text, max_size=3), deep)

# --------------------------------------------------------------------------- jobs


def python_node(name='n', script='ok.py', stdin=None, **extra):
    devices = [{'name': 'python'}, {'name': 'script', 'path': 'swift://~/%s/%s' % (STAGE, script)},
               {'name': 'stdout'}]
    if stdin:
        devices.append({'name': 'stdin', 'path': stdin})
    node = {'name': name, 'exec': {'path': 'file://python:python', 'args': '/dev/script'},
            'devices': devices}
    node.update(extra)
    return node


def exe_node(name='e', exe='exe', **extra):
    node = {'name': name, 'exec': {'path': 'swift://~/%s/%s' % (STAGE, exe), 'args': 'a b',
                                   'env': {'K': 'v'}},
            'devices': [{'name': 'stdin', 'path': 'swift://~/%s/in.txt' % STAGE},
                        {'name': 'stdout', 'content_type': 'text/plain'},
                        {'name': 'stderr', 'path': 'swift://~/%s/err' % OUT,
                         'meta': {'Color': 'blue'}, 'min_size': 0, 'mode': 'file'}]}
    node.update(extra)
    return node


def templates():
    """Valid jobs that are cheap to run, the starting points of the mutations."""
    return (
        [python_node()],
        [python_node(stdin='swift://~/%s/in.txt' % STAGE, script='cat.py')],
        [exe_node()],                                       # rejected by validation
        [exe_node(exe='missing')],                          # 404 naming it
        [exe_node('m', count=2, connect=['r'],
                  devices=[{'name': 'stdin', 'path': 'swift://~/%s/*.txt' % STAGE}]),
         exe_node('r', devices=[{'name': 'stdout'}])],     # connected, rejected at once
        python_node(location='here', replicate=1, attach='script'),   # a single object
        [python_node('pub', devices=[                   # reads three ways, publishes
            {'name': 'python'}, {'name': 'script', 'path': 'swift://~/%s/cat.py' % STAGE},
            {'name': 'stdin', 'path': 'swift://~/%s/\u00e9-*' % STAGE},
            {'name': 'input', 'path': 'swift://~/%s/in.txt' % STAGE},
            {'name': 'stdout', 'path': 'swift://~/%s/pub-*' % OUT, 'min_size': 1,
             'content_type': 'text/plain; x=\u65e5', 'meta': {'Note': 'gr\u00fc\u00df'}}])],
        [{'name': 'legacy', 'exec': {'path': 'swift://~/%s/exe' % STAGE}, 'args': 'x',
          'file_list': [{'device': 'stdin', 'path': 'swift://~/%s/in.txt' % STAGE}]}],
    )


def _locations(value, limit=12):
    """Every path into ``value`` where a mutation can apply (the root included), at most
    ``limit`` deep."""
    found, stack = [], [((), value)]
    while stack:
        here, item = stack.pop()
        found.append(here)
        if len(here) >= limit:
            continue
        if isinstance(item, dict):
            stack.extend((here + (key,), child) for key, child in item.items())
        elif isinstance(item, list):
            stack.extend((here + (i,), child) for i, child in enumerate(item))
    return sorted(found, key=repr)


def _get(value, where):
    for step in where:
        value = value[step]
    return value


KEYS = ('name', 'exec', 'devices', 'file_list', 'count', 'connect', 'replicate', 'attach',
        'location', 'args', 'path', 'env', 'content_type', 'meta', 'mode', 'min_size', 'device',
        'K', 'Color', 'HTTP_X', 'PATH_INFO', 'LOCAL_X', 'lowercase', 'a-b', '')
FIELD_VALUES = {
    'name': st.one_of(st.sampled_from(NODE_NAMES + DEVICE_NAMES), odd_text),
    'device': st.sampled_from(DEVICE_NAMES), 'path': path_text,
    'content_type': st.one_of(st.sampled_from(CONTENT_TYPES), odd_text),
    'mode': st.sampled_from(MODES), 'count': ints, 'replicate': ints, 'min_size': ints,
    'args': st.one_of(odd_text, st.lists(odd_text, max_size=5)),
    'env': st.dictionaries(st.one_of(st.sampled_from(KEYS), odd_text), odd_text, max_size=4),
    'meta': st.dictionaries(odd_text, odd_text, max_size=4),
    'connect': st.lists(st.one_of(st.sampled_from(NODE_NAMES), odd_text), max_size=3),
    'attach': st.one_of(st.sampled_from(DEVICE_NAMES + ('default',)), odd_text),
}


@st.composite
def mutated_job(draw):
    """A template with up to four mutations: replace, delete, add a key, wrap, duplicate."""
    job = json.loads(json.dumps(draw(st.sampled_from(templates()))))
    for _ in range(draw(st.integers(0, 4))):
        where = draw(st.sampled_from(_locations(job)))
        op = draw(st.sampled_from(('replace', 'replace', 'field', 'delete', 'add', 'wrap',
                                   'duplicate')))
        parent_where, key = where[:-1], (where[-1] if where else None)
        if not where:
            job = draw(hostile) if op == 'replace' else [job] if op == 'wrap' else job
            continue
        parent = _get(job, parent_where)
        target = parent[key]
        if op == 'replace':
            parent[key] = draw(hostile)
        elif op == 'field' and isinstance(key, str):
            parent[key] = draw(FIELD_VALUES.get(key, hostile))
        elif op == 'delete':
            del parent[key]
        elif op == 'add' and isinstance(target, dict):
            target[draw(st.one_of(st.sampled_from(KEYS), odd_text))] = draw(
                st.one_of(FIELD_VALUES.get(draw(st.sampled_from(KEYS)), hostile), hostile))
        elif op == 'wrap':
            parent[key] = [target]
        elif op == 'duplicate' and isinstance(target, (dict, list)):
            copies = draw(st.sampled_from((2, 3, 50, 200)))
            if isinstance(parent, list):
                parent.extend(json.loads(json.dumps(target)) for _ in range(copies - 1))
    return job


def encode_json(value, ascii_only, indent):
    """JSON bytes of ``value``: escaped (lone surrogates as ``\\ud800``, valid JSON) or raw
    (lone surrogates as their CESU bytes, invalid UTF-8)."""
    try:
        text = json.dumps(value, ensure_ascii=ascii_only, indent=indent)
    except (ValueError, RecursionError):
        text = '[]'
    return text.encode('utf-8', 'surrogatepass')


@st.composite
def json_body(draw):
    value = draw(st.one_of(mutated_job(), mutated_job(), mutated_job(), json_values, deep))
    body = encode_json(value, draw(st.booleans()), draw(st.sampled_from((None, None, 1))))
    damage = draw(st.sampled_from(('none',) * 6 + ('truncate', 'byte', 'pad', 'bom', 'huge',
                                                   'deep')))
    if damage == 'truncate' and body:
        body = body[:draw(st.integers(0, len(body) - 1))]
    elif damage == 'byte' and body:
        at = draw(st.integers(0, len(body)))
        body = body[:at] + bytes([draw(st.integers(0, 255))]) + body[at:]
    elif damage == 'pad':
        body = b' ' * draw(st.sampled_from((1, MAX_BODY - len(body), MAX_BODY + 1 - len(body),
                                            70000))) + body
    elif damage == 'bom':
        body = b'\xef\xbb\xbf' + body
    elif damage == 'deep':    # deeper than any decoder's stack
        depth = draw(st.sampled_from((990, 1000, 1100, 3000, 20000, 32000)))
        opener = draw(st.sampled_from((b'[', b'{"a":', b'[{"b":')))
        body = opener * depth + b'1' + b']}'[:1] * draw(st.sampled_from((0, depth)))
    elif damage == 'huge':
        body = json.dumps([python_node(args='x' * 70000)]).encode()
    return body


# --------------------------------------------------------------------------- requests


@dataclasses.dataclass(frozen=True)
class Case:
    """One request: ``version`` and ``account`` segments (None: the caller's), the rest of
    the path, headers (``(name, bytes or None)``: None leaves the header out) and body."""
    kind: str
    method: str = 'POST'
    version: str = 'v1'
    account: str = None
    path: str = ''
    headers: tuple = ()
    body: bytes = b''
    token: bool = True

    def describe(self):
        return {'kind': self.kind, 'method': self.method, 'version': self.version,
                'account': self.account, 'path': self.path, 'token': self.token,
                'headers': [(name, None if value is None else value.decode('latin-1'))
                            for name, value in self.headers],
                'body': self.body.decode('latin-1')}


EXECUTE_VALUES = (b'1.0', b'1.0', b'1.0', b'', b'1.0 ', b'2.0', b'1', b'open/1.0', b'api/1.0',
                  b'job/1.0', b'x/1.0', b'1.0/1.0', b'/', b'\xc3\xa9', b'\xff', b'1.0\t1',
                  b'a' * 5000)
JSON_TYPES = (b'application/json', b'application/json; charset=utf-8', b'APPLICATION/JSON',
              b'application/json;', b'application/json ')
OTHER_TYPES = (None, b'', b'text/plain', b'text/x-python', b'application/x-tar',
               b'application/gzip', b'application/octet-stream', b'multipart/form-data',
               b'text/\xc3\xa9', b'\xff', b'application/json\x7f', b';', b'a' * 5000)
OBJECT_PATHS = ('', '', '', '/' + STAGE + '/in.txt', '/' + STAGE, '/' + STAGE + '/missing',
                '/' + STAGE + '/%C3%A9-1.txt', '/' + STAGE + '/%E6%97%A5%E6%9C%AC.txt',
                '/%ff', '/' + STAGE + '/%ff%fe', '/' + STAGE + '/%ed%a0%80', '/c/..', '/../x',
                '/' + STAGE + '/in.txt?x=%ff', '?multipart-manifest=get', '/%00/x', '/',
                '//', '/c/o/', '/' + 'c' * 300 + '/o')
SHEBANGS = (b'#!file://python:python', b'#!file://python:python -u', b'#!', b'#! ', b'#!\xff',
            b'#!\xed\xa0\x80', b'#!swift://~/' + STAGE.encode() + b'/exe',
            b'#!swift://~/' + STAGE.encode() + b'/missing', b'#!/bin/sh', b'#!file://nope:x',
            b'#!file://python:python ' + b'x' * 5000, b'#!file://python:python \'unterminated',
            b'#!file://python:python \xc3\xa9 \xe6\x97\xa5', b'#!zvm://n:stdin', b'#!*',
            b'\xef\xbb\xbf#!file://python:python', b' #!file://python:python', b'#!\x00',
            b'#!file://python:python\r', b'#!swift://~/' + STAGE.encode() + b'/ok.py')
METHODS = ('GET', 'PUT', 'HEAD', 'DELETE', 'PATCH', 'OPTIONS', 'COPY', 'EXECUTE', 'post')


def _headers(execute, content_type, extra=()):
    return ((('X-Zerovm-Execute', execute), ('Content-Type', content_type)) + tuple(extra))


extra_headers = st.lists(st.sampled_from((
    ('X-Zerovm-Source', b'swift://~/' + STAGE.encode() + b'/ok.py'),
    ('X-Backend-Zerocloud-Version', b'1'), ('X-Zerovm-Timeout', b'99999'),
    ('X-Object-Meta-A', b'\xc3\xa9'), ('X-Evil', b'\xed\xa0\x80'),
    ('X-Big', b'h' * 8000), ('Transfer-Encoding', b'chunked'), ('Expect', b'100-continue'),
    ('Content-Encoding', b'gzip'), ('Range', b'bytes=0-1'))), max_size=2, unique=True)


@st.composite
def job_case(draw):
    return Case('job', headers=_headers(draw(st.sampled_from(EXECUTE_VALUES[:3] + (b'1.0',))),
                                        draw(st.sampled_from(JSON_TYPES))),
                body=draw(json_body()))


@st.composite
def bytes_case(draw):
    body = draw(st.one_of(st.binary(max_size=200), st.sampled_from(
        (b'', b'[', b'{', b'[]', b'{}', b'null', b'\xff\xfe[\x00]\x00', b'\x00' * 100,
         b'\x1f\x8b\x08\x00', b'ustar', b'#!', b'  [1]', b'\n{"name":1}'))))
    content_type = draw(st.sampled_from(JSON_TYPES + OTHER_TYPES))
    return Case('bytes', path=draw(st.sampled_from(OBJECT_PATHS)),
                headers=_headers(b'1.0', content_type), body=body)


@st.composite
def script_case(draw):
    line = draw(st.one_of(st.sampled_from(SHEBANGS), st.builds(
        lambda text: b'#!' + text.encode('utf-8', 'surrogatepass'), odd_text)))
    rest = draw(st.sampled_from((b'\nprint("ok")\n', b'', b'\n', b'\r\nprint(1)',
                                 b'\nimport sys; sys.stdout.write(sys.stdin.read())\n',
                                 b'\nraise SystemExit(3)\n', b'\n\xff\xfe')))
    return Case('script', path=draw(st.sampled_from(OBJECT_PATHS)),
                headers=_headers(b'1.0', draw(st.sampled_from(OTHER_TYPES))), body=line + rest)


@st.composite
def form_case(draw):
    """Odd methods, X-Zerovm-Execute values, version segments, accounts, tokens, headers."""
    kind = draw(st.sampled_from(('job', 'script')))
    body = (encode_json([python_node()], True, None) if kind == 'job'
            else b'#!file://python:python\nprint("ok")\n')
    content_type = b'application/json' if kind == 'job' else b'text/x-python'
    execute = draw(st.sampled_from(EXECUTE_VALUES + (None,)))
    method = draw(st.sampled_from(('POST',) * 4 + METHODS))
    version = draw(st.sampled_from(('v1',) * 4 + ('v1.0', 'open', 'api', 'v2', '')))
    path = draw(st.sampled_from(OBJECT_PATHS))
    content_type = draw(st.sampled_from((content_type,) * 3 + JSON_TYPES + OTHER_TYPES))
    if not ours(Case('form', version=version, headers=(('X-Zerovm-Execute', execute),))):
        # Swift's own requests, to the scratch container, with sane types (the fuzz found
        # that Swift 2.38 lets a POST with a Content-Type that is not UTF-8 break the
        # listings of the object's container for good, and error-limits its servers)
        method = draw(st.sampled_from(('POST', 'GET', 'HEAD')))
        path = draw(st.sampled_from(('', '/' + SCRATCH, '/' + SCRATCH + '/o')))
        content_type = draw(st.sampled_from((None, b'text/plain', b'application/json')))
    return Case('form', method=method, version=version,
                account=draw(st.sampled_from((None,) * 6 + (
                    'AUTH_test2', 'AUTH_nobody', 'AUTH_%ff', 'AUTH_%C3%A9', '.', '~'))),
                path=path,
                headers=_headers(execute, content_type, draw(extra_headers)),
                body=body, token=draw(st.sampled_from((True,) * 9 + (False,))))


def cases():
    """Every kind of hostile request, jobs most often."""
    return st.one_of(job_case(), job_case(), job_case(), bytes_case(), script_case(),
                     form_case())


# --------------------------------------------------------------------------- sending


def auth(auth_url, user='test:tester', key='testing'):
    """(storage url, token) from tempauth v1."""
    resp = requests.get(auth_url, headers={'X-Auth-User': user, 'X-Auth-Key': key},
                        timeout=TIMEOUT)
    resp.raise_for_status()
    return resp.headers['X-Storage-Url'], resp.headers['X-Auth-Token']


def stage(storage_url, token):
    """Upload the objects the generated jobs name (idempotent)."""
    headers = {'X-Auth-Token': token}
    for container in (STAGE, OUT, SCRATCH):
        requests.put('%s/%s' % (storage_url, container), headers=headers,
                     timeout=TIMEOUT).raise_for_status()
    requests.put('%s/%s/o' % (storage_url, SCRATCH), data=b'scratch', headers=headers,
                 timeout=TIMEOUT).raise_for_status()
    for name, data in STAGE_OBJECTS.items():
        requests.put('%s/%s/%s' % (storage_url, STAGE, requests.utils.quote(name)), data=data,
                     headers=headers, timeout=TIMEOUT).raise_for_status()


@dataclasses.dataclass
class Outcome:
    status: int = None
    headers: dict = None
    text: str = ''
    error: str = None       # 'dropped' or 'hang'
    detail: str = ''


def url_of(storage_url, case):
    """The request URL of ``case`` against the caller's ``storage_url`` (…/v1/AUTH_x)."""
    base, _, account = storage_url.rstrip('/').rpartition('/')
    root = base.rpartition('/')[0]
    version = case.version
    return '%s/%s%s%s' % (root, version + '/' if version else '', case.account or account,
                          case.path)


def send(session, storage_url, token, case, timeout=TIMEOUT):
    """Send ``case``; an :class:`Outcome` (status and text, or the transport error)."""
    headers = {name: value for name, value in case.headers if value is not None}
    if case.token:
        headers['X-Auth-Token'] = token
    headers['Connection'] = 'close'   # a stale pooled connection is not the server's drop
    if 'Transfer-Encoding' in headers:
        body = iter([case.body])      # a generator: requests sends it chunked
    else:
        body = case.body
    try:
        resp = session.request(case.method, url_of(storage_url, case), data=body,
                               headers=headers, timeout=timeout, allow_redirects=False)
        return Outcome(resp.status_code, resp.headers, resp.content.decode('utf-8', 'replace'))
    except requests.Timeout as err:
        return Outcome(error='hang', detail=str(err))
    except requests.ConnectionError as err:
        return Outcome(error='dropped', detail=str(err))


# --------------------------------------------------------------------------- checks

ALLOWED_5XX = (501, 503)   # "not yet supported" (documented), no capacity
#: where a problem is: a JSON location, a place in the text, a header, a path or a shebang
LOCATED = re.compile(
    r'\[\d+\]'                                  # [0].devices[1].path
    r'|line \d+, column \d+|byte \d+'          # where the JSON text broke
    r'|X-Zerovm-\w+|Content-Type|Content-Length|request body|query string'  # its parts
    r'|#!|/v1|/open/|/api/|POST'               # script first line, paths, method
    r'|^(job description|the job|a job)\b')      # the whole document
#: the problems that concern no single field (the document as a whole)
WHOLE_DOCUMENT = ('job description is', 'the job has no nodes', 'a job is a JSON array',
                  'zerovm_maxconfig', 'the zapp', 'boot/system.map')


def ours(case):
    """True when zerocloud answers ``case`` (SPEC S1); Swift answers the rest its own way."""
    execute = dict(case.headers).get('X-Zerovm-Execute')
    return case.version in ('open', 'api') or (
        execute is not None and case.version in ('v1', 'v1.0'))


def unlocated(case, outcome):
    """True when our 400 does not say where its problem is."""
    if outcome.status != 400 or case.method == 'HEAD' or not ours(case):
        return False
    text = outcome.text
    return not LOCATED.search(text) and not any(phrase in text for phrase in WHOLE_DOCUMENT)


def check(case, outcome):
    """What is wrong with the answer to ``case`` (empty when nothing)."""
    if outcome.error:
        return ['%s: %s' % (outcome.error, outcome.detail[:300])]
    wrong = []
    if outcome.status >= 500 and outcome.status not in ALLOWED_5XX:
        wrong.append('status %d: %s' % (outcome.status, outcome.text[:300]))
    if unlocated(case, outcome):
        wrong.append('400 without a location: %r' % outcome.text[:300])
    return wrong


# --------------------------------------------------------------------------- servers


def _cmdline(pid):
    try:
        with open('/proc/%s/cmdline' % pid, 'rb') as handle:
            return handle.read()
    except OSError:
        return b''


def server_pids(etc_dir, kind):
    """Pids of a cluster's ``kind`` servers (``proxy``, ``object``), found by config path."""
    needle = os.path.join(etc_dir, kind).encode()
    return sorted(pid for pid in os.listdir('/proc') if pid.isdigit()
                  and needle in _cmdline(pid))


def usage(pids):
    """``(open fds, RSS KiB)`` summed over ``pids``.

    An epoll instance per thread is not counted (Swift's object servers run disk calls in a
    pool of native threads, each of which gets its own eventlet hub, and so its own epoll
    fd, the first time it is used: up to ``eventlet_tpool_num_threads``, never more).
    """
    fds = rss = 0
    for pid in pids:
        try:
            targets = []
            for fd in os.listdir('/proc/%s/fd' % pid):
                try:
                    targets.append(os.readlink('/proc/%s/fd/%s' % (pid, fd)))
                except OSError:
                    continue
            hubs = min(targets.count('anon_inode:[eventpoll]'),
                       len(os.listdir('/proc/%s/task' % pid)))
            with open('/proc/%s/status' % pid) as handle:
                rss += next(int(line.split()[1]) for line in handle
                            if line.startswith('VmRSS:'))
            fds += len(targets) - hubs
        except (OSError, StopIteration):
            continue
    return fds, rss
