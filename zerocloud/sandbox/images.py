"""Images: read-only trees shown in the jail, the built-in ``python`` system image, programs.

An image is a host directory (or a tar archive, unpacked once into a temporary directory by
:func:`materialize`) bound read-only at its mount point; at ``/`` each top-level entry is
bound separately so that ``/dev`` stays the session's own.

The ``python`` system image is the host's CPython: its installation prefix and the system
library directories it links against, bound read-only at their host paths (so the
interpreter finds its libraries and standard library unchanged).  Its programs are
``file://python:python`` (also ``python3``, ``bin/python``, ``bin/python3``).
"""
import dataclasses
import functools
import os
import sys
import tarfile
import tempfile

PYTHON_IMAGE = 'python'
PYTHON_NAMES = ('python', 'python3', 'bin/python', 'bin/python3')
PYTHON_ARGS = ('-s', '-S', '-P')   # no user site, no site module, no script dir on sys.path
SYSTEM_LIBRARY_DIRS = ('/lib/x86_64-linux-gnu', '/lib64')


class ImageError(ValueError):
    """An image or program reference cannot be used; the message says which and why."""


@dataclasses.dataclass(frozen=True)
class Mount:
    """One host path to bind in the jail."""
    host_path: str
    jail_path: str
    directory: bool
    executable: bool = True


@dataclasses.dataclass(frozen=True)
class ResolvedProgram:
    """Where the program's file is on the host and how to run it."""
    host_path: str
    policy: str                 # 'static' or 'python'
    trusted: bool
    interpreter_args: tuple = ()


def python_interpreter():
    """Host path of the CPython binary that the python image runs."""
    prefix = os.path.realpath(sys.base_prefix)
    return os.path.join(prefix, 'bin', 'python%d.%d' % sys.version_info[:2])


@functools.lru_cache(maxsize=1)
def python_image_masks():
    """Directories of the python image hidden under an empty tmpfs (host site-packages).
    Found once per process, as :func:`python_image_layout`."""
    prefix = os.path.realpath(sys.base_prefix)
    path = os.path.join(prefix, 'lib', 'python%d.%d' % sys.version_info[:2], 'site-packages')
    return (path,) if os.path.isdir(path) else ()


@functools.lru_cache(maxsize=1)
def python_image_layout():
    """``(mounts, symlinks)`` that show the host CPython read-only at its own paths.

    Found once per process (~0.1 ms of path look-ups per python session otherwise): the
    host's CPython and library directories do not move under a running server, and each
    session's binds still open every path and check it against its descriptor."""
    mounts = [Mount(os.path.realpath(sys.base_prefix), os.path.realpath(sys.base_prefix), True)]
    symlinks = []
    for path in SYSTEM_LIBRARY_DIRS:
        real = os.path.realpath(path)
        if os.path.isdir(real) and all(m.jail_path != real for m in mounts):
            mounts.append(Mount(real, real, True))
        symlinks.extend(_symlinks_on_the_way(path))
    return tuple(mounts), tuple(dict.fromkeys(symlinks))


def _symlinks_on_the_way(path):
    """Symlinks among the components of ``path`` (e.g. ``/lib -> usr/lib``)."""
    found = []
    current = '/'
    for part in path.strip('/').split('/'):
        current = os.path.join(current, part)
        if os.path.islink(current):
            found.append((current, os.readlink(current)))
            current = os.path.realpath(current)
    return found


def image_layout(image_dir, mount_point):
    """Mounts and symlinks showing ``image_dir`` at ``mount_point`` (at ``/``: per entry)."""
    if mount_point != '/':
        return (Mount(image_dir, mount_point, True),), ()
    mounts, symlinks = [], []
    for entry in sorted(os.listdir(image_dir)):
        if entry == 'dev':
            continue
        host = os.path.join(image_dir, entry)
        if os.path.islink(host):
            symlinks.append(('/' + entry, os.readlink(host)))
        elif os.path.isdir(host) or os.path.isfile(host):
            mounts.append(Mount(host, '/' + entry, os.path.isdir(host)))
    return tuple(mounts), tuple(symlinks)


def materialize(host_path, workdir):
    """Return a directory for an image: the directory itself, or a tar unpacked in workdir."""
    if os.path.isdir(host_path):
        return os.path.realpath(host_path)
    if not os.path.isfile(host_path) or not tarfile.is_tarfile(host_path):
        raise ImageError('image %s is neither a directory nor a tar archive' % host_path)
    target = tempfile.mkdtemp(prefix='image-', dir=workdir)
    try:
        with tarfile.open(host_path) as archive:
            archive.extractall(target, filter='data')
    except (tarfile.TarError, OSError) as exc:
        raise ImageError('image %s cannot be unpacked safely: %s' % (host_path, exc)) from exc
    return target


def resolve_program(spec, image_dirs):
    """Find the program of ``spec``: a :class:`ResolvedProgram`.

    ``image_dirs`` maps image names to host directories (system images included).
    """
    reference = spec.image_program
    if reference is None:
        if not os.path.isfile(spec.program):
            raise ImageError('program %s does not exist or is not a file' % spec.program)
        return ResolvedProgram(spec.program, 'static', spec.trusted)
    image, path = reference
    if image == PYTHON_IMAGE and image not in image_dirs:
        if path.strip('/') not in PYTHON_NAMES:
            raise ImageError('the python image has no program %r (use python)' % path)
        return ResolvedProgram(python_interpreter(), 'python', True, PYTHON_ARGS)
    if image not in image_dirs:
        raise ImageError('program %s names an unknown image %r' % (spec.program, image))
    root = image_dirs[image]
    host = os.path.realpath(os.path.join(root, path.lstrip('/')))
    if not host.startswith(root.rstrip('/') + '/') or not os.path.isfile(host):
        raise ImageError('image %s has no program %s' % (image, path))
    return ResolvedProgram(host, 'static', spec.trusted)
