"""Property tests: any input gives a Job or the one JobError, nothing else, never a hang;
accepted jobs round-trip through their canonical form; expansion only raises JobError."""
import json
import signal
from contextlib import contextmanager

from hypothesis import HealthCheck, given, settings, strategies as st

from zerocloud.job import Job, JobError, Plan, expand, parse_job

WATCHDOG_SECONDS = 20
SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@contextmanager
def watchdog():
    """Turn a hang into a failure (not a timing assertion: the limit is 100x the need)."""
    def hung(signum, frame):
        raise AssertionError(f'no answer within {WATCHDOG_SECONDS} s')
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(WATCHDOG_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def outcome(data, **kwargs):
    """parse_job's result, or its JobError; any other exception fails the test."""
    with watchdog():
        try:
            return parse_job(data, **kwargs)
        except JobError as err:
            assert err.problems and err.status in (400, 413)
            assert all(isinstance(w, str) and isinstance(m, str) and m for w, m in err.problems)
            assert str(err)
            return err


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30)

# plausible fragments, valid and invalid, so that the fuzzer reaches the deep rules
URLS = st.sampled_from([
    'swift://a/c/o', 'swift://~/c/in*', 'swift://a/c*/x*', 'swift://a/c', 'swift://a',
    'swift://a/o/*.out', 'swift://a/o/*-*', 'file://python:bin/python', 'file://bin/x', 'bin/x',
    'zvm://m:stdin', 'zvm://n:/dev/in/x', 'tcp://h:1', 'udp://h:x', 'swift://a/c/%FF', '',
    'swift://a*/c/o', 'http://x']) | st.text(max_size=12)
DEVICE_NAMES = st.sampled_from(['stdin', 'stdout', 'stderr', 'input', 'output', 'image',
                                'debug', 'script', 'python', 'disk']) | st.text(max_size=5)
NAMES = st.sampled_from(['n', 'm', 'map', 'map-1', 'a b', '']) | st.text(max_size=5)
ANY = json_values


def fields(**strategies):
    """A dict holding any subset of the given keys."""
    return st.fixed_dictionaries({}, optional=strategies)


devices = fields(name=DEVICE_NAMES, device=DEVICE_NAMES, path=URLS,
                 content_type=st.sampled_from(['text/plain', 'message/http', 'x']) | ANY,
                 meta=st.dictionaries(st.text(max_size=4), st.text(max_size=4)) | ANY,
                 mode=st.sampled_from(['file', 'char', 'pipe', 'block', 'x']),
                 min_size=st.integers(-2, 10) | ANY)
execs = fields(path=URLS, args=st.text(max_size=10) | st.lists(st.text(max_size=4)) | ANY,
               env=st.dictionaries(st.text(max_size=3), st.text(max_size=3)) | ANY,
               name=st.text(max_size=4) | ANY)
nodes = fields(name=NAMES, exec=execs | ANY, devices=st.lists(devices, max_size=4) | ANY,
               file_list=st.lists(devices, max_size=2), count=st.integers(-1, 4) | ANY,
               connect=st.lists(NAMES, max_size=3) | ANY, replicate=st.integers(0, 4) | ANY,
               attach=DEVICE_NAMES | ANY, location=st.text(max_size=4) | ANY,
               args=st.text(max_size=4), other=ANY)
jobs = st.lists(nodes, min_size=0, max_size=4) | nodes


