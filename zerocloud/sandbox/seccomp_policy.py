"""Seccomp policies as data, compiled to BPF once (the only module importing pyseccomp).

A :class:`SyscallPolicy` is a frozen allow-list plus argument rules and errno answers.
:func:`compile_bpf` turns it into the BPF program bytes the jail loads with one
``seccomp(SECCOMP_SET_MODE_FILTER)`` call after ``no_new_privs``; :func:`export_pfc` gives the
human-readable form used by golden tests.

Actions, in order of precedence for a call:

* allowed calls (``allow``) and allowed argument patterns (``allow_args``) run;
* ``errno`` calls fail with the given errno (``socket``/``clone``/...
  -> EPERM, ``clone3`` -> ENOSYS) so programs get an error instead of dying;
* ``errno_except`` calls run only with one of a few argument values and fail with an errno
  otherwise: ``ioctl`` runs FIONBIO, FIOCLEX and FIONCLEX (flags of the caller's own
  descriptor: ``os.set_blocking``, ``os.set_inheritable``), every other request is ENOTTY;
* ``execveat`` goes to the supervisor (user notification), which lets the launch through and
  kills any later exec; so do ``kill``/``tkill``/``tgkill``, which the supervisor answers
  (ESRCH for other targets; a fatal signal the program sends itself ends the session with
  that signal, since pid 1 of a namespace would ignore it); and so do ``exit`` and
  ``exit_group``, let through once the supervisor has looked at the program's pending
  signals (a write refused at the output limit leaves SIGXFSZ pending, and exiting
  discards it: one notification per session);
* everything else, the default, is a user notification: the supervisor records the syscall
  name for the report and kills the session.  If no supervisor listens, the call fails.
* a non-x86-64 ABI (i386 ``int 0x80``, x32) kills the process at once.

Two policies: :data:`STATIC_POLICY` for static C programs (glibc, musl) and
:data:`PYTHON_POLICY` for the python system image (wider by what CPython 3.11 needs: file
backed executable mappings for its shared libraries, and a few queries).
"""
import dataclasses
import errno as errno_codes
import tempfile

import pyseccomp

PROT_EXEC = 0x4
MAP_ANONYMOUS = 0x20
ARCH_SET_FS = 0x1002
ARCH_GET_FS = 0x1003
PERSONALITY_QUERY = 0xffffffff
# ioctl requests that only change a flag of the caller's own descriptor (O_NONBLOCK and
# close-on-exec: what os.set_blocking() and os.set_inheritable() use).
FIONBIO, FIONCLEX, FIOCLEX = 0x5421, 0x5450, 0x5451

STATIC_ALLOW = (
    'read', 'write', 'readv', 'writev', 'pread64', 'pwrite64', 'lseek', 'close', 'fstat',
    'newfstatat', 'statx', 'openat', 'open', 'stat', 'lstat', 'getdents64',
    'brk', 'munmap', 'mremap', 'madvise', 'set_tid_address', 'set_robust_list',
    'rseq', 'getrandom', 'clock_gettime', 'clock_getres', 'gettimeofday', 'nanosleep',
    'clock_nanosleep', 'rt_sigaction', 'rt_sigprocmask', 'rt_sigreturn', 'sigaltstack',
    'futex', 'getpid', 'gettid', 'sched_yield', 'fcntl', 'dup', 'dup3',
    # harmless queries real static programs make (glibc qsort: sysinfo; stdio: poll)
    'sysinfo', 'poll', 'ppoll')

PYTHON_EXTRA_ALLOW = (
    'access', 'faccessat', 'faccessat2', 'getcwd', 'readlink', 'readlinkat', 'dup2',
    'getppid', 'getuid', 'geteuid', 'getgid', 'getegid', 'uname',
    'sched_getaffinity', 'select', 'pselect6', 'epoll_create1', 'epoll_ctl',
    'epoll_wait', 'epoll_pwait', 'ftruncate', 'fsync', 'fdatasync')

FRIENDLY_ERRNO = (
    ('socket', errno_codes.EPERM), ('socketpair', errno_codes.EPERM),
    ('clone', errno_codes.EPERM), ('fork', errno_codes.EPERM), ('vfork', errno_codes.EPERM),
    ('clone3', errno_codes.ENOSYS))

# (syscall, errno, arg index, values): the call runs when the argument is exactly one of
# ``values``, else fails with errno.  The whole 64-bit argument is compared: a request with
# high bits set (which the kernel would drop) fails too.
EXCEPT_VALUES = (
    ('ioctl', errno_codes.ENOTTY, 1, (FIONBIO, FIONCLEX, FIOCLEX)),
)

# (syscall, ((arg index, mask, value), ...)): allowed when every masked arg equals value.
COMMON_ARG_RULES = (
    ('mmap', ((2, PROT_EXEC, 0),)),
    ('mprotect', ((2, PROT_EXEC, 0),)),
    ('arch_prctl', ((0, 0xffffffff, ARCH_SET_FS),)),
    ('arch_prctl', ((0, 0xffffffff, ARCH_GET_FS),)),
    ('personality', ((0, 0xffffffff, PERSONALITY_QUERY),)),
    ('prlimit64', ((2, 0xffffffffffffffff, 0),)),
)
PYTHON_ARG_RULES = (
    # file-backed mappings may be executable: the interpreter's shared libraries; writable
    # places are mounted noexec, so the kernel refuses PROT_EXEC on their files.
    ('mmap', ((3, MAP_ANONYMOUS, 0),)),
)


