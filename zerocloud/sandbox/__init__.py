"""The zerocloud sandbox: run untrusted programs next to the data, contained by the kernel.

Public API (plain data in, a :class:`Report` out):

    from zerocloud.sandbox import (SessionSpec, ChannelSpec, ImageSpec, Limits, Report,
                                   SupervisorClient, start_supervisor, run_local)

    spec = SessionSpec(program='/path/static-elf', argv=['prog'],
                       channels=[ChannelSpec('stdin', 'r'), ChannelSpec('stdout', 'w')],
                       limits=Limits(wall_seconds=5))
    report = run_local(spec, [stdin_fd, stdout_fd])          # one session, this process
    handle = start_supervisor('/tmp/sandbox.sock')            # long-lived zygote
    report = SupervisorClient('/tmp/sandbox.sock').run(spec, [stdin_fd, stdout_fd])
    handle.stop()

Privileges (issue 14): none.  The sandbox runs with the uid of whoever starts it: Swift's
object servers as ``user = swift``, root, or ``zerocloud run`` from a shell.  Every jail
builds itself in its own user, mount, pid, network, IPC and UTS namespaces ("rootless
jails"): its root is the caller's uid outside, it binds its channels and images by path in
its own mount namespace, each checked against the descriptor the supervisor holds (device
and inode, ``openat2`` without symlinks), then detaches the host's tree.  Root uses the same
path (measured: +0.3 ms per session start against binds made by a privileged supervisor,
partly recovered by rehearsing while warm; figures in :mod:`.isolation`).  At start the supervisor probes it
(:mod:`.isolation`): its log line says ``sandbox: rootless user namespaces (server uid N,
...)``; where the kernel forbids unprivileged user namespaces (Ubuntu 24.04's AppArmor
restriction, ``kernel.unprivileged_userns_clone=0``, ``user.max_user_namespaces=0``, a
container's seccomp profile) every session fails closed, status ``isolation``, with a
reason naming what is missing; the operator then grants ``CAP_SYS_ADMIN`` or an AppArmor
``userns`` profile (``doc/install.md``).  A privileged sandbox service for such machines
(a systemd unit owning the jails, reached over a Unix socket with peer credentials checked
against an allow-list) is the documented alternative and is **not built**.  Seccomp
user notification and ``pidfd_getfd`` need only the same uid (ptrace rights over one's own
children in a user namespace one owns): the supervisor needs nothing more either.

Modules: :mod:`.spec` (session data), :mod:`.seccomp_policy` (policies, BPF; the only
pyseccomp user), :mod:`.linux` (raw syscalls), :mod:`.jail` (child set-up; its last
stage is the compiled :mod:`.launcher`, ``launcher.c``, with its security review),
:mod:`.binds` (which host path each bind comes from), :mod:`.isolation` (the start-up probe and its
verdict), :mod:`.session` (parent side), :mod:`.monitor` (notifications, timeout, exit; the pumps are
:mod:`zerocloud.channels.pump`), :mod:`.outcome`
(classification, accounting; the :class:`Report` type itself lives at the bottom floor in
:mod:`zerocloud.report`, shared with the servers), :mod:`.images` (python system image), :mod:`.supervisor` and
:mod:`.client` (the zygote and its client), :mod:`.validate` (executable validation).
Importing this package imports nothing heavy: the names are resolved on first use.
"""
import importlib

_EXPORTS = {
    'SessionSpec': 'spec', 'ChannelSpec': 'spec', 'ImageSpec': 'spec', 'Limits': 'spec',
    'SpecError': 'spec', 'Report': 'report', 'SupervisorClient': 'client',
    'SupervisorError': 'client', 'start_supervisor': 'client', 'run_local': 'session',
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError('module %r has no attribute %r' % (__name__, name))
    module = _EXPORTS[name]
    package = 'zerocloud.' if module == 'report' else 'zerocloud.sandbox.'
    return getattr(importlib.import_module(package + module), name)
