"""``zerocloud check JOB.json [--account] [--listing] [--json]`` (issue 3, item 7)."""
import argparse
import io
import json
import shlex
import sys

import pytest

from zerocloud.cli import check
from tests.unit.job.test_expand import MAP_REDUCE_JOB, SORT_JOB


def run(argv, stdin=None):
    parser = argparse.ArgumentParser(prog='zerocloud check')
    check.add_arguments(parser)
    args = parser.parse_args(argv)
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    try:
        return check.main(args)
    finally:
        sys.stdin = sys.__stdin__


@pytest.fixture
def files(tmp_path):
    def write(name, data):
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else json.dumps(data))
        return str(path)
    return write


def test_help_text_is_the_module_docstring_first_line():
    assert check.__doc__.splitlines()[0] == 'Validate a job description offline and print its plan.'


def test_valid_job_prints_plan_with_devices_channels_and_placement(files, capsys):
    listing = files('listing.json', {'my_account/data': ['binary1.data', 'binary2.data', 'x']})
    assert run([files('job.json', MAP_REDUCE_JOB), '--listing', listing]) == 0
    out = capsys.readouterr().out
    assert out.startswith('job OK: 8 instances, 8 sessions')
    assert 'mapper-1  (node mapper)' in out
    assert 'stdin      swift://my_account/data/binary1.data' in out
    assert 'stderr     (HTTP response)' in out
    assert 'in         /dev/in/mapper-2\n' in out
    assert 'placement  swift://my_account/data/binary1.data (device stdin)' in out
    assert 'in         /dev/in/reducer-1 /dev/in/reducer-2 /dev/in/reducer-3' in out


def test_json_plan_has_the_issue_shape(files, capsys):
    listing = files('l.json', {'AUTH_me/data': ['binary_a.data']})
    job = json.loads(json.dumps(SORT_JOB).replace('my_account', '~'))
    assert run([files('j.json', job), '--listing', listing, '--account', 'AUTH_me',
                '--json']) == 0
    plan = json.loads(capsys.readouterr().out)
    [instance] = plan['instances']
    assert instance['name'] == 'sort-1'
    assert instance['devices'] == {'stdin': 'swift://AUTH_me/data/binary_a.data',
                                   'stdout': 'swift://AUTH_me/data/sorted_a.data',
                                   'stderr': None}
    assert instance['in'] == [] and instance['out'] == []
    assert instance['placement'] == 'swift://AUTH_me/data/binary_a.data'


def test_invalid_job_exits_1_with_every_located_problem(files, capsys):
    job = [{'name': 'a b', 'exec': {'path': 'swift://a/c/o'},
            'devices': [{'name': 'debug', 'path': 'tcp://*:1'}], 'count': 0}]
    assert run([files('bad.json', job)]) == 1
    err = capsys.readouterr().err
    assert 'invalid job (HTTP 400)' in err
    assert '  [0].name: must be 1-128 of [A-Za-z0-9_-]' in err
    assert '  [0].devices[0].path: wildcard not allowed on debug' in err
    assert '  [0].count: must be between 1' in err


def test_no_listing_means_no_objects_found(files, capsys):
    assert run([files('job.json', SORT_JOB)]) == 1
    assert ('[0].devices[0].path: No objects found in swift://my_account/data/binary*.data'
            in capsys.readouterr().err)


def test_broken_json_reports_where(files, capsys):
    assert run([files('job.json', '[{"name": "x",,}]')]) == 1
    assert 'line 1, column 15: invalid JSON' in capsys.readouterr().err


def test_too_large_is_reported_as_413(files, capsys):
    assert run([files('job.json', SORT_JOB), '--max-config-bytes', '10']) == 1
    assert 'HTTP 413' in capsys.readouterr().err


