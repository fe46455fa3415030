"""The compiled jail launcher: the jail factory and the last stage of a warm jail, in C.

Why: a warm jail cloned by a Python process is a Python process.  Decoding its plan,
binding and the last restrictions in Python, then ``execve`` out of a Python-sized address
space cost ~1.5 ms on a session's path (measured: plan to listener ~0.9 ms, exec and
tear-down of the interpreter ~0.5 ms), and cloning and setting up each warm jail from
Python ~3 ms of CPU (the clone copies the factory's page tables; every page the jail
touches is then copied).  With the launcher, one small static program (``zc-launcher``,
~70 KB) does both parts:

- **the factory** (``zc-launcher factory <socket fd> <supervisor pid>``, ``jail_factory.c``;
  protocol in :mod:`zerocloud.sandbox.factory`): the supervisor starts it once; it clones
  each warm jail into its namespaces (``clone3``, ``CLONE_PARENT``: the supervisor is the
  jail's parent and reaps it), and the clone places its fds on 3-5, closes every other
  one, maps the jail's root to the supervisor's uid and gid, and goes on in the launcher's
  code below, without an exec.  A process without a pool (``zerocloud run``, a supervisor
  whose factory died) starts one for a single jail (:func:`~zerocloud.sandbox.factory.one_jail`).
- **the warm jail** (``launcher.c``): the rest of the warm set-up (host name, empty
  pivoted root, signal dispositions, as :func:`~zerocloud.sandbox.jail.enter_warm`), then
  it waits for the plan and does the session's steps (the same, in the same order, as
  :func:`~zerocloud.sandbox.jail.populate_root` and ``_launch_program``; ``launcher.c``'s
  header lists them and the plan's format).  A waiting jail holds ~60 KB.

Measured per session on the 2-vCPU VM (a trivial job through the proxy, CPU of the
sandbox's processes): factory 2.0 -> 0.9 ms, jails 2.9 -> 1.2 ms, against a Python
factory whose jails executed the launcher.

Where it comes from: ``python -m zerocloud.sandbox.launcher`` compiles ``launcher.c`` and
``jail_factory.c`` (``musl-gcc -static`` when ``musl-tools`` is installed, else ``cc
-static``: ``gcc`` and ``libc6-dev`` on Debian; ``$CC`` chooses another) into this
package's directory as ``zc-launcher-<hash of the sources>``; ``make venv`` (so the
README's commands) runs it.  A supervisor that finds no binary for the current sources
tries to build it once at start; when it cannot (no compiler, a read-only install) or the
binary does not run (a ``noexec`` mount), its jails are cloned and set up by Python (the
Python stage, equally strict and slower), and the sandbox's log line says so and why
(``jail launcher: python (...)``).  Pre-started python jails always come from the Python
factory (:mod:`zerocloud.sandbox.prestart`).

Security review: the factory runs as the supervisor's user with only its socket (fd 3)
and the standard fds; it dies with the supervisor, reads one byte per jail (``W`` or
``J``; anything else stops it) and does nothing else but clone jails into fresh
namespaces, which any user may do.  Run by hand it refuses unless its parent is the pid
it is given and its fd is a socket.  The launcher refuses every other use ("not a
command"): the warm jail's code runs only in a clone that is pid 1 of its new pid
namespace, so it never mounts or pivots in the host's namespaces.  A jail holds nothing
but its control socket and sync pipes (and the standard fds, replaced by its channels)
while it waits.  It trusts its plan exactly as the Python stage does (the supervisor wrote
it) and still checks every bind's path against the descriptor the supervisor sent
(``openat2`` without symlinks beneath the old root, then device and inode).  It parses the
plan defensively anyway (lengths bounded by the message, counts checked, no NUL in
strings, fd indexes within what arrived).  The program's kernel state at ``execveat`` is
the Python stage's: same mounts, descriptors 0-2 (and 3-5 close-on-exec), rlimits, signal
mask, no capabilities, ``no_new_privs``, the same seccomp filter whose listener the
supervisor takes before it lets exactly that exec through.  The escape suite
(``tests/sandbox``, through ``zerocloud run``: a factory started for each jail) and the
supervisor's tests (its pool from the factory) run through the launcher, and
``tests/sandbox/test_launcher.py`` runs sessions through both stages.
"""
import hashlib
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = tuple(os.path.join(HERE, name) for name in ('launcher.c', 'jail_factory.c'))
HEADER = os.path.join(HERE, 'launcher.h')
VERSION_ANSWER = b'zc-launcher 2\n'    # what ``zc-launcher --version`` prints
COMPILE_SECONDS = 120
# musl first: a static glibc program's start costs ~0.3 ms more on these VMs (its CPUID
# probes exit to the hypervisor), paid by every warm jail as it is made
COMPILERS = ('musl-gcc', 'cc', 'gcc')
MAGIC = b'ZCL1'
U64_MASK = (1 << 64) - 1


