"""doc/install.md, followed literally on a plain Swift cluster.

The doc's shell blocks marked ``<!-- step: NAME -->`` run with bash as written, except
that ``/etc/swift`` becomes the cluster's configuration directory: ``check`` (Swift's
Python imports the filters), ``proxy`` and ``object`` (twice: a second run changes
nothing), then the servers start from the files they produced (the doc's reload), then
``smoke`` (its curl job) and ``rollback`` (on a copy).  Not run: ``pip install`` (the test
venv holds zerocloud already) and the reload commands (the test starts the servers).  The
servers run as root here, which is one of the doc's two ways of giving them their privilege.
"""
import os
import re
import shutil
import subprocess
import sys
from types import SimpleNamespace

import pytest

from tests.functional import swift_install_support as support

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC = os.path.join(REPO, 'doc', 'install.md')
STEP = re.compile(r'<!-- step: (\w+) -->\n```sh\n(.*?)```', re.DOTALL)


def doc_steps():
    """{step name: shell text} of the doc's marked blocks."""
    with open(DOC) as f:
        return dict(STEP.findall(f.read()))


def run_step(name, etc_dir, **env):
    """Run the doc's step ``name`` on the configs in ``etc_dir``; -> its stdout.  The
    servers' Python (the test's) comes first in PATH."""
    text = doc_steps()[name].replace('/etc/swift', etc_dir)
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ['PATH']
    done = subprocess.run(['bash', '-c', text], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PATH=path, **env))
    assert done.returncode == 0 and not done.stderr, (name, done.stderr)
    return done.stdout


@pytest.fixture(scope='module')
def followed(tmp_path_factory):
    """A 1-node cluster configured by the doc: ``spec``, ``original`` and ``configured``
    (config files before the doc's steps and after their first run)."""
    found = SimpleNamespace()

    def configure(spec):
        found.original = support.config_files(spec.etc_dir)
        for name in ('check', 'proxy', 'object'):
            assert run_step(name, spec.etc_dir) == ''
        found.configured = support.config_files(spec.etc_dir)
        for name in ('proxy', 'object'):
            run_step(name, spec.etc_dir)

    found.spec = support.launch(str(tmp_path_factory.mktemp('install-doc') / 'swift'),
                                configure)
    yield found
    support.stop(found.spec)


def test_doc_marks_the_steps_this_test_follows():
    assert sorted(doc_steps()) == ['check', 'object', 'proxy', 'rollback', 'smoke']


def test_doc_steps_put_the_filters_in_the_pipelines(followed):
    spec = followed.spec
    original = support.pipeline(support.write_original(spec, followed.original,
                                                       'proxy-server.conf'))
    assert support.pipeline(os.path.join(spec.etc_dir, 'proxy-server.conf')) == \
        support.with_filters(original, 'tempauth', support.PROXY_FILTERS)
    assert support.pipeline(support.object_confs(spec)[0]) == \
        ['healthcheck', 'object_middleware', 'object-server']


def test_doc_steps_run_twice_change_nothing(followed):
    assert support.config_files(followed.spec.etc_dir) == followed.configured


def test_doc_smoke_job_prints_the_word_count(followed):
    url, token = support.credentials(followed.spec)
    assert run_step('smoke', followed.spec.etc_dir, TOKEN=token, STORAGE_URL=url) == \
        '201\n201\n5\n'


def test_doc_rollback_restores_the_pipelines(followed, tmp_path):
    etc_dir = str(tmp_path / 'etc')
    shutil.copytree(followed.spec.etc_dir, etc_dir)
    run_step('rollback', etc_dir)
    for name in ('proxy-server.conf', 'object-server/1.conf'):
        before = support.write_original(followed.spec, followed.original, name)
        assert support.pipeline(os.path.join(etc_dir, name)) == support.pipeline(before)
