"""The connect graph (Servlets.md rule 6, Url.md zvm://, SPEC S2.4)."""
import pytest

from zerocloud.job import Channel, JobError, expand, parse_job
from tests.unit.job.helpers import dev, listing, node


def plan_of(job, **kwargs):
    return expand(parse_job(job), account='a', list_objects=listing({}), **kwargs)


@pytest.mark.parametrize('count', [2, 3, 7])
def test_group_connected_to_itself_is_a_full_mesh_without_self_loops(count):
    plan = plan_of([node('g', count=count, connect=['g'])])
    names = [i.name for i in plan.instances]
    for instance in plan.instances:
        others = [n for n in names if n != instance.name]
        assert [c.peer for c in instance.out_channels] == others
        assert [c.peer for c in instance.in_channels] == others
    assert sum(len(i.out_channels) for i in plan.instances) == count * (count - 1)


def test_wildcard_group_of_one_connected_to_itself_has_no_channels():
    plan = expand(parse_job([node('g', connect=['g'], devices=[dev('stdin', 'swift://a/c/*')])]),
                  account='a', list_objects=listing({('a', 'c'): ['only']}))
    assert plan.instances[0].in_channels == plan.instances[0].out_channels == ()


def test_channels_follow_connect_order_then_instance_order():
    plan = plan_of([node('src', connect=['b', 'a']), node('a', count=2), node('b')])
    assert plan.by_name['src'].outputs == ('/dev/out/b', '/dev/out/a-1', '/dev/out/a-2')
    assert plan.by_name['a-2'].in_channels == (Channel('/dev/in/src', 'src'),)


def test_in_channels_are_in_source_instance_order():
    plan = plan_of([node('x', count=2, connect=['sink']), node('y', connect=['sink']),
                    node('sink')])
    assert [c.peer for c in plan.by_name['sink'].in_channels] == ['x-1', 'x-2', 'y']


def test_zvm_device_renames_both_ends_and_implies_connect():
    plan = plan_of([node('a', devices=[dev('stdout', 'zvm://b:/dev/stdin'), dev('stderr')]),
                    node('b', devices=[dev('stdout')])])
    a, b = plan.by_name['a'], plan.by_name['b']
    assert a.out_channels == (Channel('/dev/stdout', 'b'),)
    assert b.in_channels == (Channel('/dev/stdin', 'a'),)
    assert 'stdout' not in a.devices and 'stderr' in a.devices


def test_zvm_device_with_connect_listing_the_target_is_one_edge():
    plan = plan_of([node('a', connect=['b'], devices=[dev('output', 'zvm://b:input')]),
                    node('b')])
    assert plan.by_name['a'].out_channels == (Channel('/dev/output', 'b'),)
    assert plan.by_name['b'].in_channels == (Channel('/dev/input', 'a'),)


def test_zvm_device_fanning_out_to_a_group_is_an_error():
    with pytest.raises(JobError) as info:
        plan_of([node('a', devices=[dev('stdout', 'zvm://b:stdin')]), node('b', count=2)])
    assert info.value.problems[0][0] == '[0].devices[0].path'
    assert 'several instances' in info.value.problems[0][1]


def test_zvm_device_fanning_in_from_a_group_is_an_error():
    with pytest.raises(JobError, match='would read /dev/stdin from several instances'):
        plan_of([node('a', count=2, devices=[dev('stdout', 'zvm://b:stdin')]), node('b')])


def test_channel_limit():
    with pytest.raises(JobError, match='more than the 10 allowed'):
        plan_of([node('g', count=4, connect=['g'])], max_channels=10)
    assert len(plan_of([node('g', count=4, connect=['g'])], max_channels=12).instances) == 4
