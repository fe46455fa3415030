"""URL rules of ZeroCloud doc/Url.md: parse, validate, normalise, render."""
import pytest

from zerocloud.job import ImageUrl, JobError, NetUrl, SwiftUrl, ZvmUrl, parse_url

VALID = [
    # swift: account/container/object, percent-encoded UTF-8, object may hold '/'
    ('swift://acct/cont/obj', SwiftUrl('acct', 'cont', 'obj'), 'swift://acct/cont/obj'),
    ('swift://acct/cont/dir/sub/obj.txt', SwiftUrl('acct', 'cont', 'dir/sub/obj.txt'), None),
    ('swift://acct/cont/a%20b', SwiftUrl('acct', 'cont', 'a b'), 'swift://acct/cont/a%20b'),
    ('swift://acct/cont/%D0%B4%D0%B0', SwiftUrl('acct', 'cont', 'да'), None),
    ('swift://acct/cont/да', SwiftUrl('acct', 'cont', 'да'), 'swift://acct/cont/%D0%B4%D0%B0'),
    ('swift://acct/cont', SwiftUrl('acct', 'cont', None), None),       # container form
    ('swift://acct/cont/', SwiftUrl('acct', 'cont', None), 'swift://acct/cont'),
    ('swift://acct', SwiftUrl('acct', None, None), None),
    ('swift://acct/c*/o*.txt', SwiftUrl('acct', 'c*', 'o*.txt'), None),  # wildcards
    ('swift://~/cont/obj', SwiftUrl('~', 'cont', 'obj'), None),
    ('swift://./cont/obj', SwiftUrl('.', 'cont', 'obj'), None),
    # file: image:path and path (the user image); "image" is the user image
    ('file://python:bin/python', ImageUrl('python', 'bin/python'), None),
    ('file://bin/sort', ImageUrl(None, 'bin/sort'), None),
    ('file://image:bin/sort', ImageUrl(None, 'bin/sort'), 'file://bin/sort'),
    ('file://a/b:c', ImageUrl(None, 'a/b:c'), 'file://a/b%3Ac'),
    # zvm: node and device with or without /dev/
    ('zvm://reducer:stdin', ZvmUrl('reducer', 'stdin'), None),
    ('zvm://reducer:/dev/stdin', ZvmUrl('reducer', 'stdin'), 'zvm://reducer:stdin'),
    ('zvm://red-1:/dev/in/x', ZvmUrl('red-1', 'in/x'), 'zvm://red-1:in/x'),
    # debug network URLs
    ('tcp://example.org:8080', NetUrl('tcp', 'example.org', 8080), None),
    ('udp://10.0.0.1:53', NetUrl('udp', '10.0.0.1', 53), None),
]

INVALID = [
    ('', 'not a URL'),
    ('acct/cont/obj', 'not a URL'),
    ('http://x/y', 'unknown URL scheme'),
    ('swift://', 'needs an account'),
    ('swift:///cont/obj', 'needs an account'),
    ('swift://acct//obj', 'empty container'),
    ('swift://a%2Fb/cont/obj', 'cannot contain "/"'),
    ('swift://acct/c%2Fd/obj', 'cannot contain "/"'),
    ('swift://ac*t/cont/obj', 'wildcard not allowed in the account'),
    ('swift://acct/cont/%FF', 'not valid UTF-8'),
    ('swift://acct/cont/a%00b', 'control characters'),
    ('swift://acct/cont/a\nb', 'control characters'),
    (' swift://acct/cont/obj', 'surrounding spaces'),
    ('swift://acct/' + 'c' * 257 + '/o', 'container name longer'),
    ('swift://acct/c/' + 'o' * 1025, 'object name longer'),
    ('file://', 'needs a path'),
    ('file://python:', 'needs a path'),
    ('file://bin/*', 'wildcard not allowed'),
    ('zvm://reducer', 'zvm://<node>:<device>'),
    ('zvm://re ducer:stdin', 'zvm://<node>:<device>'),
    ('zvm://reducer:../etc', 'invalid device'),
    ('tcp://host', 'tcp://<hostname>:<numeric port>'),
    ('tcp://host:port', 'numeric port'),
    ('udp://ho_st:53', 'udp://<hostname>'),
    ('tcp://host:70000', 'port out of range'),
    (17, 'expected a URL string'),
]


@pytest.mark.parametrize('text, expected, rendered', VALID)
def test_valid_urls_parse_and_render_normalised(text, expected, rendered):
    url = parse_url(text)
    assert url == expected
    assert str(url) == (rendered or text)
    assert parse_url(str(url)) == url


@pytest.mark.parametrize('text, message', INVALID)
def test_invalid_urls_raise_located_job_error(text, message):
    with pytest.raises(JobError) as info:
        parse_url(text, where='[0].exec.path')
    [(where, problem)] = info.value.problems
    assert where == '[0].exec.path'
    assert message in problem


@pytest.mark.parametrize('home', ['~', '.'])
def test_home_account_becomes_callers_account(home):
    assert parse_url(f'swift://{home}/c/o', account='AUTH_me') == SwiftUrl('AUTH_me', 'c', 'o')
    assert parse_url('swift://other/c/o', account='AUTH_me') == SwiftUrl('other', 'c', 'o')


def test_relative_exec_path_is_a_file_in_the_user_image():
    assert parse_url('bin/sort', relative_ok=True) == ImageUrl(None, 'bin/sort')
    with pytest.raises(JobError):
        parse_url('bin/sort')


def test_swift_url_path_and_wildcard_flags():
    url = parse_url('swift://a/c*/x/y*')
    assert url.path == '/a/c*/x/y*'
    assert url.has_wildcard
    assert not parse_url('swift://a/c/o').has_wildcard
