"""Pre-started Python: warm jails whose interpreter is already running, imports done.

A session of the ``python`` system image normally starts its interpreter after the plan
arrived (~40 ms for CPython 3.11 with 20 stdlib imports, all on the session's path).  A
pre-started jail does that before: the :class:`~zerocloud.sandbox.warm.WarmPool` keeps
``pool_size`` of them (made by the jail factory, besides the ordinary warm jails), each
running the python image's interpreter on a small stage (:mod:`zerocloud.sandbox.stage`)
that has imported the configured stdlib modules and waits for its one session.

Options (:class:`PrestartOptions`): ``pool_size`` (the object server's
``zerovm_python_prestart``, 0 disables) and ``imports`` (``zerovm_python_preimports``, a
comma list of stdlib module names; default :data:`DEFAULT_IMPORTS`).

How a pre-started jail is made (:func:`enter`, in the process the factory cloned into fresh
user, mount, pid, net, ipc and uts namespaces, as for every warm jail):

1. the warm jail's own steps: only its control socket and sync pipes (3, 4, 5), uid/gid
   maps, host name, an empty tmpfs root (``pivot_root``) with the host's tree at
   ``/.old-root``, default signal dispositions;
2. the python image is bound exactly as a session's plan binds it (read-only at its host
   paths, the system library directories, ``site-packages`` under an empty tmpfs,
   symlinks such as ``/lib``), so the interpreter starts in the same view as a normal
   session (same ``sys.prefix``, ``sys.path``, locale: no ``C.UTF-8`` locale files, hence
   UTF-8 mode without locale coercion);
3. fork of the **helper** (pid 2, keeping the control socket and the sync pipe), which will
   make the session's mounts (:func:`_helper`);
4. ``execve`` of the interpreter with the session's own flags (``-s -S -P``) and environment
   (``PYTHONHASHSEED=0``), on the stage code (:data:`STAGE_CODE`), fds 0-2 empty pipes,
   fd 3 its socket to the helper, 5 the status pipe.

The stage then imports the configured modules, then (from ``/.old-root``) its own small
module and waits; :mod:`zerocloud.sandbox.stage` says what happens when the plan arrives.  Which sessions use one (:func:`eligible`): the python image's interpreter run on
a script (``python [-s -S -P] SCRIPT ARGS``, no other interpreter option), no image but
the python image (a normal start binds the python image over any other), ``argv[0]``
without a ``/``, and an environment without any variable the interpreter, the C library
or a commonly imported module reads before the script's first line (:data:`START_ENV`,
:data:`START_ENV_PREFIXES`: ``PATH`` decides ``sys.executable``, ``LANG``/``LC_*`` the
locale and UTF-8 mode, ``TZ`` ``time.tzname``, ``LD_*``/``GLIBC_TUNABLES``/``MALLOC_*`` the
loader and allocator, ``OPENSSL_*`` OpenSSL's start, which ``import hashlib`` makes); any
other session starts its interpreter the normal way.  A module added to the import list
that reads another variable when imported would see the stage's environment
(``PYTHONHASHSEED=0`` only): keep such modules out of the list.

Security review: see :mod:`zerocloud.sandbox.stage`.
"""
import contextlib
import dataclasses
import marshal
import os
import re
import signal
import socket
import sys
import sysconfig
from importlib import machinery

from zerocloud.sandbox import binds as binds_module
from zerocloud.sandbox import fdpass, images, jail, linux, lockdown

DEFAULT_IMPORTS = ('os', 're', 'json', 'collections', 'itertools', 'functools', 'math',
                   'string', 'struct', 'datetime', 'hashlib', 'base64', 'random', 'heapq',
                   'bisect', 'csv', 'io', 'textwrap', 'statistics', 'time')
START_ENV = ('PATH', 'LANG', 'TZ', 'GLIBC_TUNABLES')
START_ENV_PREFIXES = ('LC_', 'LD_', 'MALLOC_', 'OPENSSL_', 'PYTHON')
MODULE_NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$')
STAGE_ARGV0 = 'python'
HELPER_NAME = 'zc-helper'
IMAGE_ATTRIBUTES = (linux.MOUNT_ATTR_RDONLY | linux.MOUNT_ATTR_NOSUID |
                    linux.MOUNT_ATTR_NODEV)         # binds.image_binds of the python image
