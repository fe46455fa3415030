"""The word-count samples (examples/wordcount) without the sandbox: results equal a direct count.

Every program is run as a real process: the Python scripts with this interpreter, the C
programs compiled statically (glibc and musl) with the documented one-line build.
"""
import io
import os
import random
import subprocess
import sys
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.examples.wordcount_support import (
    ROLES, WORDCOUNT_DIR, build_c_samples, load_example, python_program, small_corpus)

reference = load_example('reference')
local = load_example('local')
corpus = load_example('corpus')
python_mapper = load_example('python/mapper')


@pytest.fixture(scope='module')
def c_samples(tmp_path_factory):
    """``{libc: {role: path}}`` for glibc and musl builds of the C samples."""
    out_dir = tmp_path_factory.mktemp('wordcount-c')
    return {libc: build_c_samples(out_dir, libc) for libc in ('glibc', 'musl')}


@pytest.fixture(scope='module')
def corpus_files(tmp_path_factory):
    return small_corpus(tmp_path_factory.mktemp('corpus'), objects=3, size_bytes=1_000_000)


def program_argv(lang, role, c_samples):
    """The argv that runs ``role`` in ``lang`` ('python', 'glibc' or 'musl')."""
    if lang == 'python':
        return [sys.executable, python_program(role)]
    return [c_samples[lang][role]]


def run_program(argv, stdin=b'', env_extra=None, args=()):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run(list(argv) + list(args), input=stdin, capture_output=True,
                          env=env, timeout=60)


