"""devstack/plugin.sh, run as devstack runs it, on the configuration of a real Swift.

devstack's function library is replaced by a small fake
(``tests/functional/devstack_fake/functions``: the ini helpers, service checks, and
recorders for the package installs); ``devstack_fake/run_phase`` sources it, the plugin's
``settings`` and ``plugin.sh`` with a mode and phase, as devstack does.  The plugin edits the
configuration files of a plain Swift cluster (devstack's layout: ``proxy-server.conf``,
``object-server/<N>.conf``) in the phases ``stack pre-install``, ``install`` and
``post-config`` (twice), then the servers start from the files it produced, ``stack
extra`` checks the proxy, and a job runs.  ``unstack`` and ``clean`` run on a copy.
"""
import os
import shutil
import subprocess
from types import SimpleNamespace

import pytest

from tests.functional import swift_install_support as support

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLUGIN_DIR = os.path.join(REPO, 'devstack')
RUN_PHASE = os.path.join(REPO, 'tests', 'functional', 'devstack_fake', 'run_phase')
DROP_IN = os.path.join('devstack@s-object.service.d', 'zerocloud.conf')


def devstack_env(etc_dir, root, port):
    """The variables devstack would give the plugin, for configs in ``etc_dir``; its data,
    systemd units and the fake's log under ``root``."""
    return dict(os.environ, SWIFT_CONF_DIR=etc_dir, DEST=os.path.dirname(REPO),
                ZEROCLOUD_DIR=REPO, DATA_DIR=os.path.join(root, 'data'),
                SYSTEMD_DIR=os.path.join(root, 'systemd'), USE_VENV='False',
                DEVSTACK_FAKE_LOG=os.path.join(root, 'devstack.log'),
                ENABLED_SERVICES='s-proxy,s-object,s-container,s-account', STACK_USER='root',
                SWIFT_REPLICAS='1', SWIFT_SERVICE_PROTOCOL='http', SERVICE_HOST='127.0.0.1',
                SWIFT_DEFAULT_BIND_PORT=str(port), ZEROCLOUD_OBJECT_CAPABILITIES='CAP_SYS_ADMIN')


def run_phase(env, *mode_and_phase, check=True):
    """Run the plugin for one phase -> CompletedProcess (text); FAIL if ``check`` and it
    exits non-zero."""
    done = subprocess.run([RUN_PHASE, PLUGIN_DIR] + list(mode_and_phase), env=env,
                          capture_output=True, text=True, timeout=60)
    if check and done.returncode:
        pytest.fail('%s failed (%d):\n%s' % (' '.join(mode_and_phase), done.returncode,
                                              done.stderr))
    return done


def stack(env):
    """The configuration phases of ``stack.sh``, in its order."""
    for phase in ('pre-install', 'install', 'post-config'):
        run_phase(env, 'stack', phase)


def fake_log(env):
    with open(env['DEVSTACK_FAKE_LOG']) as f:
        return f.read().splitlines()


@pytest.fixture(scope='module')
def stacked(tmp_path_factory):
    """A 2-node cluster whose configs the plugin wrote: ``spec``, ``env``, ``original``
    and ``once`` (config files before the plugin and after one post-config), ``extra``
    (the stack extra phase, run with the servers up)."""
    found = SimpleNamespace()

    def configure(spec):
        found.env = devstack_env(spec.etc_dir, spec.root, spec.port)
        found.original = support.config_files(spec.etc_dir)
        stack(found.env)
        found.once = support.config_files(spec.etc_dir)
        run_phase(found.env, 'stack', 'post-config')

    found.spec = support.launch(str(tmp_path_factory.mktemp('devstack') / 'swift'),
                                configure, nodes=2)
    found.extra = run_phase(found.env, 'stack', 'extra', check=False)
    yield found
    support.stop(found.spec)


def test_proxy_filters_go_right_after_auth(stacked):
    conf = os.path.join(stacked.spec.etc_dir, 'proxy-server.conf')
    original = support.write_original(stacked.spec, stacked.original, 'proxy-server.conf')
    assert support.pipeline(conf) == support.with_filters(support.pipeline(original),
                                                          'tempauth', support.PROXY_FILTERS)
    parsed = support.read_conf(conf)
    assert parsed['filter:job_chain']['use'] == 'egg:zerocloud#job_chain'
    assert parsed['filter:proxy_middleware']['use'] == 'egg:zerocloud#proxy_middleware'
    assert parsed['filter:proxy_middleware']['zerovm_sysimage_devices'] == 'python'


def test_every_object_server_gets_the_object_filter(stacked):
    for node, conf in enumerate(support.object_confs(stacked.spec), 1):
        assert support.pipeline(conf) == ['healthcheck', 'object_middleware', 'object-server']
        section = support.read_conf(conf)['filter:object_middleware']
        assert section['use'] == 'egg:zerocloud#object_middleware'
        assert section['zerovm_sysimage_devices'] == 'python'
        assert section['zerovm_work_dir'] == os.path.join(
            stacked.env['DATA_DIR'], 'zerocloud', 'object-%d' % node)


def test_stack_twice_adds_nothing_twice(stacked):
    assert support.config_files(stacked.spec.etc_dir) == stacked.once
    assert stacked.once != stacked.original


