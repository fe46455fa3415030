"""A plain Swift cluster that someone else configures: the shared part of the tests of
``devstack/`` (test_devstack_plugin.py) and ``doc/install.md`` (test_install_doc.py).

:func:`launch` writes the configuration and rings of an all-in-one cluster *without*
zerocloud (:mod:`zerocloud.aio`, ``zerocloud=False``), hands them to ``configure(spec)``
(the devstack plugin, or the doc's steps), then starts the servers from the files exactly
as ``configure`` left them: the launcher never rewrites them.  Servers run from the test's
venv, which holds zerocloud (as the package installation steps would leave it).

:func:`word_count` runs a job the way a user would: a Python script POSTed next to an
object, through the ``python`` system image.
"""
import configparser
import os
import uuid

import pytest
import requests

from zerocloud.aio import cluster, processes

START_ATTEMPTS = 3
PROXY_FILTERS = ('job_chain', 'proxy_middleware')
WORDS = b'storage side compute for swift\n'
SCRIPT = b'#!file://python:python\nimport sys\nprint(len(sys.stdin.read().split()))\n'


def config_files(etc_dir):
    """{path relative to ``etc_dir``: bytes} of every ``*.conf`` below it."""
    found = {}
    for directory, _dirs, files in os.walk(etc_dir):
        for name in files:
            if name.endswith('.conf'):
                path = os.path.join(directory, name)
                with open(path, 'rb') as f:
                    found[os.path.relpath(path, etc_dir)] = f.read()
    return found


def read_conf(path):
    """The paste configuration file at ``path``, parsed."""
    parser = configparser.ConfigParser(interpolation=None)
    with open(path) as f:
        parser.read_file(f)
    return parser


def pipeline(path):
    """The words of ``[pipeline:main]`` in the file at ``path``."""
    return read_conf(path)['pipeline:main']['pipeline'].split()


def with_filters(words, after, filters):
    """The pipeline ``words`` with ``filters`` inserted right after the word ``after``."""
    at = words.index(after) + 1
    return words[:at] + list(filters) + words[at:]


def write_original(spec, original, name):
    """Write ``original[name]`` (bytes) beside the cluster; -> its path (to parse it)."""
    path = os.path.join(spec.root, 'original-' + name.replace('/', '-'))
    with open(path, 'wb') as f:
        f.write(original[name])
    return path


def object_confs(spec):
    """Paths of the object servers' configuration files, node 1 first."""
    return [os.path.join(spec.etc_dir, 'object-server', '%d.conf' % node)
            for node in spec.node_numbers()]


def _start(spec):
    for name in cluster.process_names(spec):
        processes.launch(spec.run_dir, spec.log_dir, name, cluster.command_of(spec, name))
    try:
        cluster.wait_healthy(spec)
        cluster.create_accounts(spec)
    except Exception:
        cluster.stop(spec)
        raise


def launch(root, configure, nodes=1):
    """Prepare a plain cluster in ``root-<attempt>``, call ``configure(spec)``, start it;
    -> its ClusterSpec.  Another attempt, on other ports, if it does not start (a port
    taken between the check and the bind); the test FAILS after the last one."""
    errors = []
    for attempt in range(START_ATTEMPTS):
        spec = cluster.spec_with_free_ports('%s-%d' % (root, attempt), nodes=nodes,
                                            replicas=nodes, zerocloud=False,
                                            owner_pid=os.getpid())
        cluster.prepare(spec)
        configure(spec)
        try:
            _start(spec)
            return spec
        except (cluster.ClusterError, OSError) as exc:
            errors.append(str(exc))
    pytest.fail('the configured cluster did not start:\n' + '\n'.join(errors))


def stop(spec):
    """Stop the cluster's processes."""
    cluster.stop(spec)


def credentials(spec):
    """(storage url, token) of test:tester."""
    return cluster.get_token(spec, 'test', 'tester', 'testing')


def word_count(spec):
    """PUT :data:`WORDS` as an object, POST :data:`SCRIPT` next to it -> the response."""
    url, token = credentials(spec)
    headers = {'X-Auth-Token': token}
    path = '%s/%s' % (url, uuid.uuid4().hex)
    requests.put(path, headers=headers, timeout=30).raise_for_status()
    requests.put(path + '/words.txt', data=WORDS, headers=headers,
                 timeout=30).raise_for_status()
    return requests.post(path + '/words.txt', data=SCRIPT, timeout=60, headers=dict(
        headers, **{'X-Zerovm-Execute': '1.0', 'Content-Type': 'text/x-python'}))
