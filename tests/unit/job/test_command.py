"""A node's command line and environment (issue 10): args split like a shell, the system's
variables reserved, argv and environment bounded."""
import pytest

import zerocloud.job as joblib
from zerocloud.job import JobError, parse_job
from zerocloud.job.command import RESERVED_ENV_NAMES
from zerocloud.limits import (MAX_ARGV_ITEMS, MAX_JOB_ARGV_ENV_BYTES, MAX_JOB_ENV_ITEMS,
                              argv_env_bytes)
from tests.unit.job.helpers import EXE, node, problems_of

RESERVED_WHY = 'reserved: set by zerocloud from the request (SPEC S6)'
S6_NAMES = ('GATEWAY_INTERFACE', 'REQUEST_METHOD', 'REQUEST_URI', 'PATH_INFO', 'QUERY_STRING',
            'SCRIPT_NAME', 'SCRIPT_FILENAME', 'REMOTE_USER', 'SERVER_NAME', 'SERVER_PORT',
            'SERVER_PROTOCOL', 'SERVER_SOFTWARE', 'CONTENT_TYPE', 'CONTENT_LENGTH',
            'REMOTE_ADDR', 'AUTH_TYPE')


def args_of(args, **exec_fields):
    return parse_job([node(exec={'path': EXE, 'args': args, **exec_fields})]).nodes[0].exec.args


@pytest.mark.parametrize('text, expected', [
    ("x 'y z'", ('x', 'y z')),
    ('a "b c" d', ('a', 'b c', 'd')),
    ('a\\ b c', ('a b', 'c')),
    ('"" x', ('', 'x')),
    ("'it''s' \"say \\\"hi\\\"\"", ('its', 'say "hi"')),
    ('tab\tseparated', ('tab', 'separated')),
    ('$HOME * ~ `id` a#b #c', ('$HOME', '*', '~', '`id`', 'a#b', '#c')),
    ('  -v  --x=1  ', ('-v', '--x=1')),
    ('', ()),
])
def test_string_args_are_split_like_a_shell_command_line(text, expected):
    assert args_of(text) == expected


def test_list_args_are_taken_as_they_are():
    assert args_of(["x 'y z'", '', 'a\\ b']) == ("x 'y z'", '', 'a\\ b')


def test_node_level_args_are_split_the_same_way():
    parsed = parse_job([node(args="x 'y z'")]).nodes[0]
    assert parsed.exec.args == ('x', 'y z')


@pytest.mark.parametrize('text, message', [
    ("x 'y z", 'no closing quotation'),
    ('say "hi', 'no closing quotation'),
    ('trailing\\', 'no escaped character'),
    ("'quoted\ttab'", 'arguments cannot hold control characters'),
    ('escaped\\\ttab', 'arguments cannot hold control characters'),
])
def test_a_string_that_cannot_be_split_is_located_at_exec_args(text, message):
    with pytest.raises(JobError) as info:
        args_of(text)
    assert info.value.status == 400
    [(where, what)] = info.value.problems
    assert where == '[0].exec.args'
    assert message in what


def test_a_node_level_string_that_cannot_be_split_is_located_at_args():
    assert problems_of([node(args="x 'y")])[0][0] == '[0].args'


@pytest.mark.parametrize('name', S6_NAMES + ('HTTP_X_AUTH_TOKEN', 'HTTP_', 'LOCAL_OBJECT',
                                             'LOCAL_DOCUMENT_ROOT', 'LOCAL_'))
def test_the_systems_variables_are_refused_naming_the_key_and_why(name):
    with pytest.raises(JobError) as info:
        parse_job([node(exec={'path': EXE, 'env': {'OK': '1', name: 'forged'}})])
    assert info.value.status == 400
    assert info.value.problems == [(f'[0].exec.env.{name}', f'{name} is {RESERVED_WHY}')]


@pytest.mark.parametrize('name', ['path_info', 'Http_x', 'HTTP', 'HTTPS', 'LOCALE', 'XHTTP_A',
                                  'SERVER', 'REQUEST', 'MY_PATH_INFO'])
def test_names_that_only_look_like_the_systems_are_the_jobs_own(name):
    env = parse_job([node(exec={'path': EXE, 'env': {name: 'v'}})]).nodes[0].exec.env
    assert dict(env) == {name: 'v'}


