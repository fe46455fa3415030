"""Every rule of ZeroCloud doc/Servlets.md (1-21) that needs no Swift, valid and invalid.

Each row names its rule; invalid rows give the exact location and a part of the message.
"""
import pytest

from zerocloud.job import JobError, parse_job
from tests.unit.job.helpers import EXE, dev, node, problems_of

OUT = 'swift://acct/out/o'
IN = 'swift://acct/in/i'

VALID = [
    ('1 standard devices', [node(devices=[dev('stdin', IN), dev('stdout'), dev('stderr'),
                                          dev('input', 'swift://acct/in/j'),
                                          dev('output', OUT), dev('image', 'swift://a/i/t.tar'),
                                          dev('debug', 'tcp://h:1'), dev('script', 'swift://a/s/x')])]),
    ('1 system image', [node(devices=[dev('python')])]),
    ('2 path-less response devices', [node(devices=[dev('stdout'), dev('stderr'), dev('output')])]),
    ('2 one path-less readable (payload)', [node(devices=[dev('stdin'), dev('input', IN)])]),
    ('2 path-less input or script', [node(devices=[dev('script')]), node('m', devices=[dev('input')])]),
    ('3 several wildcards in one path', [node(devices=[dev('stdin', 'swift://a/c*/x*y*')])]),
    ('3 count is ignored with a wildcard', [node(count=7, devices=[dev('stdin', 'swift://a/c/*')])]),
    ('4 no devices, count', [node(count=3)]),
    ('5 readable wildcard, writable wildcard', [node(devices=[dev('stdin', 'swift://a/c/*.in'),
                                                             dev('stdout', 'swift://a/c/*.out')])]),
    ('5 readable wildcard, path-less writable', [node(devices=[dev('input', 'swift://a/c/*'),
                                                              dev('stderr')])]),
    ('5 image wildcard, writable wildcard', [node(devices=[dev('image', 'swift://a/c/*.tar'),
                                                          dev('output', 'swift://a/o/*')])]),
    ('5 count with writable wildcard', [node(count=2, devices=[dev('stdout', 'swift://a/o/*')])]),
    ('6 group connected to itself (count)', [node(count=2, connect=['n'])]),
    ('6 group connected to itself (wildcard)', [node(connect=['n'],
                                                    devices=[dev('stdin', 'swift://a/c/*')])]),
    ('6 connect to another node', [node(connect=['m']), node('m')]),
    ('7 args string', [node(exec={'path': EXE, 'args': '-v  --x=1'})]),
    ('7 args list', [node(exec={'path': EXE, 'args': ['a b', '', 'c']})]),
    ('7 args at node level (sort example)', [node(args='1048576')]),
    ('7 args quoted like a shell', [node(exec={'path': EXE, 'args': "x 'y z' \"a b\" c\\ d"})]),
    ('8 env names like the CGI ones',
     [node(exec={'path': EXE, 'env': {'path_info': '', 'HTTPS': '', 'LOCALE': ''}})]),
    ('8 env', [node(exec={'path': EXE, 'env': {'LANG': 'C', 'X_1': '', 'N': 5}})]),
    ('10 debug udp', [node(devices=[dev('debug', 'udp://host.example-1:9')])]),
    ('11 relative exec path', [node(exec={'path': 'bin/sort'})]),
    ('11 exec in a system image', [node(exec={'path': 'file://python:bin/python'})]),
    ('11 readable container input', [node(devices=[dev('stdin', 'swift://a/c')])]),
    ('12 content_type', [node(devices=[dev('stdout', content_type='message/http')]),
                         node('m', devices=[dev('stdout', OUT, content_type='text/plain; charset=utf-8')])]),
    ('14 meta', [node(devices=[dev('stdout', OUT, meta={'Color': 'blue', 'k': ''})])]),
    ('15 replicate 3', [node(replicate=3)]),
    ('16 modes', [node(devices=[dev('stdin', IN, mode='file'), dev('stdout', mode='char'),
                                dev('stderr', mode='pipe'), dev('output', OUT, mode='block')])]),
    ('17 attach default', [node(attach='default')]),
    ('17 attach a device', [node(attach='stdout', devices=[dev('stdout', OUT)])]),
    ('18 exec name', [node(exec={'path': EXE, 'name': 'sort.nexe'})]),
    ('20 min_size', [node(devices=[dev('stdout', OUT, min_size=10)])]),
    ('21 location', [node(location='rack 1')]),
    ('deprecated file_list and device', [node(file_list=[{'device': 'stdin', 'path': IN}])]),
    ('zvm device', [node(devices=[dev('stdout', 'zvm://m:stdin')]), node('m')]),
    ('single node object', node()),
]

