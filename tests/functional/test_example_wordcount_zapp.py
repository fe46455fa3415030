"""The word count of examples/wordcount as a zapp: the Python programs with
``examples/wordcount/zapp/system.map``, or the C programs built statically with
``zapp/c.map``, bundled with ``zerocloud zapp bundle`` and POSTed as one tar (README "Run it
as a zapp"); its answer equals a direct count."""
import os
import shutil
import subprocess
import sys
import uuid

import pytest
import requests

from tests.functional.test_mapreduce_wordcount import corpus
from tests.unit.examples.wordcount_support import (ROLES, WORDCOUNT_DIR, build_c_samples,
                                                   python_program)

SHARED_FIXTURES = (corpus,)    # the word count's corpus and reference count


def bundle(tmp_path, corpus_container, results_container, lang='python'):
    """The README's steps: programs at the image's root, the map in boot/, bundled."""
    app = tmp_path / 'wc'
    (app / 'boot').mkdir(parents=True)
    for role, program in programs(tmp_path, lang).items():
        shutil.copy(program, str(app / role))
    map_name = 'system.map' if lang == 'python' else 'c.map'
    with open(os.path.join(WORDCOUNT_DIR, 'zapp', map_name)) as handle:
        text = handle.read().replace('swift://~/corpus/', 'swift://~/%s/' % corpus_container)
    (app / 'boot' / 'system.map').write_text(
        text.replace('swift://~/results/', 'swift://~/%s/' % results_container))
    output = str(tmp_path / 'wordcount.zapp')
    result = subprocess.run([sys.executable, '-m', 'zerocloud', 'zapp', 'bundle', str(app),
                             '-o', output], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return output


def programs(tmp_path, lang):
    """``{name in the image: path}`` of the word count's programs in ``lang``."""
    if lang == 'python':
        return {role + '.py': python_program(role) for role in ROLES}
    (tmp_path / 'build').mkdir()
    built = build_c_samples(tmp_path / 'build')
    return {role: built[role] for role in ROLES}


@pytest.mark.parametrize('lang', ['python', 'c'])
def test_the_wordcount_zapp_equals_the_reference(cluster, corpus, tmp_path, lang):
    container, counts, reference = corpus
    results = 'zcres-' + uuid.uuid4().hex
    conn = cluster.connection()
    conn.put_container(results)
    with open(bundle(tmp_path, container, results, lang), 'rb') as handle:
        body = handle.read()
    url, token = cluster.auth()
    resp = requests.post(url, data=body, timeout=300, headers={
        'X-Auth-Token': token, 'X-Zerovm-Execute': '1.0', 'Content-Type': 'application/x-gzip'})
    assert resp.status_code == 200, resp.text
    assert resp.headers['X-Nexe-System'].split(',')[-1] == 'merge'
    assert set(resp.headers['X-Nexe-Status'].split(',')) == {'ok'}, resp.headers
    assert resp.content == reference.format_pairs(reference.top_words(counts, 20))
    _headers, table = conn.get_object(results, 'wordcount.tsv')
    assert reference.parse_table(table) == dict(counts)
