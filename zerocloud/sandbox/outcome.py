"""What a finished session became: reaping, accounting and the status classification.

A :class:`StartedSession` is created right after ``clone()``; :meth:`StartedSession.reap`
collects the exit status, rusage and ``/proc/<pid>/io`` exactly once (it is also the clean-up
path, so no zombie survives an error), and :meth:`StartedSession.report` classifies:

1. a reason the monitor recorded (seccomp with the syscall, timeout, channel limits, a
   write refused at a file channel's limit: the program got EFBIG);
2. a writable file channel larger than its limit -> ``output-limit`` (a file the jail's
   ``RLIMIT_FSIZE`` did not bound);
3. ``SIGKILL``/``SIGXCPU`` after using the CPU limit -> ``cpu-limit``;
4. a crash or failing exit after using at least half the memory limit -> ``memory-limit``;
5. ``SIGSYS`` (killed by the bad-architecture filter action) -> ``seccomp``;
6. another signal -> ``signal``; a normal exit -> ``ok`` with the exit code.
"""
import os
import signal
import stat

from zerocloud import report as rpt

MEMORY_SIGNALS = (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT, signal.SIGKILL)
EXIT_JAIL_FAILED = 126


class StartedSession:
    """A cloned session: its identity, then its outcome once reaped."""

    def __init__(self, spec, pid, pidfd, verdict, fds):
        self.spec = spec
        self.pid = pid
        self.pidfd = pidfd
        self.verdict = verdict
        self.fds = fds
        self.monitor = None
        self.wait_status = None
        self.rusage = None
        self.io = {}

    def reap(self):
        """Kill if still running, collect /proc io counters, reap; safe to call twice."""
        if self.wait_status is not None:
            return
        try:
            if os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is None:
                self._kill_and_wait()
            self.io = _read_io(self.pid)
        except ChildProcessError:
            pass
        _, self.wait_status, self.rusage = os.wait4(self.pid, 0)

    def _kill_and_wait(self):
        os.kill(self.pid, signal.SIGKILL)
        os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)

    def report(self, wall_seconds):
        """The session's Report."""
        status, reason, syscall = self._classify()
        code = os.waitstatus_to_exitcode(self.wait_status)
        signal_name = signal.Signals(-code).name if code < 0 else None
        if self.monitor is not None and self.monitor.emulated_signal:
            signal_name = self.monitor.emulated_signal
        return rpt.Report(
            status=status, reason=reason if status != rpt.STATUS_OK else '',
            retcode=code if code >= 0 else None, signal=signal_name, syscall=syscall,
            validation=self.verdict.state, validation_reasons=tuple(self.verdict.reasons),
            wall_seconds=wall_seconds, cdr=self._accounting())

    def _classify(self):
        mon = self.monitor
        if mon.kill_reason is not None:
            return mon.kill_reason
        code = os.waitstatus_to_exitcode(self.wait_status)
        if not mon.exec_seen:
            message = mon.child_error.decode(errors='replace').strip().lstrip('E')
            return (rpt.STATUS_ISOLATION, 'isolation: %s' % (message or 'program did not start'),
                    None)
        over = self._file_over_limit()
        if over:
            return rpt.STATUS_OUTPUT_LIMIT, over, None
        limits = self.spec.limits
        cpu = self.rusage.ru_utime + self.rusage.ru_stime
        if code in (-signal.SIGKILL, -signal.SIGXCPU) and cpu >= limits.cpu_seconds * 0.95:
            return rpt.STATUS_CPU_LIMIT, 'cpu-limit: %.1f s of CPU used' % cpu, None
        if (code < 0 and -code in MEMORY_SIGNALS or code > 0) and \
                self.rusage.ru_maxrss * 1024 >= limits.memory_bytes // 2:
            return (rpt.STATUS_MEMORY_LIMIT, 'memory-limit: %d bytes resident at the end'
                    % (self.rusage.ru_maxrss * 1024), None)
        if code == -signal.SIGSYS:
            return (rpt.STATUS_SECCOMP, 'killed by seccomp: non-native system call ABI '
                    '(i386 int 0x80 or x32)', None)
        if code < 0:
            name = signal.Signals(-code).name
            return rpt.STATUS_SIGNAL, 'killed by signal %s' % name, None
        return rpt.STATUS_OK, '', None

    def _file_over_limit(self):
        limit = self.spec.limits.max_output_bytes
        for channel, fd in zip(self.spec.channels, self.fds):
            st = os.fstat(fd)
            if channel.writable and stat.S_ISREG(st.st_mode) and st.st_size > limit:
                return ('output-limit: /dev/%s reached %d bytes, limit %d'
                        % (channel.device, st.st_size, limit))
        return ''

    def _accounting(self):
        pumps = self.monitor.pumps if self.monitor else ()
        net_in = [p for p in pumps if p.channel.network and p.inbound]
        net_out = [p for p in pumps if p.channel.network and not p.inbound]
        nrbytes = sum(p.bytes for p in net_in)
        nwbytes = sum(p.bytes for p in net_out)
        nreads = sum(p.moves for p in net_in)
        nwrites = sum(p.moves for p in net_out)
        usage = self.rusage
        return rpt.Accounting(
            sys=usage.ru_stime if usage else 0.0, user=usage.ru_utime if usage else 0.0,
            reads=max(0, self.io.get('syscr', 0) - nreads),
            rbytes=max(0, self.io.get('rchar', 0) - nrbytes),
            writes=max(0, self.io.get('syscw', 0) - nwrites),
            wbytes=max(0, self.io.get('wchar', 0) - nwbytes),
            nreads=nreads, nrbytes=nrbytes, nwrites=nwrites, nwbytes=nwbytes)


def _read_io(pid):
    try:
        with open('/proc/%d/io' % pid) as f:
            return {k: int(v) for k, v in (line.split(':') for line in f if ':' in line)}
    except (OSError, ValueError):
        return {}
