"""The stage of a pre-started python jail: runs inside the jail's interpreter, one session.

Started by :func:`zerocloud.sandbox.prestart.enter` as ``python -s -S -P -c STAGE_CODE``
(pid 1 of the jail's namespaces, root of its user namespace with every capability there,
the host's tree at ``/.old-root``), after it forked the jail's **helper** (pid 2: a copy
of the small process the factory cloned, holding the jail code, the control socket and
the sync pipe).  The stage code imports the configured modules, notes ``sys.modules`` and
the importer cache (the baseline a session keeps), imports this module from
``/.old-root`` and calls :func:`serve`, which says ``P`` on the status pipe (the pool gives
a session only to a jail that said so) and waits for the helper's message.  Then:

1. the helper receives the session's plan on the control socket (as any warm jail),
   binds the channels and images that are not bound yet (the python image is), detaches
   the old root, makes every mount private, masks, FIFOs, symlinks, remounts the root
   read-only (:func:`zerocloud.sandbox.jail.populate_root`), lets the supervisor open the
   FIFO ends, opens the standard channels, and sends them (fds) with argv, environment,
   rlimits and the seccomp filter to the interpreter, then exits;
2. the interpreter reaps the helper (its CPU time becomes the session's), checks that
   ``/.old-root`` is gone, puts the channels on fds 0-2, lowers the rlimits, blocks
   SIGXFSZ, drops every capability, sets ``no_new_privs``, closes every other fd, resets
   the interpreter's state to a normal start's (:func:`reset_interpreter`), loads the
   python seccomp filter with a user-notification listener, tells the supervisor its
   number and calls ``execveat`` on fd 3, an ``O_PATH`` descriptor of the root that no
   exec can run: that is the launch call the supervisor waits for, so its answer
   (``EACCES`` once it let the call through) proves the supervisor holds the listener;
   the stage then closes its own copy and runs the script as ``__main__``.

What the program sees, compared with a normal start of ``python -s -S -P SCRIPT ARGS``
(``tests/sandbox/test_python_prestart.py`` compares them): the same ``sys.argv``,
``sys.orig_argv``, ``os.environ`` (in order), ``sys.flags``, ``sys.path``,
``sys.executable``, ``__main__`` globals, standard streams (encoding, errors, buffering,
seekability) and ``sys.modules`` keys (a normal start's plus the configured imports and
what they import); the same pid (1), cwd (``/``), descriptors, mounts, rlimits, signal
mask and dispositions.  Differences: the configured modules are already imported (their
import-time state, e.g. ``random``'s seed, was made before the session, in this process),
the script's module frame has callers (the stage's frames: ``sys._getframe(1)`` is not
None), and the objects made before the session (the interpreter's and the imports') are
frozen (``gc.freeze()``: the collector never scans them again, which saves ~2 ms of the
interpreter's exit; ``gc.get_freeze_count()`` counts them, ``gc.get_objects()`` omits
them).  Accounting: the pre-start is the session's process, so the CPU time and the reads
of the interpreter's start, of every configured import and of the helper are in the
report (``user``/``sys``, ``reads``/``rbytes``) and count against ``RLIMIT_CPU``, as a
normal start's own start-up does, but also for the imports the script did not ask for:
measured for the 20 default imports, ~60 ms of CPU and ~1.6 MB of reads (166 calls),
against ~15 ms and 27 KB for a normal start of an empty script.  Its memory counts against
``RLIMIT_AS`` as a normal start's interpreter does.

Security review (what the pre-start changes, and why it is safe):

- *The interpreter starts before the session and with privileges.*  Until the plan
  arrives it runs only trusted code (the stdlib imports, this module) as root of the
  jail's own user namespace, exactly like an ordinary warm jail, which is a Python process
  too; nothing of the session is in it yet.  The user's code runs only after the
  interpreter dropped every capability (effective, permitted, inheritable; with
  ``no_new_privs`` an exec could not regain any), set ``no_new_privs``, lowered the
  rlimits, closed every descriptor but 0-2 and loaded the same python seccomp filter
  (whose listener the supervisor holds: the stage waits for the supervisor's answer to
  the launch call before it closes its own copy, so the script never holds a listener).
  Kernel state at the script's first line is the state a normal session has after its
  ``execveat``.
- *The host's tree.*  The interpreter never uses ``/.old-root`` after importing this
  module from it; the helper detaches it (the interpreter and the helper share one mount
  namespace) before the interpreter goes on, and the interpreter refuses to run the
  script if ``/.old-root`` is still there.  The interpreter was executed from the python
  image bound at its host paths, the same files a normal session executes.
- *The plan.*  Only the helper ever holds the plan (host paths of the channels and images,
  the outside uid), in its own address space (forked before the interpreter was
  executed: the interpreter never shared a page with it); the interpreter receives argv,
  environment, rlimits, the filter and three descriptors, so the script cannot find host
  paths in its own memory.  The helper exits before the script starts (pid 1 reaps it:
  no other process in the namespace).
- *One session per interpreter.*  A pre-started jail serves exactly one session and ends
  with it (pid 1 exits: the namespace dies): no state crosses sessions.
- *Left-overs in memory.*  The interpreter's heap holds the stage's code and objects
  (this module, :mod:`.lockdown`, :mod:`.linux` with ``ctypes``): public code, no
  secrets, no descriptors; removed from ``sys.modules`` (``import`` loads fresh copies),
  reachable only through
  the frames below the script's.  Nothing there grants anything the script could not do
  itself: every action still goes through the same seccomp filter and namespaces.
- *What is not used.*  The policy is unchanged (no system call was added for the
  pre-start); ``setrlimit`` happens before the filter is loaded, never inside it.
"""
import errno
import gc
import marshal
import os
import signal
import socket
import sys