def test_the_reserved_test_is_exported_for_the_proxy():
    assert joblib.is_reserved_env('QUERY_STRING') and joblib.is_reserved_env('HTTP_HOST')
    assert joblib.is_reserved_env('LOCAL_PATH_INFO') and not joblib.is_reserved_env('LANG')
    assert set(S6_NAMES) == RESERVED_ENV_NAMES == joblib.RESERVED_ENV_NAMES
    assert joblib.RESERVED_ENV_PREFIXES == ('HTTP_', 'LOCAL_')


def exec_of_size(total, env=None):
    """An exec (argv[0] 'p') whose argv and env take exactly ``total`` bytes."""
    env = dict(env or {})
    remaining = total - argv_env_bytes(['p'], env.items())
    args = []
    while remaining > 0:
        length = min(remaining, 4096) - 1        # each argument counts with its NUL
        args.append('a' * length)
        remaining -= length + 1
    assert remaining == 0 and argv_env_bytes(['p'] + args, env.items()) == total
    return {'path': EXE, 'name': 'p', 'args': args, 'env': env}


def test_argv_and_env_up_to_the_limit_are_accepted():
    job = [node(exec=exec_of_size(MAX_JOB_ARGV_ENV_BYTES, {'A': 'x' * 4000, 'B': ''}))]
    assert len(parse_job(job).nodes[0].exec.args) > 1


def test_argv_and_env_one_byte_over_the_limit_are_refused_at_exec_naming_size_and_limit():
    job = [node(exec=exec_of_size(MAX_JOB_ARGV_ENV_BYTES + 1, {'A': 'x' * 4000}))]
    [(where, message)] = problems_of(job)
    assert where == '[0].exec'
    assert f'{MAX_JOB_ARGV_ENV_BYTES + 1} bytes' in message
    assert f'more than the {MAX_JOB_ARGV_ENV_BYTES} allowed' in message


def test_sizes_count_utf8_bytes_and_a_nul_per_string():
    assert argv_env_bytes(['p', 'é'], [('K', 'ü€')]) == 2 + 3 + len('K=ü€'.encode()) + 1
    at_the_limit = exec_of_size(MAX_JOB_ARGV_ENV_BYTES)
    at_the_limit['args'][-1] = at_the_limit['args'][-1][:-1] + 'é'   # one character, 2 bytes
    assert problems_of([node(exec=at_the_limit)])[0][0] == '[0].exec'


def test_default_argv0_counts_as_the_longest_instance_name():
    argv0 = 'n-2147483647'
    job_exec = exec_of_size(MAX_JOB_ARGV_ENV_BYTES - len(argv0) + 1)     # 'p' is 2 bytes
    del job_exec['name']
    assert parse_job([node(exec=job_exec)])
    job_exec['args'][-1] += 'a'
    assert problems_of([node(exec=job_exec)])[0][0] == '[0].exec'


def test_argv_holds_at_most_1024_strings_argv0_included():
    assert MAX_ARGV_ITEMS == 1024
    assert len(args_of([''] * (MAX_ARGV_ITEMS - 1))) == MAX_ARGV_ITEMS - 1
    [(where, message)] = problems_of([node(exec={'path': EXE, 'args': [''] * MAX_ARGV_ITEMS})])
    assert where == '[0].exec.args'
    assert f'{MAX_ARGV_ITEMS + 1} strings' in message and f'the {MAX_ARGV_ITEMS} allowed' in message


def test_a_split_string_counts_its_pieces():
    problems = problems_of([node(args='x ' * MAX_ARGV_ITEMS)])
    assert problems[0][0] == '[0].args' and 'argv would hold' in problems[0][1]


def test_env_holds_at_most_1024_variables():
    assert MAX_JOB_ENV_ITEMS == 1024
    env = {f'V{i}': '' for i in range(MAX_JOB_ENV_ITEMS)}
    assert len(parse_job([node(exec={'path': EXE, 'env': env})]).nodes[0].exec.env) == 1024
    env['ONE_MORE'] = ''
    [(where, message)] = problems_of([node(exec={'path': EXE, 'env': env})])
    assert where == '[0].exec.env'
    assert '1025 environment variables' in message and 'the 1024 allowed' in message
