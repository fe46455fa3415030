"""Expansion (SPEC S2.3, S2.5, S2.6): wildcards, naming, substitution, count, placement."""
import json

import pytest

from zerocloud.job import JobError, SwiftUrl, expand, parse_job
from tests.unit.job.helpers import dev, listing, node

SORT_JOB = [{
    'name': 'sort',
    'exec': {'path': 'swift://my_account/exec/sort.nexe'},
    'devices': [{'name': 'stdin', 'path': 'swift://my_account/data/binary*.data'},
                {'name': 'stdout', 'path': 'swift://my_account/data/sorted*.data'},
                {'name': 'stderr'}],
    'args': '1048576',
}]

MAP_REDUCE_JOB = [
    {'name': 'mapper', 'exec': {'path': 'swift://my_account/exec/maper.nexe'},
     'devices': [{'name': 'stdin', 'path': 'swift://my_account/data/binary*.data'},
                 {'name': 'stderr'}],
     'connect': ['mapper', 'reducer']},
    {'name': 'reducer', 'exec': {'path': 'swift://my_account/exec/reducer.nexe'},
     'connect': ['manager'], 'count': 5},
    {'name': 'manager', 'exec': {'path': 'swift://my_account/exec/manager.nexe'},
     'devices': [{'name': 'stdout', 'path': 'swift://my_account/data/mapred_result.data'},
                 {'name': 'stderr'}]},
]


def plan_of(job, objects=None, account='AUTH_me', **kwargs):
    return expand(parse_job(job), account=account, list_objects=listing(objects or {}),
                  **kwargs)


def test_sort_example_one_instance_per_object_with_captured_output_names():
    names = ['binary_log_345.data', 'readme.txt', 'binary2.data', 'binary.data.bak']
    plan = plan_of(SORT_JOB, {('my_account', 'data'): names})
    assert [i.name for i in plan.instances] == ['sort-1', 'sort-2']
    first, second = plan.instances
    assert str(first.devices['stdin'].url) == 'swift://my_account/data/binary_log_345.data'
    assert str(first.devices['stdout'].url) == 'swift://my_account/data/sorted_log_345.data'
    assert str(second.devices['stdout'].url) == 'swift://my_account/data/sorted2.data'
    assert first.devices['stderr'].url is None
    assert (first.exec.argv0, first.exec.args) == ('sort-1', ('1048576',))
    assert str(first.exec.url) == 'swift://my_account/exec/sort.nexe'
    assert first.placement == SwiftUrl('my_account', 'data', 'binary_log_345.data')


def test_map_reduce_example_instances_and_channels_as_the_doc_describes():
    objects = {('my_account', 'data'): [f'binary{i}.data' for i in range(10)]}
    plan = plan_of(MAP_REDUCE_JOB, objects)
    mappers = [f'mapper-{i}' for i in range(1, 11)]
    reducers = [f'reducer-{i}' for i in range(1, 6)]
    assert [i.name for i in plan.instances] == mappers + reducers + ['manager']
    for name in mappers:
        mapper = plan.by_name[name]
        others = [m for m in mappers if m != name]
        assert mapper.inputs == tuple(f'/dev/in/{m}' for m in others)          # 9 mappers
        assert mapper.outputs == tuple(f'/dev/out/{m}' for m in others + reducers)  # 9 + 5
        assert mapper.exec.argv0 == name
    for name in reducers:
        reducer = plan.by_name[name]
        assert [c.peer for c in reducer.in_channels] == mappers
        assert reducer.outputs == ('/dev/out/manager',)
        assert reducer.devices == {} and reducer.placement is None
    manager = plan.by_name['manager']
    assert manager.inputs == tuple(f'/dev/in/{r}' for r in reducers)
    assert manager.outputs == ()
    assert str(manager.placement) == 'swift://my_account/data/mapred_result.data'


def test_check_json_form_lists_devices_and_channel_peers():
    objects = {('my_account', 'data'): ['binary1.data', 'binary2.data']}
    data = json.loads(json.dumps(plan_of(MAP_REDUCE_JOB, objects).to_dict()))
    first = data['instances'][0]
    assert first['name'] == 'mapper-1'
    assert first['devices'] == {'stdin': 'swift://my_account/data/binary1.data', 'stderr': None}
    assert first['in'] == ['mapper-2']
    assert first['out'] == ['mapper-2'] + [f'reducer-{i}' for i in range(1, 6)]
    assert data['instances'][-1]['in'] == [f'reducer-{i}' for i in range(1, 6)]


def test_listing_order_is_instance_order_and_whole_names_must_match():
    objects = {('AUTH_me', 'c'): ['z.txt', 'a.txt', 'a.txt.bak', 'm.txt']}
    plan = plan_of([node(devices=[dev('stdin', 'swift://~/c/*.txt')])], objects)
    assert [i.devices['stdin'].url.object for i in plan.instances] == ['z.txt', 'a.txt', 'm.txt']