INVALID = [
    ('1 unknown device', [node(devices=[dev('disk', IN)])], '[0].devices[0].name', 'unknown device'),
    ('1 sysimage not configured', [node(devices=[dev('ruby')])], '[0].devices[0].name',
     'unknown device'),
    ('2 readable needs path', [node(devices=[dev('image')])], '[0].devices[0].path', 'required'),
    ('2 debug needs path', [node(devices=[dev('debug')])], '[0].devices[0].path', 'required'),
    ('2 two path-less readables', [node(devices=[dev('stdin'), dev('input')])],
     '[0].devices[1].path', 'only one readable device'),
    ('2 system image takes no path', [node(devices=[dev('python', IN)])],
     '[0].devices[0].path', 'has no path'),
    ('3 wildcard on debug', [node(devices=[dev('stdin', IN), dev('stdout'),
                                           dev('debug', 'tcp://h*:1')])],
     '[0].devices[2].path', 'wildcard not allowed on debug'),
    ('3 two readable wildcards', [node(devices=[dev('stdin', 'swift://a/c/*'),
                                                dev('input', 'swift://a/d/*')])],
     '[0].devices[1].path', 'only one readable device per node may have a wildcard'),
    ('3 wildcard in account', [node(devices=[dev('stdin', 'swift://a*/c/o')])],
     '[0].devices[0].path', 'wildcard not allowed in the account'),
    ('4 count zero', [node(count=0)], '[0].count', 'must be between 1 and'),
    ('4 count huge', [node(count=2 ** 31)], '[0].count', 'must be between 1 and 2147483647'),
    ('4 count not integer', [node(count='3')], '[0].count', 'expected an integer'),
    ('4 count boolean', [node(count=True)], '[0].count', 'expected an integer'),
    ('5 readable wildcard, fixed writable', [node(devices=[dev('stdin', 'swift://a/c/*'),
                                                           dev('stdout', OUT)])],
     '[0].devices[1].path', 'one fixed path for many instances'),
    ('5 count, fixed writable', [node(count=2, devices=[dev('output', OUT)])],
     '[0].devices[0].path', 'one fixed path for many instances'),
    ('5 more writable wildcards than captured', [node(devices=[dev('stdin', 'swift://a/c/*'),
                                                               dev('stdout', 'swift://a/c/*-*')])],
     '[0].devices[1].path', 'captures only 1'),
    ('6 single node connected to itself', [node(connect=['n'])], '[0].connect[0]',
     'cannot connect to itself'),
    ('6 unknown connect target', [node(connect=['ghost'])], '[0].connect[0]', 'no node named'),
    ('6 connect not a list', [node(connect='m'), node('m')], '[0].connect', 'expected an array'),
    ('6 connect twice', [node(connect=['m', 'm']), node('m')], '[0].connect[1]', 'listed twice'),
    ('7 args not string or list', [node(exec={'path': EXE, 'args': 5})], '[0].exec.args',
     'expected an array'),
    ('7 args item not string', [node(exec={'path': EXE, 'args': ['a', 1]})],
     '[0].exec.args[1]', 'expected a string'),
    ('7 args twice', [node(args='1', exec={'path': EXE, 'args': '2'})], '[0].exec.args',
     'both here and at node level'),
    ('7 control characters in args', [node(exec={'path': EXE, 'args': 'a\x00b'})],
     '[0].exec.args', 'control characters'),
    ('7 args with an unterminated quote', [node(exec={'path': EXE, 'args': "x 'y z"})],
     '[0].exec.args', 'no closing quotation'),
    ('7 more than 1024 argv strings', [node(exec={'path': EXE, 'args': [''] * 1024})],
     '[0].exec.args', 'argv would hold 1025 strings'),
    ('7 argv and env larger than 64 KiB', [node(exec={'path': EXE, 'args': ['a' * 4000] * 17})],
     '[0].exec', 'more than the 65536 allowed'),
    ('8 env sets a CGI variable', [node(exec={'path': EXE, 'env': {'QUERY_STRING': 'a=1'}})],
     '[0].exec.env.QUERY_STRING', 'reserved: set by zerocloud from the request'),
    ('8 env sets a request header', [node(exec={'path': EXE, 'env': {'HTTP_X_USER': 'root'}})],
     '[0].exec.env.HTTP_X_USER', 'reserved: set by zerocloud from the request'),
    ('8 env sets a LOCAL_ variable', [node(exec={'path': EXE, 'env': {'LOCAL_OBJECT': 'on'}})],
     '[0].exec.env.LOCAL_OBJECT', 'reserved: set by zerocloud from the request'),
    ('8 more than 1024 env variables', [node(exec={'path': EXE, 'env': {f'V{i}': ''
                                                                        for i in range(1025)}})],
     '[0].exec.env', '1025 environment variables'),
    ('8 env key with space', [node(exec={'path': EXE, 'env': {'A B': '1'}})],
     '[0].exec.env.A B', '[A-Za-z0-9_]+'),
    ('8 env value not text', [node(exec={'path': EXE, 'env': {'A': [1]}})], '[0].exec.env.A',
     'expected a string'),
    ('8 env not an object', [node(exec={'path': EXE, 'env': ['A=1']})], '[0].exec.env',
     'expected an object'),
    ('8 env keys unique', '[{"name": "n", "exec": {"path": "%s", "env": {"A": "1", "A": "2"}}}]'
     % EXE, '[0].exec.env.A', 'duplicate key'),
    ('9 zvm on a readable device', [node(devices=[dev('stdin', 'zvm://m:stdout')]), node('m')],
     '[0].devices[0].path', 'only for writable devices'),
    ('10 debug not network', [node(devices=[dev('debug', IN)])], '[0].devices[0].path',
     'debug needs a tcp://'),
    ('10 debug bad port', [node(devices=[dev('debug', 'tcp://h:x')])], '[0].devices[0].path',
     'numeric port'),
    ('11 exec required', [{'name': 'n'}], '[0].exec', 'required'),
    ('11 exec path required', [node(exec={'args': 'x'})], '[0].exec.path', 'required'),
    ('11 exec is zvm', [node(exec={'path': 'zvm://m:stdin'})], '[0].exec.path',
     'executable must be'),
    ('11 exec wildcard', [node(exec={'path': 'swift://a/c/*'})], '[0].exec.path',
     'executable must be'),
    ('11 exec container', [node(exec={'path': 'swift://a/c'})], '[0].exec.path',
     'executable must be'),
    ('11 exec in an unknown system image', [node(exec={'path': 'file://ruby:bin/ruby'})],
     '[0].exec.path', 'no system image named'),
    ('11 readable must be swift', [node(devices=[dev('stdin', 'file://python:x')])],
     '[0].devices[0].path', 'needs a swift://'),
    ('11 image must be an object', [node(devices=[dev('image', 'swift://a/c')])],
     '[0].devices[0].path', 'not a container'),
    ('11 writable must be an object', [node(devices=[dev('stdout', 'swift://a/c')])],
     '[0].devices[0].path', 'not a container'),
    ('11 readable needs a container', [node(devices=[dev('stdin', 'swift://a')])],
     '[0].devices[0].path', 'needs a swift://'),
    ('12 content_type not MIME', [node(devices=[dev('stdout', content_type='html')])],
     '[0].devices[0].content_type', 'not a MIME type'),
    ('14 meta not object', [node(devices=[dev('stdout', meta='x')])], '[0].devices[0].meta',
     'expected an object'),
    ('14 meta value not string', [node(devices=[dev('stdout', meta={'a': 1})])],
     '[0].devices[0].meta.a', 'expected a string'),
    ('14 meta too long', [node(devices=[dev('stdout', meta={'a': 'x' * 257})])],
     '[0].devices[0].meta.a', 'longer than 256'),
    ('15 replicate 4', [node(replicate=4)], '[0].replicate', 'between 1 and 3'),
    ('15 replicate 0', [node(replicate=0)], '[0].replicate', 'between 1 and 3'),
    ('16 bad mode', [node(devices=[dev('stdout', mode='socket')])], '[0].devices[0].mode',
     'must be one of file, char, pipe, block'),
    ('17 attach unknown device', [node(attach='stdin')], '[0].attach',
     'not a device of this node'),
    ('17 attach not text', [node(attach=1)], '[0].attach', 'expected a string'),
    ('18 exec name empty', [node(exec={'path': EXE, 'name': ''})], '[0].exec.name',
     'must not be empty'),
    ('20 min_size negative', [node(devices=[dev('stdout', min_size=-1)])],
     '[0].devices[0].min_size', 'must be between 0 and'),
    ('20 min_size float', [node(devices=[dev('stdout', min_size=1.5)])],
     '[0].devices[0].min_size', 'expected an integer'),
    ('21 location not text', [node(location=['a'])], '[0].location', 'expected a string'),
    ('name required', [{'exec': {'path': EXE}}], '[0].name', 'required'),
    ('name characters', [node('a.b')], '[0].name', '[A-Za-z0-9_-]'),
    ('names unique', [node(), node()], '[1].name', 'already used by [0]'),
    ('unknown node key', [node(colour='red')], '[0].colour', 'unknown key'),
    ('unknown exec key', [node(exec={'path': EXE, 'memory': 1})], '[0].exec.memory',
     'unknown key'),
    ('unknown device key', [node(devices=[dev('stdout', size=1)])], '[0].devices[0].size',
     'unknown key'),
    ('device name and device', [node(devices=[{'name': 'stdout', 'device': 'stdout'}])],
     '[0].devices[0]', 'not both'),
    ('devices and file_list', [node(devices=[], file_list=[])], '[0]', 'not both'),
    ('duplicate device', [node(devices=[dev('stdout'), dev('stdout')])],
     '[0].devices[1].name', 'given twice'),
    ('devices not a list', [node(devices={'name': 'stdout'})], '[0].devices',
     'expected an array'),
    ('node not an object', [node(), 'n'], '[1]', 'expected an object'),
    ('zvm to unknown node', [node(devices=[dev('stdout', 'zvm://ghost:stdin')])],
     '[0].devices[0].path', 'no node named'),
    ('two zvm devices to one node', [node(devices=[dev('stdout', 'zvm://m:stdin'),
                                                   dev('stderr', 'zvm://m:in/err')]), node('m')],
     '[0].devices[0].path', 'several zvm:// devices'),
    ('empty job', [], '', 'no nodes'),
    ('not a job', 'true', '', 'JSON array of nodes'),
    ('broken JSON', '[{"name": "n",\n "exec": }]', 'line 2, column 10', 'invalid JSON'),
    ('NaN is not JSON', '[{"name": "n", "count": NaN}]', '[0].count',
     'NaN is not valid JSON'),
]


