"""The parent side of a running session: pumps, seccomp notifications, timeout, exit.

:class:`Monitor` runs one event loop (``selectors``) over the session's pidfd, its seccomp
listener, its status pipe and one :class:`Pump` per pipe/socket channel, until the program
exits; it kills the session (SIGKILL through the pidfd: the program is pid 1 of its pid
namespace, so the whole namespace dies) when a limit is crossed, a forbidden system call
arrives or the wall clock runs out, and records why in :attr:`Monitor.kill_reason`.

Pipe and socket channels, and ``pipe`` channels backed by a regular file (a job device of
mode ``pipe`` or ``char``), are moved by :class:`zerocloud.channels.pump.Pump` (exact byte
limits, see there).

Writable file channels are not pumped: the jail's ``RLIMIT_FSIZE`` is the limit, so they
never hold more; a write refused there leaves SIGXFSZ pending (the jail blocks it), which
the monitor looks for every 50 ms (a program that keeps trying is killed) and when the
program calls ``exit``/``exit_group`` (supervised: exiting discards pending signals); either
makes the session ``output-limit``.

An inbound channel whose client side has ended (all its bytes are in the FIFO) is closed
once the program holds the FIFO open and has emptied it, so the program reads end-of-file;
closing earlier would discard the buffered bytes.  The monitor learns about opens and reads
from an inotify watch (``IN_OPEN | IN_ACCESS``) set on that FIFO when its client side ends,
so a program reading many inputs in turn gets each end-of-file at once (checking every
50 ms cost up to 50 ms per input); without inotify (no instance left) it checks every 50 ms.
"""
import errno
import fcntl
import os
import select
import selectors
import signal
import time

from zerocloud.channels.pump import pending_bytes
from zerocloud.sandbox import linux
from zerocloud import report as rpt

EXECVEAT = 322
EXIT_CALLS = (60, 231)     # exit, exit_group: supervised (see _exit_call)
EXIT_GROUP = 231
FILE_POLL_SECONDS = 0.05   # how often writable file channels are checked against the limit
SETTLE_FALLBACK_SECONDS = 0.5   # inbound FIFOs at end-of-file under an inotify watch
IN_ACCESS, IN_OPEN = 0x1, 0x20  # inotify(7): the program read / opened a watched FIFO
SIGNAL_CALLS = {62: lambda a: (_signed(a[0]), a[1]),          # kill(pid, sig)
                200: lambda a: (_signed(a[0]), a[1]),         # tkill(tid, sig)
                234: lambda a: (_signed(a[0]), a[2])}         # tgkill(tgid, tid, sig)
NON_FATAL_SIGNALS = (signal.SIGCHLD, signal.SIGCONT, signal.SIGURG, signal.SIGWINCH,
                     signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU)
SIGNAL_NAMES = {s.value for s in signal.Signals}
EXEC_FD = 3          # the jail renumbers the program's fd to 3 before exec


