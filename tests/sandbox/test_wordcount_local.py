"""The word-count map-reduce (examples/wordcount/local.py) through the real sandbox.

Every instance runs under ``zerocloud run`` with its channels given as ``--in``/``--out``
FIFOs; the merged table must equal a direct count of the corpus, for the Python samples (run
by the ``python`` system image) and the static C samples (glibc and musl).
"""
import sys

import pytest

from tests.unit.examples.wordcount_support import load_example, small_corpus

reference = load_example('reference')
local = load_example('local')

ZEROCLOUD_RUN = [sys.executable, '-m', 'zerocloud', 'run']


@pytest.fixture(scope='module')
def corpus_files(tmp_path_factory):
    return small_corpus(tmp_path_factory.mktemp('corpus'), objects=3, size_bytes=400_000)


@pytest.mark.parametrize('lang, cc', [('python', 'gcc'), ('c', 'gcc'), ('c', 'musl-gcc')])
def test_sandboxed_map_reduce_equals_reference(lang, cc, corpus_files, tmp_path):
    expected = reference.count_words(corpus_files)
    result = local.run_wordcount(corpus_files, lang=lang, reducers=2, top=10, direct=False,
                                 timeout=120, work_dir=str(tmp_path / 'work'),
                                 zerocloud=ZEROCLOUD_RUN, cc=cc)
    assert result.table == dict(expected)
    assert result.top == reference.top_words(expected, 10)


def test_sandboxed_and_direct_runs_agree(corpus_files, tmp_path):
    sandboxed = local.run_wordcount(corpus_files[:2], lang='c', reducers=3, direct=False,
                                    work_dir=str(tmp_path / 'sandboxed'),
                                    zerocloud=ZEROCLOUD_RUN)
    direct = local.run_wordcount(corpus_files[:2], lang='c', reducers=3, direct=True,
                                 work_dir=str(tmp_path / 'direct'))
    assert sandboxed.table == direct.table and sandboxed.top == direct.top
    assert sandboxed.table
