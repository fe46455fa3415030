"""Every declared zerocloud filter is in the pipelines; one that cannot load is an error."""
import configparser
import os

import pytest

import zerocloud
from zerocloud.aio import pipelines


def test_every_declared_filter_loads_and_is_in_the_pipelines():
    names = pipelines.available_zerocloud_filters()
    assert names == ('job_chain', 'proxy_middleware', 'object_middleware')
    proxy = pipelines.proxy_pipeline(names)
    assert proxy.index('tempauth') < proxy.index('job_chain') \
        == proxy.index('proxy_middleware') - 1
    assert 'object_middleware' in pipelines.object_pipeline(names)


@pytest.mark.parametrize('module_name,said', [
    ('zerocloud.no_such_filter', 'ModuleNotFoundError'),
    ('zerocloud.options', 'has no filter_factory'),
])
def test_a_filter_whose_module_cannot_provide_it_is_an_error(module_name, said):
    with pytest.raises(pipelines.FilterImportError) as raised:
        pipelines.check_filter('job_chain', module_name)
    assert module_name in str(raised.value) and said in str(raised.value)
    assert 'job_chain' in str(raised.value)


def test_the_filters_checked_are_the_entry_points_setup_cfg_declares():
    setup = configparser.ConfigParser()
    setup.read(os.path.join(os.path.dirname(zerocloud.__file__), os.pardir, 'setup.cfg'))
    declared = dict(line.replace(' ', '').split('=') for line in
                    setup['options.entry_points']['paste.filter_factory'].split('\n') if line)
    assert declared == {name: module + ':filter_factory'
                        for name, module in pipelines.ZEROCLOUD_FILTER_MODULES.items()}