STAGE_ENV = ('PYTHONHASHSEED=0',)
# Runs as ``python -s -S -P -c STAGE_CODE PACKAGE_DIR IMPORTS HELPER_PID`` in the jail: the
# imports first (sys.modules and the importer cache then are the baseline the session
# keeps), the jail code last.
STAGE_CODE = '\n'.join((
    'import sys',
    'for name in sys.argv[2].split(","):',
    '    if name:',
    '        __import__(name)',
    'kept = frozenset(sys.modules), frozenset(sys.path_importer_cache)',
    'sys.dont_write_bytecode = True',
    'sys.path.insert(0, sys.argv[1])',
    'from zerocloud.sandbox import stage',
    'del sys.path[0]',
    'stage.serve(kept)'))


@dataclasses.dataclass(frozen=True)
class PrestartOptions:
    """How many pre-started python jails to keep, and what their interpreter imports."""
    pool_size: int = 0
    imports: tuple = DEFAULT_IMPORTS

    @classmethod
    def parse(cls, pool_size, imports=None):
        """From option values (``zerovm_python_prestart``, ``zerovm_python_preimports``:
        a count and a comma list); raises ValueError naming the option."""
        try:
            size = int(pool_size)
        except (TypeError, ValueError):
            raise ValueError('zerovm_python_prestart must be a count, got %r' % (pool_size,))
        if not 0 <= size <= 64:
            raise ValueError('zerovm_python_prestart must be 0..64, got %d' % size)
        if imports is None:
            names = DEFAULT_IMPORTS
        else:
            names = tuple(n.strip() for n in str(imports).split(',') if n.strip())
        bad = [n for n in names if not MODULE_NAME.match(n)]
        if bad:
            raise ValueError('zerovm_python_preimports: %r is not a module name' % bad[0])
        missing = [n for n in names if not _in_the_python_image(n.split('.')[0])]
        if missing:
            raise ValueError('zerovm_python_preimports: %r is not a module of the python '
                             'image (its standard library)' % missing[0])
        return cls(size, tuple(dict.fromkeys(names)))


def _in_the_python_image(name):
    """True when top-level module ``name`` is built in, frozen or in the standard library
    of the python image (whose ``site-packages`` the jail hides)."""
    if name in sys.builtin_module_names or machinery.FrozenImporter.find_spec(name):
        return True
    stdlib = sysconfig.get_paths()['stdlib']
    return machinery.PathFinder.find_spec(
        name, [stdlib, os.path.join(stdlib, 'lib-dynload')]) is not None


def eligible(plan, program):
    """True when the session of ``plan`` (running ``program``, an images.ResolvedProgram)
    can use a pre-started interpreter (see the module docstring)."""
    if program.policy != 'python' or program.host_path != images.python_interpreter():
        return False
    flags = len(program.interpreter_args)
    argv = plan.argv
    if len(argv) < flags + 2 or tuple(argv[1:flags + 1]) != program.interpreter_args:
        return False
    if '/' in argv[0] or argv[flags + 1].startswith('-') or not argv[flags + 1]:
        return False
    layout = {mount.jail_path for mount in images.python_image_layout()[0]}
    if any(not b.target.startswith('/dev/') and b.target not in layout for b in plan.binds):
        return False                # another image: the python image must be bound last
    for item in plan.env:
        name = item.split('=', 1)[0]
        if item in STAGE_ENV:
            continue
        if name in START_ENV or name.startswith(START_ENV_PREFIXES):
            return False
    return True


