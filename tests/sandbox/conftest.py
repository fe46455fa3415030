"""Fixtures for the sandbox behaviour tests (real programs in the real jail, via the CLI).

``run_sandboxed(program, args=(), **channels_and_limits)`` -> :class:`runner.Result`, with the
channel files kept in the test's ``tmp_path`` (see :func:`runner.run_sandboxed`).
``run_python(code, args=(), **kw)`` runs ``code`` as ``/dev/script`` under the python
system image.  ``sb(name, libc='glibc')`` builds ``tests/programs/<name>.c`` statically.
``secret_file`` is a host file with unguessable content the jail must never see.
``decoy`` is a host process the jail must not be able to touch.
"""
import os
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from tests.sandbox import runner


@pytest.fixture
def run_sandboxed(tmp_path):
    """Return ``run_sandboxed(program, args=(), **kw)`` bound to this test's tmp_path."""
    return runner.sandboxed_in(tmp_path)


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


DECOY_CODE = """
import signal, sys, time
def hit(*_):
    with open(sys.argv[1], 'w') as f:
        f.write('signal received')
signal.signal(signal.SIGURG, hit)
open(sys.argv[1] + '.ready', 'w').close()
while True:
    time.sleep(300)
"""


@pytest.fixture
def decoy(tmp_path):
    """A host process that records a SIGURG in ``decoy.marker`` (a file it creates).

    Tests that signal "every process" use SIGURG (ignored by default), so even a broken jail
    harms nobody else on the machine; ``decoy.hit()`` tells whether the signal arrived.
    """
    marker = tmp_path / 'decoy-signalled'
    process = subprocess.Popen([sys.executable, '-c', DECOY_CODE, str(marker)])
    ready = tmp_path / 'decoy-signalled.ready'
    for _ in range(3000):
        if ready.exists() or process.poll() is not None:
            break
        time.sleep(0.01)
    assert ready.exists(), 'decoy did not start'
    process.marker = marker
    process.hit = marker.exists
    yield process
    process.kill()
    process.wait()