class Launcher:
    """Which jail stage sessions use: ``path`` of the compiled launcher, or None for the
    Python stage; ``description`` says which (for the sandbox's log line)."""

    def __init__(self, path, description):
        self.path = path
        self.description = description


def binary_path():
    """Where the launcher for the current sources lives (built or not)."""
    digest = hashlib.sha256()
    for path in SOURCES + (HEADER,):
        with open(path, 'rb') as source:
            digest.update(source.read())
    return os.path.join(HERE, 'zc-launcher-' + digest.hexdigest()[:12])


def build():
    """Compile the launcher (atomically: a temporary file renamed) with ``$CC``, else the
    first of :data:`COMPILERS` found; return its path.

    :raises RuntimeError: no compiler, or the compilation failed (its message included).
    """
    target = binary_path()
    compiler = os.environ.get('CC') or next(
        filter(None, map(shutil.which, COMPILERS)), None)
    if not compiler:
        raise RuntimeError('no C compiler (install gcc and libc6-dev)')
    fd, temporary = tempfile.mkstemp(prefix='.zc-launcher-', dir=os.path.dirname(target))
    os.close(fd)
    try:
        done = subprocess.run([compiler, '-static', '-O2', '-o', temporary, *SOURCES],
                              capture_output=True, timeout=COMPILE_SECONDS)
        if done.returncode != 0:
            raise RuntimeError('%s failed: %s' % (compiler, done.stderr.decode(
                errors='replace').strip()[-500:]))
        os.chmod(temporary, 0o755)
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    _remove_stale(target)
    return target


def _remove_stale(current):
    """Remove the launchers built from earlier versions of the source."""
    directory = os.path.dirname(current)
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if name.startswith('zc-launcher-') and path != current:
            try:
                os.unlink(path)
            except OSError:
                pass


def locate(build_missing=True):
    """The :class:`Launcher` this process's jails use (see the module docstring)."""
    path = binary_path()
    try:
        if not os.path.exists(path) and build_missing:
            build()
        if not os.path.exists(path):
            raise RuntimeError('%s is not built' % path)
        answer = subprocess.run([path, '--version'], capture_output=True, timeout=10)
        if answer.stdout != VERSION_ANSWER:
            raise RuntimeError('%s does not run (status %s)' % (path, answer.returncode))
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        return Launcher(None, 'jail launcher: python (the compiled one is unavailable: %s; '
                              'build it with: python -m zerocloud.sandbox.launcher)' % exc)
    return Launcher(path, 'jail launcher: compiled')


def plan_fds(plan):
    """The parent's fd numbers a JailPlan names, in the order they are sent."""
    return sorted({plan.exec_fd} | {b.fd for b in plan.binds} |
                  {orig for _n, _p, _f, orig in plan.std_opens if orig is not None})


def encode_plan(plan, numbers):
    """``plan`` (a :class:`~zerocloud.sandbox.jail.JailPlan`) in the launcher's format
    (``launcher.c``'s header); ``numbers``: :func:`plan_fds`, in sending order."""
    index = {number: position for position, number in enumerate(numbers)}
    out = [MAGIC, _u32(len(numbers)), _u32(index[plan.exec_fd]), _u32(len(plan.binds))]
    for bind in plan.binds:
        out += [_u32(index[bind.fd]), _u32(int(bind.directory)), _u64(bind.attributes),
                _text(bind.source), _text(bind.target)]
    out += _texts(plan.masks) + _texts(plan.fifos) + [_u32(len(plan.symlinks))]
    for path, link in plan.symlinks:
        out += [_text(path), _text(link)]
    out.append(_u32(len(plan.std_opens)))
    for number, path, flags, original in plan.std_opens:
        out += [_u32(number), _u32(flags), _u32(U64_MASK if original is None
                                                 else index[original]), _text(path)]
    out += _texts(plan.argv) + _texts(plan.env) + [_u32(len(plan.rlimits))]
    for which, soft, hard in plan.rlimits:
        out += [_u32(which), _u64(soft), _u64(hard)]
    out.append(_text(plan.bpf))
    return b''.join(out)


def _u32(value):
    return struct.pack('<I', value & 0xffffffff)


def _u64(value):
    return struct.pack('<Q', value & U64_MASK)


def _text(value):
    data = value if isinstance(value, bytes) else os.fsencode(value)
    return _u32(len(data)) + data


def _texts(values):
    return [_u32(len(values))] + [_text(value) for value in values]


def main():
    """``python -m zerocloud.sandbox.launcher``: build the launcher unless it is built
    already; print its path."""
    try:
        path = binary_path()
        print(path if os.path.exists(path) else build())
    except (OSError, RuntimeError) as exc:
        print('zerocloud: cannot build the jail launcher: %s' % exc, file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