def test_several_wildcards_capture_in_order_and_fill_writable_paths():
    objects = {('AUTH_me', 'in'): ['2024/jan/a.log', 'x/y/z.log']}
    job = [node(devices=[dev('input', 'swift://~/in/*/*/*.log'),
                         dev('output', 'swift://~/out/*-*-*.txt'),
                         dev('stderr', 'swift://~/err/*.err')])]
    plan = plan_of(job, objects)
    assert [str(i.devices['output'].url) for i in plan.instances] == [
        'swift://AUTH_me/out/2024-jan-a.txt', 'swift://AUTH_me/out/x-y-z.txt']
    assert str(plan.instances[0].devices['stderr'].url) == 'swift://AUTH_me/err/2024.err'


def test_container_wildcard_uses_container_listing_and_captures_container_text():
    objects = {('AUTH_me', 'logs-a'): ['1.txt'], ('AUTH_me', 'logs-b'): ['2.txt', '3.bin'],
               ('AUTH_me', 'other'): ['4.txt']}
    job = [node(devices=[dev('stdin', 'swift://~/logs-*/*.txt'),
                         dev('stdout', 'swift://~/out/*_*.res')])]
    plan = expand(parse_job(job), account='AUTH_me', list_objects=listing(objects),
                  list_containers=lambda account, prefix: ['logs-a', 'logs-b', 'other'])
    assert [str(i.devices['stdout'].url) for i in plan.instances] == [
        'swift://AUTH_me/out/a_1.res', 'swift://AUTH_me/out/b_2.res']


def test_container_wildcard_without_object_takes_every_object():
    objects = {('AUTH_me', 'd1'): ['x', 'y'], ('AUTH_me', 'd2'): ['z']}
    plan = expand(parse_job([node(devices=[dev('stdin', 'swift://~/d*')])]), account='AUTH_me',
                  list_objects=listing(objects), list_containers=lambda a, p: ['d1', 'd2'])
    assert [i.devices['stdin'].url.path for i in plan.instances] == [
        '/AUTH_me/d1/x', '/AUTH_me/d1/y', '/AUTH_me/d2/z']


def test_container_wildcard_needs_container_listings():
    with pytest.raises(JobError, match='container listings') as info:
        plan_of([node(devices=[dev('stdin', 'swift://~/d*/x')])])
    assert info.value.problems[0][0] == '[0].devices[0].path'   # located (the fuzz: it was not)


def test_listing_receives_account_container_and_prefix_hint():
    calls = []

    def list_objects(account, container, prefix):
        calls.append((account, container, prefix))
        return ['in-1']
    expand(parse_job([node(devices=[dev('stdin', 'swift://./c/in-*')])]), account='AUTH_x',
           list_objects=list_objects)
    assert calls == [('AUTH_x', 'c', 'in-')]


def test_no_objects_found_is_located():
    with pytest.raises(JobError) as info:
        plan_of([node(), node('m', devices=[dev('stdin', 'swift://~/c/*.x')])])
    assert info.value.problems == [('[1].devices[0].path',
                                    'No objects found in swift://AUTH_me/c/*.x')]
    assert info.value.status == 400


def test_listing_errors_propagate_unchanged():
    class Forbidden(Exception):
        pass

    def list_objects(account, container, prefix):
        raise Forbidden(container)
    with pytest.raises(Forbidden):
        expand(parse_job([node(devices=[dev('stdin', 'swift://~/c/*')])]), account='a',
               list_objects=list_objects)


def test_count_names_instances_and_writable_wildcard_takes_instance_name():
    plan = plan_of([node('w', count=3, devices=[dev('stdout', 'swift://~/res/*.out')])])
    assert [i.name for i in plan.instances] == ['w-1', 'w-2', 'w-3']
    assert [i.devices['stdout'].url.object for i in plan.instances] == [
        'w-1.out', 'w-2.out', 'w-3.out']


def test_single_instance_keeps_the_node_name_unless_it_has_a_wildcard():
    assert [i.name for i in plan_of([node('solo')]).instances] == ['solo']
    plan = plan_of([node('solo', devices=[dev('stdout', 'swift://~/r/*')])])
    assert [(i.name, i.devices['stdout'].url.object) for i in plan.instances] == [
        ('solo-1', 'solo-1')]


def test_instance_names_must_not_clash():
    with pytest.raises(JobError) as info:
        plan_of([node('map', count=2), node('map-2')])
    assert info.value.problems[0][0] == '[1].name'