def enter(sys, control_fd, from_parent, to_parent, outside_uid, outside_gid, imports):
    """The cloned child of a pre-started jail: steps 1-4 of the module docstring, then the
    interpreter runs the stage.  Never returns; failures go to the status pipe (126)."""
    status_fd = to_parent
    try:
        sys.set_name(jail.WARM_NAME)
        sys.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        parked = [jail._park(fd) for fd in (control_fd, from_parent, to_parent)]
        for number, fd in zip((3, 4, 5), parked):
            jail._place(fd, number)
        status_fd = 5
        sys.close_range(6)
        fdpass.raise_open_files_limit()
        interpreter = images.python_interpreter()
        package_dir = os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.realpath(__file__))))
        image = _image_plan()                    # opened here: the host's view
        jail.become_root_inside(outside_uid, outside_gid)
        sys.sethostname(jail.HOSTNAME)
        jail.stage_root(sys)
        jail._reset_signals()
        bind_image(sys, image)
        helper = _start_helper(sys)
        for number in (0, 1, 2):
            os.dup2(jail._empty_pipe_end(readable=number == 0), number)
        for number in (3, 5):
            os.set_inheritable(number, True)
        argv = ((STAGE_ARGV0,) + images.PYTHON_ARGS +
                ('-c', STAGE_CODE, '/' + jail.OLD_ROOT + package_dir, ','.join(imports),
                 str(helper)))
        os.execve(interpreter, argv, dict(e.split('=', 1) for e in STAGE_ENV))
    except BaseException as exc:  # report anything, never fall back into the caller
        jail._fail(status_fd, exc)
    os._exit(jail.EXIT_JAIL_FAILED)


def _start_helper(sys):
    """Fork the helper (step 3); leave our end of its socket at fd 3 (the control socket and
    the sync pipe are the helper's alone); its pid."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    helper = os.fork()
    if helper == 0:  # pragma: no cover - the helper
        ours.close()
        _helper(sys, theirs)
    theirs.close()
    os.close(4)
    os.dup2(ours.fileno(), 3, inheritable=False)
    ours.close()
    return helper


def _helper(sys, conn):  # pragma: no cover - runs in the helper process
    """The helper: the session's set-up in the jail, for the interpreter; never returns."""
    try:
        sys.set_name(HELPER_NAME)
        sys.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        plan = _without_prebound(jail._receive_plan(3))
        jail.populate_root(plan, sys)
        jail.await_fifo_ends(plan)
        jail.open_std_channels(plan)
        body = marshal.dumps((plan.argv, plan.env, plan.rlimits, plan.bpf))
        socket.send_fds(conn, [len(body).to_bytes(lockdown.LENGTH_BYTES, 'big')], [0, 1, 2])
        conn.sendall(body)
        conn.close()
    except BaseException as exc:  # noqa: BLE001
        lockdown.fail(5, exc)
    os._exit(0)


def _without_prebound(plan):
    """The plan without the binds and symlinks made before the session: a directory bind
    whose target already shows that very directory with the python image's attributes, a
    symlink that already exists with the same text."""
    kept = []
    for bind in plan.binds:
        try:
            there = bind.directory and bind.attributes == IMAGE_ATTRIBUTES and \
                jail.same_file(os.fstat(bind.fd), os.stat(bind.target))
        except OSError:
            there = False
        if not there:
            kept.append(bind)
    links = tuple((path, text) for path, text in plan.symlinks
                  if not (os.path.islink(path) and os.readlink(path) == text))
    return dataclasses.replace(plan, binds=tuple(kept), symlinks=links)


def _image_plan():
    """``(binds, symlinks, masks)`` of the python image, as a session's plan has them."""
    mounts, symlinks = images.python_image_layout()
    keep = contextlib.ExitStack()           # the O_PATH fds stay open until the exec
    return (tuple(binds_module.image_binds(mounts, keep)), symlinks,
            images.python_image_masks())


def bind_image(sys, image):
    """Bind the python image (``(binds, symlinks, masks)``) in the staged root, leaving the
    old root in place (the stage's helper still needs it for the session's binds)."""
    binds, symlinks, masks = image
    old_root = os.open('/' + jail.OLD_ROOT, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for bind in binds:
            jail._bind(sys, old_root, bind)
    finally:
        os.close(old_root)
    for path in masks:
        sys.mount('tmpfs', path, 'tmpfs',
                  jail.SAFE_FLAGS | linux.MS_NOEXEC | linux.MS_RDONLY, 'size=4k,mode=0555')
    for path, text in symlinks:
        jail._make_parents(path)
        os.symlink(text, path)
