"""Fixtures shared by every test tree.

``c_program(name, libc='glibc')`` compiles ``tests/programs/<name>.c`` statically (``gcc
-static`` or ``musl-gcc -static``) once per source change and returns the executable's path.
A missing compiler fails the test: sandbox tests must run, never skip.
"""
import hashlib
import os
import shutil
import subprocess

import pytest

PROGRAMS_DIR = os.path.join(os.path.dirname(__file__), 'programs')
BUILD_DIR = os.path.join(PROGRAMS_DIR, 'bin')
COMPILERS = {'glibc': 'gcc', 'musl': 'musl-gcc'}


def build_c_program(name, libc='glibc', extra_flags=()):
    """Compile ``tests/programs/<name>.c`` as a static executable and return its path."""
    source = os.path.join(PROGRAMS_DIR, name + '.c')
    compiler = shutil.which(COMPILERS[libc])
    if compiler is None:
        pytest.fail('%s not found: install gcc, libc6-dev and musl-tools (make deps)'
                    % COMPILERS[libc])
    with open(source, 'rb') as f:
        digest = hashlib.sha256(f.read() + repr(extra_flags).encode()).hexdigest()[:12]
    out_dir = os.path.join(BUILD_DIR, libc)
    os.makedirs(out_dir, exist_ok=True)
    target = os.path.join(out_dir, '%s-%s' % (name, digest))
    if not os.path.exists(target):
        tmp = target + '.tmp%d' % os.getpid()
        cmd = [compiler, '-static', '-O2', '-o', tmp, source] + list(extra_flags)
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            pytest.fail('cannot compile %s: %s' % (source, result.stderr))
        os.replace(tmp, target)
    return target


@pytest.fixture(scope='session')
def c_program():
    """Factory fixture: ``c_program('hello', libc='musl')`` -> path of a static executable."""
    return build_c_program