def test_job_from_stdin_and_sysimage_option(capsys):
    job = json.dumps([{'name': 'r', 'exec': {'path': 'file://ruby:bin/ruby'},
                       'devices': [{'name': 'ruby'}, {'name': 'stdout'}]}]).encode()
    assert run(['-', '--sysimage', 'ruby'], stdin=job) == 0
    assert 'ruby       (system image)' in capsys.readouterr().out
    assert run(['-'], stdin=job) == 1


def test_unusable_files_exit_2(files, tmp_path, capsys):
    assert run([str(tmp_path / 'missing.json')]) == 2
    assert 'cannot read job' in capsys.readouterr().err
    job = files('job.json', SORT_JOB)
    assert run([job, '--listing', files('l.json', '{')]) == 2
    assert run([job, '--listing', files('l2.json', {'a/c': 'not a list'})]) == 2
    assert 'must map' in capsys.readouterr().err


def test_container_wildcards_use_account_keys_or_derived_containers(files, capsys):
    job = files('job.json', [{'name': 'n', 'exec': {'path': 'bin/x'},
                              'devices': [{'name': 'stdin', 'path': 'swift://a/logs*/*'}]}])
    derived = files('l.json', {'a/logs1': ['x'], 'a/logs2': ['y'], 'a/other': ['z']})
    assert run([job, '--listing', derived, '--json']) == 0
    plan = json.loads(capsys.readouterr().out)
    assert [i['devices']['stdin'] for i in plan['instances']] == [
        'swift://a/logs1/x', 'swift://a/logs2/y']
    explicit = files('l2.json', {'a': ['logs2'], 'a/logs1': ['x'], 'a/logs2': ['y']})
    assert run([job, '--listing', explicit, '--json']) == 0
    assert len(json.loads(capsys.readouterr().out)['instances']) == 1


@pytest.mark.parametrize('mode', ['w', 'w:gz'])
def test_zapp_tar_is_checked_through_its_system_map(tmp_path, capsys, mode):
    import tarfile
    system_map = json.dumps([{'name': 'app', 'exec': {'path': 'file://bin/app'},
                              'devices': [{'name': 'stdout'}]}]).encode()
    zapp = tmp_path / 'app.zapp'
    with tarfile.open(zapp, mode) as tar:
        info = tarfile.TarInfo('boot/system.map')
        info.size = len(system_map)
        tar.addfile(info, io.BytesIO(system_map))
    assert run([str(zapp)]) == 0
    assert 'app  (node app)' in capsys.readouterr().out
    empty = tmp_path / 'empty.tar'
    with tarfile.open(empty, 'w') as tar:
        tar.addfile(tarfile.TarInfo('README'), io.BytesIO(b''))
    assert run([str(empty)]) == 2
    assert 'without boot/system.map' in capsys.readouterr().err


def test_plan_shows_argv_quoted_so_that_it_splits_back_into_the_same_list(files, capsys):
    args = ['a b', "it's", '', '$X', '"q"', 'back\\slash']
    job = [{'name': 'n', 'exec': {'path': 'swift://a/c/prog', 'args': args}}]
    assert run([files('job.json', job)]) == 0
    [line] = [text for text in capsys.readouterr().out.splitlines() if 'argv: ' in text]
    shown = line.split('argv: ', 1)[1]
    assert shlex.split(shown) == ['n'] + args
    again = [{'name': 'n', 'exec': {'path': 'swift://a/c/prog', 'args': shown}}]
    assert run([files('again.json', again)]) == 0
    assert f'argv: n {shown}' in capsys.readouterr().out


def test_command_line_and_environment_problems_are_reported_like_the_proxy(files, capsys):
    job = [{'name': 'n', 'exec': {'path': 'swift://a/c/prog', 'args': "x 'y",
                                  'env': {'PATH_INFO': '/'}}}]
    assert run([files('job.json', job)]) == check.EXIT_INVALID
    err = capsys.readouterr().err
    assert 'invalid job (HTTP 400)' in err
    assert '  [0].exec.args: cannot split' in err and 'no closing quotation' in err
    assert ('  [0].exec.env.PATH_INFO: PATH_INFO is reserved: set by zerocloud from the request'
            in err)
