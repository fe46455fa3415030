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

Modules: :mod:`.spec` (session data), :mod:`.seccomp_policy` (policies, BPF; the only
pyseccomp user), :mod:`.linux` (raw syscalls), :mod:`.jail` (child set-up), :mod:`.session`
(parent side), :mod:`.monitor` (notifications, timeout, exit; the pumps are
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