def test_install_phases_install_libseccomp_a_compiler_and_the_package(stacked):
    calls = [line.split(' PIP_VIRTUAL_ENV=')[0] for line in fake_log(stacked.env)]
    # (gcc and the static C library: the supervisor compiles its jail launcher)
    assert 'install_package libseccomp2 gcc libc6-dev' in calls
    assert 'setup_develop %s' % REPO in calls


def test_no_capability_is_granted_unless_asked():
    with open(os.path.join(REPO, 'devstack', 'settings')) as handle:
        assert 'ZEROCLOUD_OBJECT_CAPABILITIES=${ZEROCLOUD_OBJECT_CAPABILITIES-}' in handle.read()


def test_object_unit_gets_the_capabilities_asked_for(stacked):
    drop_in = support.read_conf(os.path.join(stacked.env['SYSTEMD_DIR'], DROP_IN))
    assert drop_in['Service']['AmbientCapabilities'] == 'CAP_SYS_ADMIN'


def test_extra_finds_zerocloud_in_info(stacked):
    assert stacked.extra.returncode == 0, stacked.extra.stderr
    object_port = stacked.spec.server_port('object', 1)  # serves no /info
    env = dict(stacked.env, SWIFT_DEFAULT_BIND_PORT=str(object_port))
    failed = run_phase(env, 'stack', 'extra', check=False)
    assert failed.returncode == 1
    assert 'cannot read http://127.0.0.1:%d/info' % object_port in failed.stderr


def test_a_job_runs_on_the_configured_cluster(stacked):
    response = support.word_count(stacked.spec)
    assert response.status_code == 200, response.headers.get('X-Nexe-Error')
    assert response.text == '5\n'
    assert response.headers['X-Nexe-Status'] == 'ok'
    assert response.headers['X-Chain-Length'] == '1'  # job_chain is in the pipeline
    work_dirs = os.listdir(os.path.join(stacked.env['DATA_DIR'], 'zerocloud'))
    assert set(work_dirs) <= {'object-1', 'object-2'} and work_dirs


def test_unstack_and_clean_remove_exactly_what_stack_added(stacked, tmp_path):
    etc_dir = str(tmp_path / 'etc')
    shutil.copytree(stacked.spec.etc_dir, etc_dir)
    for path, text in stacked.original.items():
        with open(os.path.join(etc_dir, path), 'wb') as f:
            f.write(text)
    env = devstack_env(etc_dir, str(tmp_path), stacked.spec.port)
    for mode in ('unstack', 'clean'):
        stack(env)
        os.makedirs(os.path.join(env['DATA_DIR'], 'zerocloud', 'object-1'), exist_ok=True)
        assert support.config_files(etc_dir) != stacked.original
        run_phase(env, mode)
        assert support.config_files(etc_dir) == stacked.original
        assert not os.path.exists(os.path.join(env['SYSTEMD_DIR'], DROP_IN))
    assert fake_log(env)[-1] == 'pip_uninstall zerocloud PIP_VIRTUAL_ENV='
    assert not os.path.exists(os.path.join(env['DATA_DIR'], 'zerocloud'))


def write_proxy_conf(etc_dir, words):
    os.makedirs(etc_dir)
    with open(os.path.join(etc_dir, 'proxy-server.conf'), 'w') as f:
        f.write('[DEFAULT]\nbind_port = 8080\n\n[pipeline:main]\npipeline = %s\n'
                % ' '.join(words))


def test_filters_go_after_the_last_auth_filter_of_devstacks_pipeline(tmp_path):
    words = ('catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk '
             'tempurl ratelimit crossdomain authtoken keystoneauth tempauth formpost '
             'staticweb copy container-quotas account-quotas slo dlo versioned_writes '
             'symlink proxy-logging proxy-server').split()
    write_proxy_conf(str(tmp_path / 'etc'), words)
    env = dict(devstack_env(str(tmp_path / 'etc'), str(tmp_path), 8080),
               ENABLED_SERVICES='s-proxy')
    run_phase(env, 'stack', 'post-config')
    conf = str(tmp_path / 'etc' / 'proxy-server.conf')
    expected = support.with_filters(words, 'tempauth', support.PROXY_FILTERS)
    assert support.pipeline(conf) == expected


def test_a_pipeline_without_auth_stops_post_config(tmp_path):
    write_proxy_conf(str(tmp_path / 'etc'), ['healthcheck', 'proxy-server'])
    env = dict(devstack_env(str(tmp_path / 'etc'), str(tmp_path), 8080),
               ENABLED_SERVICES='s-proxy')
    failed = run_phase(env, 'stack', 'post-config', check=False)
    assert failed.returncode == 1
    assert 'no authentication filter (keystoneauth tempauth) in the pipeline' in failed.stderr


def test_an_old_kernel_stops_pre_install(tmp_path):
    env = dict(devstack_env(str(tmp_path), str(tmp_path), 8080), ZEROCLOUD_MIN_KERNEL='99.0')
    failed = run_phase(env, 'stack', 'pre-install', check=False)
    assert failed.returncode == 1
    assert "zerocloud's sandbox needs Linux >= 99.0, this is %s" % os.uname().release \
        in failed.stderr
