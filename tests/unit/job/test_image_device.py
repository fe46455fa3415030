"""A path-less ``image`` device: "this zapp" in a zapp's system map, refused in a plain job."""
import pytest

from zerocloud import job as joblib

NODE = {'name': 'app', 'exec': {'path': 'file:///bin/app'},
        'devices': [{'name': 'image'}, {'name': 'stdout'}]}


def test_a_zapps_map_may_list_a_pathless_image_device():
    job = joblib.parse_job([NODE], in_zapp=True)
    device = job.nodes[0].devices[0]
    assert device.name == 'image' and device.url is None and device.access == joblib.IMAGE
    plan = joblib.expand(job, account='AUTH_test', list_objects=None, list_containers=None)
    assert [instance.name for instance in plan.instances] == ['app']


def test_a_plain_json_job_is_refused_naming_the_device():
    with pytest.raises(joblib.JobError) as info:
        joblib.parse_job([NODE])
    assert info.value.status == 400
    assert [where for where, _ in info.value.problems] == ['[0].devices[0].path']
    assert 'required for image in a plain JSON job' in str(info.value)


def test_a_network_device_still_needs_its_path():
    node = dict(NODE, devices=[{'name': 'debug'}])
    with pytest.raises(joblib.JobError, match=r'devices\[0\]\.path: required for debug'):
        joblib.parse_job([node], in_zapp=True)
