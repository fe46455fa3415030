"""The word count of examples/wordcount (Python and C) on the cluster equals a direct count.

Each mapper must run on a server holding its object (``X-Nexe-Node`` against the ring) and
the mappers are spread over several servers.
"""
import json
import os
import uuid

import pytest

from tests.functional.test_jobs_checks import post_job
from tests.functional.test_jobs_run import object_nodes
from tests.unit.examples.wordcount_support import (WORDCOUNT_DIR, build_c_samples,
                                                   load_example, python_program)

OBJECTS = 8
OBJECT_BYTES = 48 * 1024


@pytest.fixture(scope='module')
def corpus(cluster, tmp_path_factory):
    """A corpus container and its reference count: ``(container, Counter)``."""
    corpus_module = load_example('corpus')
    reference = load_example('reference')
    paths = corpus_module.write_corpus(str(tmp_path_factory.mktemp('corpus')), OBJECTS,
                                       OBJECT_BYTES, seed=6)
    conn = cluster.connection()
    container = 'zcwc-' + uuid.uuid4().hex
    conn.put_container(container)
    for path in paths:
        with open(path, 'rb') as handle:
            conn.put_object(container, os.path.basename(path), handle.read(),
                            content_type='text/plain')
    return container, reference.count_words(paths), reference


@pytest.fixture(scope='module')
def apps(cluster, tmp_path_factory):
    """Upload the Python scripts and the C executables; ``{lang: container}``."""
    conn = cluster.connection()
    container = 'zcapps-' + uuid.uuid4().hex
    conn.put_container(container)
    programs = build_c_samples(tmp_path_factory.mktemp('c'))
    for role in ('mapper', 'reducer', 'merge'):
        with open(python_program(role), 'rb') as handle:
            conn.put_object(container, 'py/%s.py' % role, handle.read())
        with open(programs[role], 'rb') as handle:
            conn.put_object(container, 'c/%s' % role, handle.read(),
                            content_type='application/x-nexe')
    return container


def wordcount_job(lang, corpus_container, apps_container, results_container, pattern='*'):
    """The example's job.json pointed at this test's containers (the objects of
    ``corpus_container`` matching ``pattern``)."""
    with open(os.path.join(WORDCOUNT_DIR, lang, 'job.json')) as handle:
        text = handle.read()
    apps = 'swift://~/%s/%s/' % (apps_container, 'py' if lang == 'python' else 'c')
    text = text.replace('swift://~/corpus/*', 'swift://~/%s/%s' % (corpus_container, pattern))
    text = text.replace('swift://~/apps/wordcount/', apps)
    text = text.replace('swift://~/results/', 'swift://~/%s/' % results_container)
    return json.loads(text)


@pytest.mark.parametrize('lang', ['python', 'c'])
def test_wordcount_equals_the_reference_and_runs_next_to_the_objects(cluster, corpus, apps,
                                                                    lang):
    container, counts, reference = corpus
    conn = cluster.connection()
    results = 'zcres-' + uuid.uuid4().hex
    conn.put_container(results)
    resp = post_job(cluster, wordcount_job(lang, container, apps, results))
    assert resp.status_code == 200, resp.text
    names = resp.headers['X-Nexe-System'].split(',')
    expected = ['map-%d' % i for i in range(1, OBJECTS + 1)] + \
        ['reduce-1', 'reduce-2', 'reduce-3', 'merge']
    assert names == expected
    assert resp.headers['X-Nexe-Status'] == ','.join(['ok'] * len(names)), resp.headers
    assert resp.headers['X-Nexe-Retcode'] == ','.join(['0'] * len(names))
    assert resp.content == reference.format_pairs(reference.top_words(counts, 20))
    _headers, table = conn.get_object(results, 'wordcount.tsv')
    assert reference.parse_table(table) == dict(counts)
    nodes = resp.headers['X-Nexe-Node'].split(',')
    account = conn.url.rsplit('/', 1)[1]
    for index in range(OBJECTS):
        holders = object_nodes(cluster, account, container, 'part-%04d.txt' % (index + 1))
        assert nodes[index] in holders, (names[index], nodes[index], holders)
    assert len(set(nodes[:OBJECTS])) >= 2, nodes
    assert resp.headers['X-Nexe-Colocated'].split(',')[:OBJECTS] == ['1'] * OBJECTS
    cdr = resp.headers['X-Nexe-Cdr-Line'].split(', ')[1:]
    network_bytes_written = [int(line.split()[-1]) for line in cdr]
    assert all(written > 0 for written in network_bytes_written[:-1]), cdr