@pytest.mark.parametrize('rule, job', VALID, ids=[row[0] for row in VALID])
def test_valid_job_is_accepted(rule, job):
    parsed = parse_job(job)
    assert parsed.nodes
    assert parse_job(parsed.to_dict()) == parsed


@pytest.mark.parametrize('rule, job, where, message', INVALID, ids=[row[0] for row in INVALID])
def test_invalid_job_is_rejected_with_location(rule, job, where, message):
    problems = problems_of(job)
    assert any(loc == where and message in text for loc, text in problems), problems


def test_all_problems_are_reported_together():
    job = [node('bad name', count=0, devices=[dev('disk')]), node(connect=['ghost'], replicate=9)]
    problems = problems_of(job)
    locations = [where for where, _ in problems]
    assert locations == ['[0].name', '[0].devices[0].name', '[0].count', '[1].replicate']
    err = JobError(problems)
    assert str(err).splitlines()[0].startswith('[0].name: ')
    assert err.status == 400


def test_too_large_is_413():
    with pytest.raises(JobError) as info:
        parse_job(b'[' + b' ' * 100 + b']', max_config_bytes=50)
    assert info.value.status == 413
    assert 'more than the 50 allowed' in str(info.value)


def test_sysimage_names_are_a_parameter():
    job = [node(devices=[dev('ruby')])]
    assert parse_job(job, sysimages=('ruby',)).nodes[0].devices[0].name == 'ruby'
    assert problems_of(job)


def test_deprecated_spellings_mean_the_same():
    old = parse_job([node(file_list=[{'device': 'stdin', 'path': IN}], args='1 2')])
    new = parse_job([node(exec={'path': EXE, 'args': ['1', '2']}, devices=[dev('stdin', IN)])])
    assert old == new


def test_defaults_are_filled_in():
    parsed = parse_job([node()]).nodes[0]
    assert (parsed.count, parsed.replicate, parsed.attach, parsed.location) == (1, 1, 'default', None)
    assert parsed.exec.args == () and dict(parsed.exec.env) == {} and parsed.exec.name is None


def test_parsed_job_is_immutable():
    parsed = parse_job([node(exec={'path': EXE, 'env': {'A': '1'}})])
    with pytest.raises(AttributeError):
        parsed.nodes[0].count = 5
    with pytest.raises(TypeError):
        parsed.nodes[0].exec.env['A'] = '2'


def test_bytes_text_and_decoded_forms_agree():
    job = [node(devices=[dev('stdout', OUT)])]
    import json
    text = json.dumps(job)
    assert parse_job(text) == parse_job(text.encode()) == parse_job(job)
