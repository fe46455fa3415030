"""Fixtures for the sandbox behaviour tests (real programs in the real jail, via the CLI).

``run_sandboxed(program, args=(), **channels_and_limits)`` -> :class:`runner.Result`, with the
channel files kept in the test's ``tmp_path`` (see :func:`runner.run_sandboxed`).
``run_python(code, args=(), **kw)`` runs ``code`` as ``/dev/script`` under the python
system image.  ``sb(name, libc='glibc')`` builds ``tests/programs/<name>.c`` statically.
``secret_file`` is a host file with unguessable content the jail must never see.
"""
import os
import textwrap
import uuid

import pytest

from tests.sandbox import runner


@pytest.fixture
def run_sandboxed(tmp_path):
    """Return ``run_sandboxed(program, args=(), **kw)`` bound to this test's tmp_path."""
    def run(program, args=(), **kwargs):
        return runner.run_sandboxed(program, args, workdir=tmp_path, **kwargs)
    return run


@pytest.fixture
def run_python(tmp_path):
    """Return ``run_python(code, args=(), **kw)``: run dedented ``code`` as /dev/script."""
    def run(code, args=(), **kwargs):
        script = textwrap.dedent(code) if isinstance(code, str) else code
        return runner.run_sandboxed(runner.PYTHON, ('/dev/script',) + tuple(args),
                                    workdir=tmp_path, script=script, **kwargs)
    return run


@pytest.fixture(scope='session')
def sb(c_program):
    """Return ``sb(name, libc='glibc')``: the path of a static build of tests/programs/name.c."""
    def build(name, libc='glibc'):
        return c_program(name, libc=libc)
    return build


@pytest.fixture
def secret_file(tmp_path):
    """A host file (outside every channel) holding a random secret; yields (path, bytes)."""
    secret = ('zc-secret-%s' % uuid.uuid4().hex).encode()
    path = tmp_path / 'host-secret.txt'
    path.write_bytes(secret + b'\n')
    os.chmod(path, 0o644)
    return str(path), secret


@pytest.fixture
def token():
    """A unique string to find a test's processes and files by."""
    return 'zc-token-%s' % uuid.uuid4().hex