from zerocloud.sandbox import linux, lockdown
from zerocloud.sandbox.lockdown import LENGTH_BYTES

HELPER_FD = 3             # the socket to the helper (see zerocloud.sandbox.prestart)
STATUS_FD = 5             # the status pipe (see zerocloud.sandbox.warm)
LAUNCH_FD = 3             # the supervisor lets exactly one execveat on fd 3 through
PYTHON_ARGS = ('-s', '-S', '-P')     # zerocloud.sandbox.images.PYTHON_ARGS


def serve(kept):
    """Steps 1-3 of the module docstring, then run the session's script; ``kept``: the
    module names and the importer cache's paths the session keeps (a frozenset each)."""
    calls = linux.Syscalls()
    try:
        calls.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        helper = int(sys.argv[3])
        gc.freeze()     # the baseline's objects: never scanned again (~2 ms less at exit)
        os.write(STATUS_FD, b'P')       # ready: the pool may give this jail a session
        argv, env, rlimits, bpf = _take_session(socket.socket(fileno=HELPER_FD), helper)
        lockdown.restrict(rlimits, calls)
        _keep_only_launch_and_status(calls)
        path = reset_interpreter(kept, argv, env)
        _launch(calls, bpf)
    except BaseException as exc:  # noqa: BLE001 - report anything, run nothing
        lockdown.fail(STATUS_FD, exc)
    del calls, kept, argv, env, rlimits, bpf
    _run_script(path, sys.orig_argv[0])


def _take_session(conn, helper):
    """Wait for the helper's message; reap it; the channels onto 0-2; ``(argv, env,
    rlimits, bpf)``."""
    with conn:
        head, fds, _flags, _addr = socket.recv_fds(conn, LENGTH_BYTES, 3)
        try:
            if len(head) != LENGTH_BYTES or len(fds) != 3:
                raise RuntimeError('the jail helper failed before the session started')
            size, body = int.from_bytes(head, 'big'), bytearray()
            while len(body) < size:
                chunk = conn.recv(size - len(body))
                if not chunk:
                    raise RuntimeError('the jail helper stopped mid-message')
                body += chunk
            for number, fd in enumerate(fds):
                os.dup2(fd, number)
        finally:
            for fd in fds:
                os.close(fd)
    _pid, status = os.waitpid(helper, 0)
    if status != 0:
        raise RuntimeError('the jail helper failed (status %#x)' % status)
    if os.path.lexists('/' + lockdown.OLD_ROOT):
        raise RuntimeError('the host tree is still attached')
    return marshal.loads(bytes(body))