class Monitor:
    """Watches one started session until its program exits (see the module docstring)."""

    def __init__(self, sys, pid, pidfd, listener, status_fd, pumps, limits, files=(),
                 closes=None):
        self.sys = sys
        self.pid = pid
        self.pidfd = pidfd
        self.listener = listener
        self.status_fd = status_fd
        self.pumps = pumps
        self.deadline = time.monotonic() + limits.wall_seconds
        self.files = tuple(files)           # (channel, fd) of writable regular files
        self.next_file_check = 0.0
        self.max_output_bytes = limits.max_output_bytes
        self.kill_reason = None     # (status, reason text, syscall name or None)
        self.exec_seen = False
        self.exit_checked = False   # the program's exit call was seen (and files checked)
        self.emulated_signal = None     # a fatal signal the program sent itself
        self.child_error = b''
        self.closes = closes    # (inotify fd, {watch descriptor: outbound pump}) or None
        self.settling = None    # inotify fd watching inbound FIFOs at end-of-file, or None
        self.settle_watched = {}        # watch descriptor -> inbound pump under that watch
        self.settle_ids = set()         # id() of those pumps

    def run(self):
        """Loop until the program exits and its outbound FIFOs are emptied; then return.

        After the exit, inbound pumps stop at once and outbound ones keep moving what the
        program wrote until its FIFO is empty (or the wall-clock deadline passes: a consumer
        that never reads cannot hold the session forever).  The caller reaps the program.
        The same steps drive many sessions from one event loop: :meth:`attach`, then
        :meth:`tick` (next timeout) and :meth:`on_event` until :attr:`finished`.
        """
        selector = selectors.DefaultSelector()
        try:
            self.attach(selector)
            while True:
                timeout = self.tick()
                if self.finished:
                    break
                for key, _mask in selector.select(timeout):
                    self.on_event(key)
        finally:
            self.detach()
            selector.close()

    def attach(self, selector):
        """Register this session's fds in ``selector`` (data: ``(monitor, what)``)."""
        self.selector = selector
        self.watched = {}
        self.exited = False
        for pump in self.pumps:
            pump.on_close = self._forget
        self.finished = False
        # the first periodic check one period after the start (a check while the program
        # is between a refused write and its own exit would kill it: that exit is checked)
        self.next_file_check = time.monotonic() + FILE_POLL_SECONDS
        selector.register(self.pidfd, selectors.EVENT_READ, (self, 'exit'))
        selector.register(self.listener, selectors.EVENT_READ, (self, 'notify'))
        selector.register(self.status_fd, selectors.EVENT_READ, (self, 'status'))
        if self.closes is not None:
            selector.register(self.closes[0], selectors.EVENT_READ, (self, 'closed'))
        self._answer_queued_exec()

    def _answer_queued_exec(self):
        """Answer the program's ``execveat`` now if it already waits (the jail calls it
        right after handing over its listener): the program starts without waiting for
        a turn of the caller's event loop."""
        poller = select.poll()
        poller.register(self.listener, select.POLLIN)
        if any(events == select.POLLIN for _fd, events in poller.poll(0)):
            self._notification(self.selector)

    def detach(self):
        """Unregister whatever is still registered (safe to call twice)."""
        for fd in [key.fd for key in list(self.selector.get_map().values())
                   if isinstance(key.data, tuple) and key.data[0] is self]:
            self.selector.unregister(fd)
        self.watched = {}          # a pump closed later has nothing left to unregister
        if self.settling is not None:
            os.close(self.settling)
            self.settling = None
        if self.files and not self.exit_checked:    # (checked at the exit call already)
            self._check_files()

    def tick(self):
        """Do the periodic work; return the longest the caller may wait (seconds or None).

        Sets :attr:`finished` when the session needs no more events.
        """
        if self.exited and self._finish_pumps():
            self.finished = True
            return 0
        self._rewatch(self.selector, self.watched)
        timeout = self.deadline - time.monotonic()
        if timeout <= 0:
            if self.exited:
                self.finished = True
                return 0
            self.kill(rpt.STATUS_TIMEOUT, 'timeout: wall-clock limit reached')
            return None
        if not self.exited:
            if self.files:
                timeout = min(timeout, self._poll_files())
            for pump in self.pumps:
                if pump.eof and not pump.closed:
                    watched = self._watch_settling(pump)
                    pump.settle(self.pid)
                    timeout = min(timeout, SETTLE_FALLBACK_SECONDS if watched
                                  else FILE_POLL_SECONDS)
        return timeout

    def _watch_settling(self, pump):
        """Watch an inbound FIFO at end-of-file for the program's opens and reads (set
        before the check that follows, so no event is missed); False when inotify is not
        available (the caller then polls)."""
        if id(pump) in self.settle_ids:
            return True
        try:
            if self.closes is not None:
                inotify = self.closes[0]    # one instance per session (128 per user)
            else:
                if self.settling is None:
                    self.settling = self.sys.inotify_init1(linux.IN_NONBLOCK | linux.IN_CLOEXEC)
                    self.selector.register(self.settling, selectors.EVENT_READ,
                                           (self, 'closed'))
                inotify = self.settling
            wd = self.sys.inotify_add_watch(inotify, '/proc/%d/root/dev/%s'
                                            % (self.pid, pump.channel.device),
                                            IN_OPEN | IN_ACCESS)
        except OSError:
            return False
        self.settle_watched[wd] = pump
        self.settle_ids.add(id(pump))
        return True

    def _inotify_events(self):
        """Watch descriptors with events waiting on the session's inotify instance."""
        wds = set()
        try:
            while True:
                wds.update(linux.unpack_inotify_events(
                    os.read(self.closes[0] if self.closes else self.settling, 65536)))
        except BlockingIOError:
            pass
        return wds

    def _inotify_event(self):
        """The program closed outbound FIFOs (``IN_CLOSE_WRITE``), or opened or read inbound
        ones at end-of-file (``IN_OPEN``, ``IN_ACCESS``)."""
        for wd in self._inotify_events():
            outbound = self.closes[1].get(wd) if self.closes else None
            if outbound is not None and not outbound.closed:
                self._writer_closed(outbound)
            inbound = self.settle_watched.get(wd)
            if inbound is not None and not inbound.closed:
                inbound.settle(self.pid)

    def on_event(self, key):
        """Handle one ready fd registered by :meth:`attach`."""
        if self._handle(self.selector, key):
            self.exited = True
            self.selector.unregister(self.pidfd)

    def _finish_pumps(self):
        """After the exit: close inbound and emptied outbound pumps; True when all closed."""
        for pump in self.pumps:
            if not pump.closed and (pump.inbound or pending_bytes(pump.src) == 0):
                pump.close()
        return all(pump.closed for pump in self.pumps)

    def _forget(self, pump):
        old = self.watched.pop(id(pump), None)
        if old is not None:
            self.selector.unregister(old[0])

    def _rewatch(self, selector, watched):
        for pump in self.pumps:
            old = watched.get(id(pump))
            new = None if pump.closed or pump.eof else pump.watch()
            if old == new:
                continue
            if old is not None:
                selector.unregister(old[0])
            if new is not None:
                selector.register(new[0], new[1], (self, pump))
            watched[id(pump)] = new

    def _handle(self, selector, key):
        what = key.data[1]
        if what == 'exit':
            return True
        if what == 'notify':
            self._notification(selector)
        elif what == 'closed':
            self._inotify_event()
        elif what == 'status':
            data = os.read(self.status_fd, 4096)
            self.child_error += data
            if not data:
                selector.unregister(self.status_fd)
        else:
            pump = what
            crossed = pump.step()
            if crossed is not None:
                self.kill(crossed, '%s: /dev/%s crossed its limit of %d bytes' % (
                    crossed, pump.channel.device, pump.limit))
                pump.close()
        return False

    def _writer_closed(self, pump):
        """The program closed an outbound FIFO: its pump reads to end-of-file from now on
        (:meth:`~zerocloud.channels.pump.Pump.writer_closed`)."""
        self._forget(pump)      # its fd is replaced: register it anew next tick
        pump.writer_closed()

    def _notification(self, selector):
        buffer = linux.notification_buffer()
        try:
            fcntl.ioctl(self.listener, linux.SECCOMP_IOCTL_NOTIF_RECV, buffer, True)
        except OSError:
            selector.unregister(self.listener)   # no task left under the filter
            return
        notif_id, _pid, number, _arch, args = linux.unpack_notification(bytes(buffer))
        if number == EXECVEAT and not self.exec_seen and args[0] == EXEC_FD:
            self.exec_seen = True
            self._respond(notif_id, cont=True)
            return
        if number in SIGNAL_CALLS:
            self._signal_call(notif_id, number, args)
            return
        if number in EXIT_CALLS:
            self._exit_call(notif_id, number)
            return
        from zerocloud.sandbox.seccomp_policy import syscall_name  # rare: keep it lazy
        name = syscall_name(number)
        self.kill(rpt.STATUS_SECCOMP, 'killed by seccomp: %s' % name, name)
        self._respond(notif_id, error=errno.EPERM)

    def _signal_call(self, notif_id, number, args):
        """kill/tkill/tgkill: only the program itself exists (pid 1 of its namespace).

        As pid 1 it would ignore its own fatal signals (``abort()`` would end in SIGSEGV), so
        a signal it sends itself is emulated: caught or ignored -> let the call through (the
        handler runs), default action fatal -> kill the session and report that signal.
        Any other target -> ESRCH.  The arguments are plain integers: no TOCTOU.
        """
        target, signum = SIGNAL_CALLS[number](args)
        if target not in (0, 1) or not 0 <= signum < 65:
            self._respond(notif_id, error=errno.ESRCH if target not in (0, 1) else errno.EINVAL)
            return
        caught, ignored = _signal_masks(self.pid)
        bit = 1 << (signum - 1) if signum else 0
        if signum == 0 or (caught | ignored) & bit or signum in NON_FATAL_SIGNALS:
            self._respond(notif_id, cont=True)
            return
        name = signal.Signals(signum).name if signum in SIGNAL_NAMES else 'SIG%d' % signum
        self.kill(rpt.STATUS_SIGNAL, 'killed by signal %s' % name, signal=name)
        self._respond(notif_id, error=errno.EINTR)

    def _exit_call(self, notif_id, number):
        """exit/exit_group: the last moment the program's pending signals can be read
        (exiting discards them).  A write refused at the output limit makes the session
        ``output-limit``; the program still exits with its own code."""
        if self.files and file_size_limit_refused(self.pid):
            self.record(rpt.STATUS_OUTPUT_LIMIT, self._refused_write_reason())
        self.exit_checked = number == EXIT_GROUP    # (a thread's exit: others may go on)
        self._respond(notif_id, cont=True)

    def _respond(self, notif_id, error=0, cont=False):
        try:
            fcntl.ioctl(self.listener, linux.SECCOMP_IOCTL_NOTIF_SEND,
                        linux.pack_response(notif_id, error, cont), True)
        except OSError:
            pass  # the task died meanwhile

    def _poll_files(self):
        """Check the file channels if the last check is FILE_POLL_SECONDS old; the time
        until the next check is due."""
        now = time.monotonic()
        if now >= self.next_file_check:
            self._check_files()
            self.next_file_check = now + FILE_POLL_SECONDS
        return max(0.0, self.next_file_check - now)

    def _check_files(self):
        """A file channel the program tried to grow beyond its limit ends the session.

        ``RLIMIT_FSIZE`` is the limit itself, so a channel never holds more: the write that
        would cross it fails with EFBIG and leaves SIGXFSZ pending (the jail blocks it).
        A size beyond the limit is checked too (a file the rlimit did not cover).
        """
        for channel, fd in self.files:
            size = os.fstat(fd).st_size
            if size > self.max_output_bytes:
                self.kill(rpt.STATUS_OUTPUT_LIMIT, 'output-limit: /dev/%s reached %d bytes, '
                          'limit %d' % (channel.device, size, self.max_output_bytes))
        if file_size_limit_refused(self.pid):
            self.kill(rpt.STATUS_OUTPUT_LIMIT, self._refused_write_reason())

    def _refused_write_reason(self):
        full = [channel.device for channel, fd in self.files
                if os.fstat(fd).st_size >= self.max_output_bytes]
        return ('output-limit: a write beyond the limit of %d bytes per channel was refused '
                '(full: %s)' % (self.max_output_bytes,
                                ', '.join('/dev/' + device for device in full) or 'none'))

    def kill(self, status, reason, syscall=None, signal=None):
        """Kill the whole session and remember the first reason (and emulated signal)."""
        self.record(status, reason, syscall, signal)
        self.sys.pidfd_kill(self.pidfd)

    def record(self, status, reason, syscall=None, signal=None):
        """Remember why the session failed (the first reason wins) without killing it."""
        if self.kill_reason is None:
            self.kill_reason = (status, reason, syscall)
            self.emulated_signal = signal


def _signed(value):
    """A 64-bit syscall argument as a signed C int."""
    value &= 0xffffffff
    return value - (1 << 32) if value >= 1 << 31 else value


def _signal_masks(pid):
    """``(caught, ignored)`` signal bit masks of ``pid`` from /proc/<pid>/status."""
    masks = _status_masks(pid, ('SigCgt', 'SigIgn'))
    return masks['SigCgt'], masks['SigIgn']


def file_size_limit_refused(pid):
    """True when a write of ``pid`` was refused at its ``RLIMIT_FSIZE``: SIGXFSZ pending
    (for the thread or the process; the jail keeps it blocked)."""
    masks = _status_masks(pid, ('SigPnd', 'ShdPnd'))
    return bool((masks['SigPnd'] | masks['ShdPnd']) & (1 << (signal.SIGXFSZ - 1)))


def _status_masks(pid, names):
    """The signal bit masks ``names`` (``SigCgt``, ``SigPnd`` ...) of ``pid`` from
    /proc/<pid>/status; 0 for each when the process is gone."""
    masks = dict.fromkeys(names, 0)
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                name, _, value = line.partition(':')
                if name in masks:
                    masks[name] = int(value, 16)
    except OSError:
        pass
    return masks
