"""The JSON text of a job: what the fuzz found (issue 10), each refused with a 400 that
names the place, in a message that can always be encoded, answered and logged."""
import json

import pytest

from tests.unit.job.helpers import EXE, dev, node, problems_of
from zerocloud.job import JobError, parse_job
from zerocloud.job.errors import MAX_LISTED, at_key, encodable
from zerocloud.job.jsontext import MAX_NESTING


def text_problems(text):
    """Problems of a job given as JSON text (str: escapes as written)."""
    return problems_of(text.encode('utf-8'))


def assert_encodable(problems):
    err = JobError(problems)
    str(err).encode('utf-8')          # the 400 body
    ('%s' % err).encode('ascii', 'backslashreplace')


@pytest.mark.parametrize('text, where', [
    ('[{"name": "n", "exec": {"path": "%s"}, "\\ud800": 1}]' % EXE, "[0]['\\ud800']"),
    ('{"name": "n", "exec": {"path": "%s"}, "\\udfffx": 1}' % EXE, "[0]['\\udfffx']"),
    ('[{"name": "n", "exec": {"path": "%s", "env": {"\\udc80": "v"}}}]' % EXE,
     "[0].exec.env['\\udc80']"),
    ('[{"name": "n", "exec": {"path": "%s"}, "devices": [{"name": "stdout", '
     '"meta": {"\\ud800": "x"}}]}]' % EXE, "[0].devices[0].meta['\\ud800']"),
])
def test_a_lone_surrogate_in_a_key_is_400_naming_the_place(text, where):
    problems = text_problems(text)
    assert [loc for loc, _ in problems] == [where]
    assert 'lone surrogate' in problems[0][1]
    assert_encodable(problems)


@pytest.mark.parametrize('text, where', [
    ('[{"name": "\\ud800", "exec": {"path": "%s"}}]' % EXE, '[0].name'),
    ('[{"name": "n", "exec": {"path": "swift://~/c/\\udc80"}}]', '[0].exec.path'),
    ('[{"name": "n", "exec": {"path": "%s", "args": ["a", "\\udbff"]}}]' % EXE,
     '[0].exec.args[1]'),
    ('[{"name": "n", "exec": {"path": "%s"}, "colour": ["\\ud800"]}]' % EXE,
     '[0].colour[0]'),
    ('[{"name": "n", "exec": {"path": "%s"}, "devices": [{"name": "stdout", '
     '"content_type": "text/\\ud800"}]}]' % EXE, '[0].devices[0].content_type'),
])
def test_a_lone_surrogate_in_any_value_is_400_naming_the_place(text, where):
    problems = text_problems(text)
    assert problems == [(where, problems[0][1])] and 'U+D' in problems[0][1]
    assert_encodable(problems)


def test_every_surrogate_is_listed_in_document_order():
    text = '[{"\\ud800": "\\udc00", "name": "n", "exec": {"path": "\\udfff"}}]'
    assert [where for where, _ in text_problems(text)] == [
        "[0]['\\ud800']", "[0]['\\ud800']", '[0].exec.path']


def test_a_surrogate_pair_is_text():
    job = parse_job('[{"name": "n", "exec": {"path": "%s", "args": ["\\ud83d\\ude00"]}}]'
                    % EXE)
    assert job.nodes[0].exec.args == ('\U0001f600',)


def test_a_decoded_job_with_a_lone_surrogate_is_refused_too():
    problems = problems_of([node(exec={'path': EXE, 'env': {'A': '\ud800'}})])
    assert problems[0][0] == '[0].exec.env.A'


def test_surrogates_encoded_in_the_bytes_are_not_utf8():
    body = '[{"name": "\ud800"}]'.encode('utf-8', 'surrogatepass')
    (where, what), = problems_of(body)
    assert where == 'line 1, column 12' and 'not UTF-8 (byte 11, 0xed' in what


def test_bytes_that_are_not_utf8_are_located():
    (where, what), = problems_of(b'[{"name":\n "n\xff"}]')
    assert where == 'line 2, column 4' and 'byte 13, 0xff' in what


def test_a_utf8_bom_is_ignored():
    assert parse_job(b'\xef\xbb\xbf' + json.dumps([node()]).encode()).nodes[0].name == 'n'


@pytest.mark.parametrize('constant', ['NaN', 'Infinity', '-Infinity'])
def test_non_json_constants_are_located(constant):
    problems = text_problems('[{"name": "n", "exec": {"path": "%s"}, "devices": '
                             '[{"name": "stdout", "min_size": %s}]}]' % (EXE, constant))
    assert problems == [('[0].devices[0].min_size', '%s is not valid JSON' % constant)]


def test_numbers_out_of_range_are_located():
    problems = text_problems('[{"name": "n", "exec": {"path": "%s"}, "count": 1e999, '
                             '"replicate": %s}]' % (EXE, '9' * 5000))
    assert problems == [('[0].count', 'number out of range'),
                        ('[0].replicate', 'an integer of 5000 digits is out of range')]


def test_duplicate_keys_are_located():
    problems = text_problems('[{"name": "n", "exec": {"path": "%s"}, "name": "m"}]' % EXE)
    assert problems == [('[0].name', 'duplicate key (given more than once in this object)')]


def test_nesting_deeper_than_allowed_is_located():
    deep = [node(colour=json.loads('[' * MAX_NESTING + ']' * MAX_NESTING))]
    (where, what), = problems_of(json.dumps(deep))
    assert where.startswith('[0].colour[0][0]') and 'nested more than 32' in what


def test_nesting_beyond_the_decoder_is_located():
    (where, what), = text_problems('[' * 60000)
    assert where == 'line 1, column 60000' and 'nested 60000 levels deep' in what


def test_a_scalar_job_problem_says_so():
    assert text_problems('NaN') == [('', 'the job itself: NaN is not valid JSON')]


def test_problems_beyond_the_listed_are_counted():
    problems = problems_of([{}] * (MAX_LISTED + 5))
    lines = str(JobError(problems)).splitlines()
    assert len(lines) == MAX_LISTED + 1
    assert lines[-1] == '... and %d more problems' % (2 * (MAX_LISTED + 5) - MAX_LISTED)


def test_messages_are_always_encodable():
    err = JobError([('[0]\ud800', 'bad \udc80 value')])
    assert str(err) == '[0]\\ud800: bad \\udc80 value'
    assert err.problems == [('[0]\\ud800', 'bad \\udc80 value')]
    assert encodable('caf\u00e9 \u65e5') == 'caf\u00e9 \u65e5'


@pytest.mark.parametrize('key, where', [
    ('Color', '[0].Color'), ('A B', '[0].A B'), ('\u65e5\u672c', '[0].\u65e5\u672c'),
    ('', "[0]['']"), ('\ud800', "[0]['\\ud800']"), ('a\nb', "[0]['a\\nb']"),
    ('x' * 200, "[0]['" + 'x' * 56 + '...]'), (1, '[0][1]'),
])
def test_keys_are_located_readably(key, where):
    assert at_key('[0]', key) == where


def test_problems_in_an_unknown_key_with_odd_text_are_encodable():
    problems = problems_of([node(**{'\u2028\ufeff': 1}), node('m', devices=[dev('stdout')])])
    assert problems[0][0] == "[0]['\\u2028\\ufeff']"
    assert_encodable(problems)
