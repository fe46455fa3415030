"""Device modes (Servlets.md rule 16): only a mode the job writes is kept, on channels only."""
import pytest

from zerocloud.job import DEVICE_MODES, parse_job
from tests.unit.job.helpers import dev, node, problems_of
from tests.unit.job.test_expand import plan_of


def test_a_device_without_mode_keeps_none_through_parse_and_expand():
    job = [node(devices=[dev('stdin', 'swift://~/c/o'), dev('stdout'), dev('output')])]
    assert [d.mode for d in parse_job(job).nodes[0].devices] == [None, None, None]
    devices = plan_of(job).instances[0].devices
    assert [d.mode for d in devices.values()] == [None, None, None]
    assert 'mode' not in parse_job(job).to_dict()[0]['devices'][0]


@pytest.mark.parametrize('mode', DEVICE_MODES)
@pytest.mark.parametrize('name, path', [('stdin', 'swift://~/c/o'), ('stdin', None),
                                        ('script', None), ('stdout', None),
                                        ('output', 'swift://~/c/out')])
def test_a_written_mode_is_kept_through_parse_expand_and_the_canonical_form(name, path, mode):
    job = [node(devices=[dev(name, path, mode=mode)])]
    parsed = parse_job(job)
    assert parsed.nodes[0].devices[0].mode == mode
    assert parsed.to_dict()[0]['devices'][0]['mode'] == mode
    assert parse_job(parsed.to_dict()) == parsed
    instance = plan_of(job).instances[0]
    assert instance.devices[name].mode == mode
    assert instance.to_dict()['device_details'][name]['mode'] == mode


@pytest.mark.parametrize('mode', ['socket', 'FILE', '', None, 1, ['pipe']])
def test_a_bad_mode_is_located_and_lists_the_modes(mode):
    problems = problems_of([node(devices=[dev('stdin', 'swift://~/c/o'),
                                          dev('stdout', mode=mode)])])
    assert [where for where, _ in problems] == ['[0].devices[1].mode']
    assert 'must be one of file, char, pipe, block' in problems[0][1]


@pytest.mark.parametrize('device', [dev('python'), dev('image', 'swift://~/c/app.tar'),
                                    dev('debug', 'tcp://127.0.0.1:9')])
def test_devices_that_are_not_channels_take_no_mode(device):
    problems = problems_of([node(devices=[dict(device, mode='file')])])
    assert problems == [('[0].devices[0].mode',
                         '%s is not a channel of the program: it has no mode'
                         % device['name'])]


@pytest.mark.parametrize('mode, accepted', [('pipe', True), ('char', True), ('file', False),
                                            ('block', False)])
def test_a_zvm_device_is_a_stream_and_takes_only_pipe_or_char(mode, accepted):
    job = [node('a', devices=[dev('stdout', 'zvm://b:stdin', mode=mode)]), node('b')]
    if accepted:
        assert parse_job(job).nodes[0].devices[0].mode == mode
    else:
        assert problems_of(job) == [('[0].devices[0].mode', 'a zvm:// channel is a stream: '
                                     'mode pipe or char, not %s' % mode)]