def _keep_only_launch_and_status(calls):
    """fd 3: an ``O_PATH`` descriptor of the root (the launch call's target: no exec can
    run it), 5: the status pipe; every other fd above 2 closed."""
    root = os.open('/', os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    lockdown.place(root, LAUNCH_FD)
    if root != LAUNCH_FD:
        os.close(root)
    calls.close_range(4, STATUS_FD - 1)
    calls.close_range(STATUS_FD + 1)


def _launch(calls, bpf):
    """Load the filter, hand its listener to the supervisor, wait until it took it."""
    listener = calls.seccomp_load(bpf, with_listener=True)
    os.write(STATUS_FD, b'L%d\n' % listener)
    try:
        calls.execveat(LAUNCH_FD, ['python'], [])
        raise RuntimeError('the launch descriptor was executed')
    except OSError as exc:
        if exc.errno != errno.EACCES:    # ENOSYS: nobody listens; EPERM: refused
            raise RuntimeError('the supervisor did not take the launch call: %s' % exc)
    os.close(listener)
    os.close(LAUNCH_FD)
    os.close(STATUS_FD)


def reset_interpreter(kept, argv, env):
    """Make the interpreter's state a normal start's for ``argv`` and ``env``; return the
    script's path.  ``kept``: see :func:`serve`."""
    flags = len(PYTHON_ARGS)
    sys.argv = list(argv[flags + 1:])
    sys.orig_argv = list(argv)
    os.environ.clear()
    for item in env:
        name, _, value = item.partition('=')
        os.environ[name] = value
    _forget_modules(kept)
    sys.dont_write_bytecode = False
    _new_std_streams()
    return sys.argv[0]


def _forget_modules(kept):
    """Remove every module imported after the baseline (and its attribute on a kept
    parent package), and the importer cache's entries made since (the old root's)."""
    modules, paths = kept
    for name in [n for n in sys.modules if n not in modules]:
        module = sys.modules.pop(name)
        parent, _, child = name.rpartition('.')
        if parent in sys.modules and getattr(sys.modules[parent], child, None) is module:
            delattr(sys.modules[parent], child)
    for path in [p for p in sys.path_importer_cache if p not in paths]:
        del sys.path_importer_cache[path]
    if 'linecache' in sys.modules:
        sys.modules['linecache'].clearcache()


def _new_std_streams():
    """sys.stdin/stdout/stderr (and their ``__std*__``) made anew on fds 0-2, as the
    interpreter's start makes them (same encoding, errors and buffering as the stage's,
    which started on pipes: a session's standard channels are never terminals)."""
    import io
    for fd, name in enumerate(('stdin', 'stdout', 'stderr')):
        old = getattr(sys, '__%s__' % name)
        mode = 'r' if fd == 0 else 'w'
        buffered = io.open(fd, mode + 'b', buffering=-1, closefd=False)
        buffered.raw.name = '<%s>' % name
        stream = io.TextIOWrapper(buffered, encoding=old.encoding, errors=old.errors,
                                  newline='\n', line_buffering=old.line_buffering,
                                  write_through=old.write_through)
        stream.mode = mode
        setattr(sys, name, stream)
        setattr(sys, '__%s__' % name, stream)


def _run_script(path, program_name):
    """Run ``path`` as ``__main__`` as ``python SCRIPT`` does: a file is compiled and run
    in ``__main__``'s (fresh) globals; a directory or zip archive runs its ``__main__``."""
    import builtins
    # A fresh __main__, made now: the stage's was frozen with the baseline, and a frozen
    # globals dict is never collected at exit (its objects' __del__ would not run)
    sys.modules['__main__'] = type(sys)('__main__')
    main = vars(sys.modules['__main__'])
    if _path_importer(path) is not None:
        main.update(__name__='__main__', __doc__=None, __package__=None, __loader__=None,
                    __spec__=None, __annotations__={}, __builtins__=builtins)
        sys.path.insert(0, path)
        import runpy
        return runpy._run_module_as_main('__main__', alter_argv=False)
    loader = sys.modules['_frozen_importlib_external'].SourceFileLoader('__main__', path)
    main.update(__name__='__main__', __doc__=None, __package__=None, __loader__=loader,
                __spec__=None, __annotations__={}, __builtins__=builtins, __file__=path,
                __cached__=None)
    try:
        with open(path, 'rb') as f:
            source = f.read()
    except OSError as exc:
        sys.stderr.write("%s: can't open file %r: [Errno %d] %s\n"
                         % (program_name, path, exc.errno, exc.strerror))
        raise SystemExit(2)
    try:
        code = compile(source, path, 'exec', dont_inherit=True)
        del source
        exec(code, main)
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - printed as the interpreter does
        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_globals is not main:
            tb = tb.tb_next
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)
        raise SystemExit(1)


def _path_importer(path):
    """The importer of ``path`` as the interpreter's start looks it up (a directory or a
    zip archive has one; the lookup leaves its answer, None included, in the cache)."""
    cache = sys.path_importer_cache
    if path in cache:
        return cache[path]
    cache[path] = None
    for hook in sys.path_hooks:
        try:
            importer = hook(path)
        except ImportError:
            continue
        cache[path] = importer
        return importer
    return None