def tricky_text(size_bytes):
    """Random text dense in edge cases: apostrophes, case, digits, UTF-8 and raw bytes, long
    words straddling every read-chunk boundary (64 KiB in C, 1 MiB in Python)."""
    rng = random.Random(42)
    alphabet = [b'a', b'Z', b'q', b'7', b"'", b"''", b' ', b'\n', b',', b'\xc3\xa9', b'\xff',
                b'\t', b'\x00', b'-', b'e']
    weights = [20, 6, 10, 5, 6, 2, 12, 3, 2, 2, 1, 1, 1, 2, 20]
    pieces = rng.choices(alphabet, weights=weights, k=size_bytes // 2)
    long_word = b'Long' * 9000  # 36 KB without a separator
    return b''.join(pieces[:len(pieces) // 2]) + long_word + b''.join(pieces[len(pieces) // 2:])


@pytest.mark.parametrize('lang', ['python', 'glibc', 'musl'])
def test_mapper_alone_counts_like_the_reference(lang, c_samples, tmp_path):
    text_path = tmp_path / 'tricky.txt'
    text_path.write_bytes(tricky_text(2_500_000))
    expected = reference.count_words([str(text_path)])
    done = run_program(program_argv(lang, 'mapper', c_samples), stdin=text_path.read_bytes())
    assert done.returncode == 0, done.stderr
    assert done.stdout == b''.join(b'%s\t%d\n' % (w, expected[w]) for w in sorted(expected))


@pytest.mark.parametrize('lang', ['python', 'glibc'])
def test_mapper_partitions_by_crc32_sorted_per_reducer(lang, c_samples, corpus_files,
                                                       tmp_path):
    dev = tmp_path / 'dev'
    (dev / 'out').mkdir(parents=True)
    names = ['reduce-1', 'reduce-10', 'reduce-2']  # byte-wise order: partitions 0, 1, 2
    for name in names:
        (dev / 'out' / name).write_bytes(b'')
    with open(corpus_files[0], 'rb') as f:
        done = run_program(program_argv(lang, 'mapper', c_samples), stdin=f.read(),
                           env_extra={'ZEROCLOUD_DEV_ROOT': str(dev)})
    assert done.returncode == 0, done.stderr
    merged = {}
    for index, name in enumerate(names):
        table = local.read_table(str(dev / 'out' / name))
        words = list(table)
        assert words == sorted(words)
        assert table and all(zlib.crc32(word) % 3 == index for word in words)
        merged.update(table)
    assert merged == dict(reference.count_words(corpus_files[:1]))


def test_c_and_python_mappers_send_identical_bytes(c_samples, corpus_files):
    with open(corpus_files[1], 'rb') as f:
        data = f.read()
    outputs = {lang: run_program(program_argv(lang, 'mapper', c_samples), stdin=data).stdout
               for lang in ('python', 'glibc', 'musl')}
    assert outputs['python'] and outputs['python'] == outputs['glibc'] == outputs['musl']


@pytest.mark.parametrize('lang', ['python', 'glibc'])
def test_reducer_adds_counts_of_all_inputs(lang, c_samples, tmp_path):
    dev = tmp_path / 'dev'
    (dev / 'in').mkdir(parents=True)
    (dev / 'in' / 'map-1').write_bytes(b"a\t2\nbe\t1\n")
    (dev / 'in' / 'map-2').write_bytes(b"a\t5\ncat's\t3\n")
    (dev / 'in' / 'map-3').write_bytes(b'')
    done = run_program(program_argv(lang, 'reducer', c_samples),
                       env_extra={'ZEROCLOUD_DEV_ROOT': str(dev)})
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"a\t7\nbe\t1\ncat's\t3\n"


@pytest.mark.parametrize('lang', ['python', 'glibc'])
@pytest.mark.parametrize('role', ['reducer', 'merge'])
@pytest.mark.parametrize('record, complaint', [
    (b'word 3\n', b'line 2: expected "word<TAB>count"'),
    (b'word\t3x\n', b'line 2'),
    (b'\t3\n', b'line 2: expected "word<TAB>count"'),
    (b'word\t3', b'line 2: missing final newline'),
])
def test_malformed_record_is_reported_with_its_line(lang, role, record, complaint,
                                                    c_samples):
    done = run_program(program_argv(lang, role, c_samples), stdin=b'ok\t1\n' + record,
                       env_extra={'ZEROCLOUD_INSTANCE': 'reduce-4'})
    assert done.returncode == 1
    assert done.stderr.startswith(b'reduce-4: stdin ')
    assert complaint in done.stderr
    assert b'Traceback' not in done.stderr


@pytest.mark.parametrize('lang', ['python', 'glibc'])
@pytest.mark.parametrize('top', ['0', 'ten', '-3'])
def test_merge_rejects_a_bad_top_argument(lang, top, c_samples):
    done = run_program(program_argv(lang, 'merge', c_samples), args=[top])
    assert done.returncode == 2
    assert b'TOP must be a positive integer' in done.stderr


@pytest.mark.parametrize('lang', ['python', 'glibc'])
def test_merge_prints_top_words_and_writes_the_table(lang, c_samples, tmp_path):
    dev = tmp_path / 'dev'
    (dev / 'in').mkdir(parents=True)
    (dev / 'in' / 'reduce-1').write_bytes(b"b\t3\nd\t9\n")
    (dev / 'in' / 'reduce-2').write_bytes(b"a\t3\nc\t1\n")
    (dev / 'output').write_bytes(b'')
    done = run_program(program_argv(lang, 'merge', c_samples), args=['3'],
                       env_extra={'ZEROCLOUD_DEV_ROOT': str(dev)})
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"d\t9\na\t3\nb\t3\n"
    assert (dev / 'output').read_bytes() == b"a\t3\nb\t3\nc\t1\nd\t9\n"


@pytest.mark.parametrize('lang, cc', [('python', 'gcc'), ('c', 'gcc'), ('c', 'musl-gcc')])
def test_direct_map_reduce_equals_reference(lang, cc, corpus_files, tmp_path):
    expected = reference.count_words(corpus_files)
    result = local.run_wordcount(corpus_files, lang=lang, reducers=2, top=15, direct=True,
                                 timeout=120, work_dir=str(tmp_path / 'work'), cc=cc)
    assert result.table == dict(expected)
    assert result.top == reference.top_words(expected, 15)


def test_direct_map_reduce_with_more_reducers_than_words(tmp_path):
    text = tmp_path / 'one.txt'
    text.write_bytes(b'Hello hello WORLD')
    result = local.run_wordcount([str(text)], reducers=7, top=5, direct=True,
                                 work_dir=str(tmp_path / 'work'))
    assert result.table == {b'hello': 2, b'world': 1}
    assert result.top == [(b'hello', 2), (b'world', 1)]


def test_local_stops_every_instance_when_one_fails(tmp_path, corpus_files):
    fake_sandbox = tmp_path / 'fake-zerocloud-run'
    fake_sandbox.write_text('#!/bin/sh\n[ "$1" = --help ] && exit 0\n'
                            'case "$ZEROCLOUD_INSTANCE" in reduce-2) echo broken >&2; exit 3;; '
                            'esac\nexec sleep 60\n')
    fake_sandbox.chmod(0o755)
    with pytest.raises(local.WordCountError,
                       match='reduce-2 failed: exited with status 3\nbroken'):
        local.run_wordcount(corpus_files, reducers=2, timeout=60, work_dir=str(tmp_path / 'w'),
                            zerocloud=[str(fake_sandbox)])


def test_local_times_out_and_names_the_stuck_instances(tmp_path, corpus_files):
    fake_sandbox = tmp_path / 'fake-zerocloud-run'
    fake_sandbox.write_text('#!/bin/sh\n[ "$1" = --help ] && exit 0\n'
                            'case "$ZEROCLOUD_INSTANCE" in map-*) exit 0;; esac\n'
                            'exec sleep 60\n')
    fake_sandbox.chmod(0o755)
    with pytest.raises(local.WordCountError,
                       match=r'timed out after 1s; still running: merge, reduce-1, reduce-2'):
        local.run_wordcount(corpus_files, reducers=2, timeout=1, work_dir=str(tmp_path / 'w'),
                            zerocloud=[str(fake_sandbox)])


@pytest.mark.parametrize('kwargs, message', [
    ({'lang': 'java'}, 'lang must be'),
    ({'reducers': 0}, 'at least one file, one reducer'),
    ({'files': ['/nonexistent/object']}, 'not a readable file: /nonexistent/object'),
])
def test_local_rejects_bad_arguments_clearly(kwargs, message, corpus_files):
    arguments = dict(files=corpus_files, direct=True)
    arguments.update(kwargs)
    with pytest.raises(local.WordCountError, match=message):
        local.run_wordcount(**arguments)


def test_corpus_is_deterministic_and_sized(tmp_path):
    first = corpus.generate_text(50_000, index=3, seed=1)
    assert first == corpus.generate_text(50_000, index=3, seed=1)
    assert first != corpus.generate_text(50_000, index=4, seed=1)
    assert first != corpus.generate_text(50_000, index=3, seed=2)
    assert 49_000 <= len(first) <= 50_000
    paths = corpus.write_corpus(str(tmp_path), 2, 10_000, seed=1)
    assert [os.path.basename(p) for p in paths] == ['part-0001.txt', 'part-0002.txt']
    counts = reference.count_words(paths)
    assert len(counts) > 100 and b"'" not in b''.join(w[:1] + w[-1:] for w in counts)


def test_every_role_has_a_python_and_a_c_sample():
    for role in ROLES:
        assert os.path.exists(python_program(role))
        assert os.path.exists(os.path.join(os.path.dirname(python_program(role)), '..', 'c',
                                           role + '.c'))


def test_local_command_line_prints_the_top_words(corpus_files, tmp_path):
    table = tmp_path / 'table.tsv'
    done = subprocess.run([sys.executable, os.path.join(WORDCOUNT_DIR, 'local.py'),
                           '--direct', '--top', '4', '--table', str(table)] + corpus_files,
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    expected = reference.count_words(corpus_files)
    assert done.stdout == reference.format_pairs(reference.top_words(expected, 4))
    assert local.read_table(str(table)) == dict(expected)


def test_local_command_line_reports_errors_without_traceback(tmp_path):
    done = subprocess.run([sys.executable, os.path.join(WORDCOUNT_DIR, 'local.py'),
                           '--direct', str(tmp_path / 'missing.txt')],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.startswith('local.py: not a readable file: ')
    assert 'Traceback' not in done.stderr


@pytest.mark.parametrize('size', ['0', 'big', '12X', '-5'])
def test_corpus_command_line_rejects_a_bad_size(size, tmp_path):
    done = subprocess.run([sys.executable, os.path.join(WORDCOUNT_DIR, 'corpus.py'),
                           str(tmp_path), '--size', size],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert 'size must be a positive number of bytes' in done.stderr


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(st.sampled_from([b'a', b'B', b'7', b"'", b' ', b'\n', b'\xc3\xa9', b'-',
                                        b"''", b'xyz']), max_size=60),
       chunk=st.integers(min_value=1, max_value=9))
def test_chunked_tokeniser_equals_the_reference_at_every_boundary(pieces, chunk,
                                                                 tmp_path_factory):
    python_mapper.CHUNK_BYTES = chunk  # a word may now straddle any chunk boundary
    text = b''.join(pieces)
    path = tmp_path_factory.mktemp('tok') / 'text'
    path.write_bytes(text)
    assert python_mapper.count_words(io.BytesIO(text)) == reference.count_words([str(path)])