@st.composite
def likely_valid_jobs(draw):
    """Jobs built to pass most rules, so that round-trip and expansion get exercised."""
    count = draw(st.integers(1, 3))
    names = [f'n{i}' for i in range(count)]
    job = []
    for name in names:
        wild = draw(st.booleans())
        devices = [{'name': 'stdin', 'path': 'swift://~/c/in*' if wild else 'swift://a/c/o'}]
        writable = 'swift://~/out/*.x' if wild or draw(st.booleans()) else None
        devices.append({'name': draw(st.sampled_from(['stdout', 'output'])),
                        **({'path': writable} if writable else {}),
                        **draw(fields(content_type=st.sampled_from(['text/plain', 'a/b; q=1']),
                                      meta=st.dictionaries(st.sampled_from('ab'), st.text(
                                          st.characters(min_codepoint=32), max_size=3)),
                                      mode=st.sampled_from(DEVICE_MODES_LIST),
                                      min_size=st.integers(0, 9)))})
        devices += draw(st.lists(st.sampled_from([{'name': 'stderr'}, {'name': 'python'},
                                                  {'name': 'image', 'path': 'swift://a/i/t'},
                                                  {'name': 'debug', 'path': 'tcp://h:9'}]),
                                 unique_by=lambda d: d['name'], max_size=3))
        node = {'name': name, 'devices': draw(st.permutations(devices)),
                'exec': draw(fields(args=st.text(st.characters(min_codepoint=32), max_size=6)
                                    | st.lists(st.text(st.characters(min_codepoint=32),
                                                       max_size=3), max_size=3),
                                    env=st.dictionaries(st.sampled_from(['A', 'B_1']),
                                                        st.text(max_size=3)),
                                    name=st.sampled_from(['x', 'prog']))),
                **draw(fields(replicate=st.integers(1, 3), location=st.sampled_from(['r1', 'r2']),
                              attach=st.sampled_from(['default', 'stdin']),
                              connect=st.lists(st.sampled_from(names), unique=True)))}
        node['exec']['path'] = draw(st.sampled_from(['swift://~/bin/p', 'bin/p',
                                                     'file://python:bin/python']))
        if not wild and writable:
            node['count'] = draw(st.integers(1, 4))
        job.append(node)
    return job


DEVICE_MODES_LIST = ['file', 'char', 'pipe', 'block']


@SETTINGS
@given(json_values)
def test_arbitrary_json_value_gives_job_or_job_error(value):
    result = outcome(value)
    assert isinstance(result, (Job, JobError))
    result = outcome(json.dumps(value))
    assert isinstance(result, (Job, JobError))


@SETTINGS
@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_job_or_job_error(data):
    assert isinstance(outcome(data), (Job, JobError))
    assert isinstance(outcome(data, max_config_bytes=10), (Job, JobError))


@SETTINGS
@given(st.text(max_size=200))
def test_arbitrary_text_gives_job_or_job_error(text):
    assert isinstance(outcome(text), (Job, JobError))


def fake_listing(account, container, prefix):
    return ['in1', 'in22', 'x/y', 'o', '']


@SETTINGS
@given(jobs | likely_valid_jobs())
def test_plausible_jobs_give_job_or_error_and_valid_ones_round_trip(raw):
    result = outcome(raw)
    if isinstance(result, JobError):
        return
    assert outcome(result.to_dict()) == result
    assert outcome(json.dumps(result.to_dict())) == result
    with watchdog():
        try:
            plan = expand(result, account='AUTH_t', list_objects=fake_listing,
                          list_containers=lambda account, prefix: ['c', 'cc'],
                          max_instances=50)
        except JobError as err:
            assert err.problems
            return
    assert isinstance(plan, Plan)
    assert json.loads(json.dumps(plan.to_dict()))['instances']


def test_absurd_inputs_are_job_errors():
    deep_text = '[' * 100_000 + ']' * 100_000
    assert isinstance(outcome(deep_text, max_config_bytes=10 ** 6), JobError)
    deep_value = []
    for _ in range(100_000):
        deep_value = [deep_value]
    assert isinstance(outcome([{'name': 'n', 'exec': {'path': 'bin/x'}, 'count': deep_value}]),
                      JobError)
    assert isinstance(outcome('[{"name": "n", "count": 1%s}]' % ('0' * 5000)), JobError)
    assert isinstance(outcome([{'name': 'n', 'exec': {'path': 'bin/x'}, 'count': 10 ** 5000}]),
                      JobError)
    huge = parse_job([{'name': 'n', 'exec': {'path': 'bin/x'}, 'count': 2 ** 31 - 1}])
    try:
        expand(huge, account='a', list_objects=fake_listing)
    except JobError as err:
        assert err.problems[0][0] == '[0].count'
    else:
        raise AssertionError('2**31 - 1 instances accepted')
    assert isinstance(outcome([{'name': '\ud800', 'exec': {'path': 'bin/\udfff'}}]), JobError)
    assert isinstance(outcome([{1: 2, 'exec': {'env': {3: 4}}, 'devices': [{'meta': {5: 6}}]}]),
                      JobError)