@dataclasses.dataclass(frozen=True)
class SyscallPolicy:
    """A deny-by-default system call policy; see the module docstring for the actions."""
    name: str
    allow: tuple
    allow_args: tuple = COMMON_ARG_RULES
    errno: tuple = FRIENDLY_ERRNO
    errno_except: tuple = EXCEPT_VALUES
    errno_unless: tuple = (('readlink', errno_codes.ENOENT),
                           ('readlinkat', errno_codes.ENOENT))
    supervised: tuple = ('execveat', 'kill', 'tkill', 'tgkill', 'exit', 'exit_group')

    def to_dict(self):
        return dataclasses.asdict(self)


STATIC_POLICY = SyscallPolicy(name='static', allow=STATIC_ALLOW)
PYTHON_POLICY = SyscallPolicy(name='python', allow=STATIC_ALLOW + PYTHON_EXTRA_ALLOW,
                              allow_args=COMMON_ARG_RULES + PYTHON_ARG_RULES,
                              errno_unless=())
POLICIES = {STATIC_POLICY.name: STATIC_POLICY, PYTHON_POLICY.name: PYTHON_POLICY}


def build_filter(policy):
    """Return a ``pyseccomp.SyscallFilter`` for ``policy`` (native x86-64 only)."""
    flt = pyseccomp.SyscallFilter(pyseccomp.NOTIFY)
    flt.set_attr(pyseccomp.Attr.ACT_BADARCH, pyseccomp.KILL_PROCESS)
    flt.set_attr(pyseccomp.Attr.CTL_NNP, 0)  # the jail sets no_new_privs itself
    for name in policy.allow:
        flt.add_rule(pyseccomp.ALLOW, name)
    for name, conditions in policy.allow_args:
        args = [pyseccomp.Arg(index, pyseccomp.MASKED_EQ, mask, value)
                for index, mask, value in conditions]
        flt.add_rule(pyseccomp.ALLOW, name, *args)
    allowed = set(policy.allow)
    for name, code in tuple(policy.errno) + tuple(policy.errno_unless):
        if name not in allowed:
            flt.add_rule(pyseccomp.ERRNO(code), name)
    for name, code, index, values in policy.errno_except:
        for value in values:
            flt.add_rule(pyseccomp.ALLOW, name, pyseccomp.Arg(index, pyseccomp.EQ, value))
        for op, mask, value in complement_tests(values):
            flt.add_rule(pyseccomp.ERRNO(code), name, pyseccomp.Arg(index, op, mask, value)
                         if op == pyseccomp.MASKED_EQ else pyseccomp.Arg(index, op, value))
    # ``policy.supervised`` calls need no rule: the default action already notifies.
    return flt


def complement_tests(values):
    """Argument tests matching every 64-bit value except ``values``, as
    ``(op, mask, value)`` (mask used by ``MASKED_EQ`` only).

    libseccomp allows one test per argument in a rule, so "none of these" becomes several
    rules: below the smallest, above the largest, and each gap between two values split
    into aligned power-of-two blocks (one masked equality each).
    """
    values = sorted(set(values))
    tests = [(pyseccomp.LT, 0, values[0]), (pyseccomp.GT, 0, values[-1])]
    for low, high in zip(values, values[1:]):
        start, end = low + 1, high      # the gap [start, end)
        while start < end:
            size = start & -start if start else 1 << 63
            while start + size > end:
                size >>= 1
            tests.append((pyseccomp.MASKED_EQ, (~(size - 1)) & 0xffffffffffffffff, start))
            start += size
    return tests


def compile_bpf(policy):
    """Compile ``policy`` to the raw BPF program (bytes, 8 bytes per instruction)."""
    with tempfile.TemporaryFile() as out:
        build_filter(policy).export_bpf(out)
        out.seek(0)
        return out.read()


def export_pfc(policy):
    """Return libseccomp's pseudo-filter-code text of ``policy`` (for review and tests)."""
    with tempfile.TemporaryFile() as out:
        build_filter(policy).export_pfc(out)
        out.seek(0)
        return out.read().decode()


def syscall_name(number):
    """Name of an x86-64 system call number (``'#<n>'`` when unknown)."""
    try:
        name = pyseccomp.resolve_syscall(pyseccomp.Arch.X86_64, number)
    except Exception:  # pragma: no cover - libseccomp raises for unknown numbers
        name = None
    if isinstance(name, bytes):
        name = name.decode()
    return name or '#%d' % number


def compile_all():
    """Compile every built-in policy: ``{name: bpf_bytes}`` (done once per process)."""
    return {name: compile_bpf(policy) for name, policy in POLICIES.items()}
