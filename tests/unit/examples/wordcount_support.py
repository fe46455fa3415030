"""Helpers for the word-count example tests: load the example modules, build the C samples.

The examples are scripts users copy, not a package, so they are loaded by path.
"""
import importlib.util
import os
import shutil
import subprocess

import pytest

WORDCOUNT_DIR = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'examples',
                             'wordcount')
WORDCOUNT_DIR = os.path.abspath(WORDCOUNT_DIR)
ROLES = ('mapper', 'reducer', 'merge')
COMPILERS = {'glibc': 'gcc', 'musl': 'musl-gcc'}


def load_example(name):
    """Import ``examples/wordcount/<name>.py`` as a module."""
    path = os.path.join(WORDCOUNT_DIR, name + '.py')
    spec = importlib.util.spec_from_file_location('wordcount_' + name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def python_program(role):
    """Path of the Python sample for ``role``."""
    return os.path.join(WORDCOUNT_DIR, 'python', role + '.py')


def build_c_samples(out_dir, libc='glibc'):
    """Compile the three C samples statically (the documented one-line build); ``{role: path}``."""
    compiler = shutil.which(COMPILERS[libc])
    if compiler is None:
        pytest.fail('%s not found: install gcc, libc6-dev and musl-tools (make deps)'
                    % COMPILERS[libc])
    programs = {}
    for role in ROLES:
        target = os.path.join(str(out_dir), '%s-%s' % (role, libc))
        source = os.path.join(WORDCOUNT_DIR, 'c', role + '.c')
        done = subprocess.run([compiler, '-static', '-O2', '-Wall', '-Wextra', '-Werror',
                               '-o', target, source], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.fail('cannot compile %s: %s' % (source, done.stderr))
        programs[role] = target
    return programs


def small_corpus(directory, objects=3, size_bytes=200_000, vocabulary_size=50_000):
    """A deterministic corpus whose per-reducer partitions exceed a pipe buffer (64 KiB)."""
    corpus = load_example('corpus')
    return corpus.write_corpus(str(directory), objects, size_bytes, seed=7,
                               vocabulary_size=vocabulary_size)
