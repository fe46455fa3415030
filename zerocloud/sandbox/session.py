"""Run one session: prepare, validate, clone into the jail, monitor, report.

:class:`SessionRunner` holds what is shared between sessions of one process: the compiled
seccomp filters, the validation verdict cache and the warm jails.  ``runner.run(spec, fds)``
runs one session to its end and returns a :class:`~zerocloud.report.Report`;
``runner.start(spec, fds)`` sets one up (waiting where set-up waits) and returns an
:class:`~.starting.ActiveSession` whose monitor an event loop drives, or a Report;
``runner.begin(spec, fds)`` returns the set-up itself, a :class:`~.starting.SessionStart`
that never blocks, for an event loop to drive (the supervisor runs many sessions at once,
and one session's validation or jail hand-shake never holds up the others).  None of them
raises for a bad spec or a failed session (those become reports).  Call them from a
single-threaded process (the jail is cloned without Python's fork hooks): the supervisor
and ``run_local`` are.

Set-up (:mod:`.starting`) costs two wake-ups per session (one more with FIFO channels): the
jail writes its own uid/gid maps, reports its seccomp listener's number and calls
``execveat``, which waits for the supervisor to take the listener (``pidfd_getfd``) and let
exactly that exec through.  A failure of any isolation step ends the session with
``isolation`` and the step's error.

Channels: a regular-file fd of a ``file`` channel is bound into the jail directly, from the
path that leads to it (:mod:`.binds`; zero-copy; random access; writable ones limited by
``RLIMIT_FSIZE``); any other fd (pipe, socket, terminal, a file without a path), and every
``pipe`` or ``socket`` channel even when its fd is a regular file (a job's device mode ``pipe`` or ``char``; an inbound file is pumped from its start),
is pumped through a FIFO by :mod:`zerocloud.sandbox.monitor`, which passes at most the
limit.  Limits are exact: a channel never holds more than its limit, and a program that
wrote exactly the limit is ``ok``.  Readable file channels larger than ``max_input_bytes``
end the session before it starts (``input-limit``).  ``RLIMIT_FSIZE`` is ``max_output_bytes`` itself: a
write that would cross it is cut short at the limit, the next one fails with ``EFBIG`` and
raises ``SIGXFSZ``, which the jail keeps blocked so that it stays pending (as pid 1 the
program would drop it); the monitor polls for it (every 50 ms and at the end) and ends the
session with ``output-limit``.  A single write cut short and never retried is not noticed:
the program was told that only the bytes up to the limit were written.

Accounting: ``sys``/``user`` are exact (``wait4``); ``reads/rbytes/writes/wbytes`` come from
the program's ``/proc/<pid>/io`` (``syscr/rchar/syscw/wchar``: every read/write call the
process made, including those of the Python interpreter itself), minus the network bytes;
``nrbytes``/``nwbytes`` are exact pump counts on network channels and ``nreads``/``nwrites``
count pump moves (an approximation of the program's calls).  The jail's own set-up reads and
writes before exec (a handful of calls, < 1 KiB) are included in the local counters.
"""
import dataclasses

from zerocloud.sandbox import isolation, launcher
from zerocloud.sandbox import linux
from zerocloud.sandbox import offload
from zerocloud.sandbox import warm
from zerocloud.sandbox.starting import SessionStart, drive
from zerocloud import report as rpt


class SessionRunner:
    """Runs sessions in this process (see the module docstring)."""

    def __init__(self, verdicts=None, workdir=None, prewarm=False, prestart=None,
                 compiled_launcher=True):
        self.sys = linux.Syscalls()
        # what this machine and these privileges allow (every session fails closed without)
        self.isolation = isolation.probe(self.sys)
        # the jails' last stage: the compiled launcher, else Python (the log line says);
        # compiled_launcher=False: Python (tests compare the two)
        self.launcher = None
        if self.isolation.available:
            self.launcher = launcher.locate() if compiled_launcher else launcher.Launcher(
                None, 'jail launcher: python (asked for)')
            self.isolation = dataclasses.replace(self.isolation, description='%s; %s' % (
                self.isolation.description, self.launcher.description))
        self.bpf = offload.run_in_child(offload.compile_policies)
        self.verdicts = verdicts if verdicts is not None else offload.OffloadedVerdicts()
        self.workdir = workdir
        # prewarm: keep warm jails cloned ahead by a factory process (the supervisor does)
        prewarm = prewarm and self.isolation.available
        # prestart: pre-started python jails (a prestart.PrestartOptions; .prestart says)
        self.warm_pool = warm.WarmPool(self.sys, warm.POOL_SIZE if prewarm else 0,
                                       prestart if self.isolation.available else None,
                                       self.launcher.path if self.launcher else None)

    def run(self, spec, fds):
        """Run ``spec`` with channel ``fds`` (channel order) and return its Report."""
        active = self.start(spec, fds)
        if isinstance(active, rpt.Report):
            return active
        try:
            active.monitor.run()
        finally:
            report = active.finish()
        return report

    def start(self, spec, fds):
        """Start a session: an :class:`~.starting.ActiveSession` to drive, or a Report if it cannot run.

        Waits where set-up waits (validation, the jail's hand-shake).  The caller drives
        ``active.monitor`` (``run()``, or ``attach``/``tick``/``on_event`` in its own event
        loop) and then calls ``active.finish()`` for the Report; the ``fds`` must stay open
        until then.
        """
        return drive(self.begin(spec, fds))

    def begin(self, spec, fds):
        """Begin a session's set-up without waiting: a :class:`SessionStart` whose
        ``result`` is set, or that waits for its ``wait_fd`` (see :mod:`.starting`)."""
        return SessionStart(self, spec, fds).begin()

    def prepare_next_jail(self, idle=True):
        """Ask for the jails missing from the pools (call it when nobody waits: the
        supervisor does after a reply, and when ``idle``; see :meth:`.WarmPool.refill`);
        they arrive through ``warm_pool.filenos()``."""
        self.warm_pool.refill(idle)

    def close(self):
        """Discard the pre-warmed jails and stop their factories."""
        self.warm_pool.close()


def run_local(spec, fds, prestart=None, compiled_launcher=True):
    """Run one session in this (single-threaded) process, without a supervisor
    (``prestart``: a PrestartOptions; its python jail is started for this session;
    ``compiled_launcher``: see :class:`SessionRunner`)."""
    runner = SessionRunner(prestart=prestart, compiled_launcher=compiled_launcher)
    try:
        return runner.run(spec, fds)
    finally:
        runner.close()