def test_instance_limit_counts_replicas_and_stops_reading_the_listing():
    with pytest.raises(JobError) as info:
        plan_of([node(count=6, replicate=2)], max_instances=10)
    assert info.value.problems[0][0] == '[0].count'
    consumed = []

    def endless(account, container, prefix):
        for i in range(10 ** 9):
            consumed.append(i)
            yield f'o{i}'
    with pytest.raises(JobError, match='instance limit'):
        expand(parse_job([node(devices=[dev('stdin', 'swift://~/c/*')])]), account='a',
               list_objects=endless, max_instances=100)
    assert len(consumed) == 101
    plan = plan_of([node(count=5, replicate=2)], max_instances=10)
    assert plan.total_sessions == 10 and plan.instances[0].replicate == 2


@pytest.mark.parametrize('devices, attach, expected', [
    ([dev('stdout', 'swift://a/o/x'), dev('stdin', 'swift://a/i/x')], 'default', 'stdin'),
    ([dev('stdout', 'swift://a/o/x'), dev('image', 'swift://a/i/t.tar')], 'default', 'image'),
    ([dev('script', 'swift://a/s/x'), dev('input', 'swift://a/i/x')], 'default', 'input'),
    ([dev('stdout', 'swift://a/o/x'), dev('script', 'swift://a/s/x')], 'default', 'stdout'),
    ([dev('stdout'), dev('script', 'swift://a/s/x')], 'default', None),  # never the script
    ([dev('image', 'swift://a/i/t'), dev('script', 'swift://a/s/x')], 'default', 'image'),
    ([dev('stdin'), dev('output', 'swift://a/o/x')], 'default', 'output'),
    ([dev('stdin', 'swift://a/i/x'), dev('stdout', 'swift://a/o/x')], 'stdout', 'stdout'),
    ([dev('stdin', 'swift://a/i/x'), dev('stdout')], 'stdout', None),
    ([dev('stdout'), dev('python')], 'default', None),
    ([dev('stdin', 'swift://a/cont')], 'default', 'stdin'),
])
def test_placement_follows_default_order_and_attach(devices, attach, expected):
    instance = plan_of([node(devices=devices, attach=attach, location='rack-1')]).instances[0]
    assert instance.attach == expected
    assert instance.placement == (instance.devices[expected].url if expected else None)
    assert instance.location == 'rack-1'


def test_home_account_replaced_everywhere_and_only_written_modes_kept():
    job = [node(exec={'path': 'swift://~/bin/x', 'name': 'prog', 'env': {'A': '1'}},
                devices=[dev('stdin', 'swift://./c/o'), dev('input', 'swift://~/c/p', mode='file'),
                         dev('stdout', 'swift://other/c/o')])]
    instance = plan_of(job).instances[0]
    assert str(instance.exec.url) == 'swift://AUTH_me/bin/x'
    assert instance.exec.argv0 == 'prog' and dict(instance.exec.env) == {'A': '1'}
    assert instance.devices['stdin'].url.account == 'AUTH_me'
    assert instance.devices['stdout'].url.account == 'other'
    assert [d.mode for d in instance.devices.values()] == [None, 'file', None]
    assert [d.access for d in instance.devices.values()] == ['readable', 'readable', 'writable']


def test_plan_is_immutable():
    plan = plan_of([node(devices=[dev('stdout')])])
    with pytest.raises(AttributeError):
        plan.instances = ()
    with pytest.raises(TypeError):
        plan.instances[0].devices['stdin'] = None


def test_system_image_device_is_not_a_payload_device():
    instance = plan_of([node(devices=[dev('python'), dev('stdin')])]).instances[0]
    assert instance.devices['python'].access == 'sysimage'
    assert instance.devices['python'].url is None
    assert instance.devices['stdin'].access == 'readable'


def test_find_matches_gives_object_urls_and_captures():
    from zerocloud.job import find_matches
    url = SwiftUrl('a', 'c', 'x*-*.txt')
    found = list(find_matches(url, listing({('a', 'c'): ['x1-2.txt', 'y', 'x-.txt']})))
    assert found == [(SwiftUrl('a', 'c', 'x1-2.txt'), ('1', '2')),
                     (SwiftUrl('a', 'c', 'x-.txt'), ('', ''))]


def test_captured_text_that_makes_an_invalid_output_name_is_located():
    job = [node(devices=[dev('stdin', 'swift://~/c/*'), dev('stdout', 'swift://~/out-*/o')])]
    with pytest.raises(JobError) as info:
        plan_of(job, {('AUTH_me', 'c'): ['ok', 'x/y']})
    assert info.value.problems[0][0] == '[0].devices[1].path'
    assert '"/" into the container name' in info.value.problems[0][1]
    long_job = [node(devices=[dev('stdin', 'swift://~/c/*'), dev('stdout', 'swift://~/o/r*')])]
    with pytest.raises(JobError, match='longer than 1024 bytes'):
        plan_of(long_job, {('AUTH_me', 'c'): ['é' * 512]})
    assert len(plan_of(long_job, {('AUTH_me', 'c'): ['é' * 511]}).instances) == 1
