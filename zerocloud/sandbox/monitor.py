"""The parent side of a running session: pumps, seccomp notifications, timeout, exit.

:class:`Monitor` runs one event loop (``selectors``) over the session's pidfd, its seccomp
listener, its status pipe and one :class:`Pump` per pipe/socket channel, until the program
exits; it kills the session (SIGKILL through the pidfd: the program is pid 1 of its pid
namespace, so the whole namespace dies) when a limit is crossed, a forbidden system call
arrives or the wall clock runs out, and records why in :attr:`Monitor.kill_reason`.

Pumps move bytes between the client's fd and the FIFO the program sees at ``/dev/<device>``
with ``os.splice`` (read/write when splice does not apply, e.g. a terminal).  They count
exactly what crossed (bytes, and the number of moves, which approximates the program's
calls) and enforce the per-channel limit exactly: at most ``limit`` bytes pass, one more
pending byte ends the session with ``output-limit`` / ``input-limit``.
"""
import errno
import fcntl
import os
import selectors
import time

from zerocloud.sandbox import linux
from zerocloud.sandbox import report as rpt
from zerocloud.sandbox.seccomp_policy import syscall_name

CHUNK = 1 << 16
EXECVEAT = 322
FILE_POLL_SECONDS = 0.05   # how often writable file channels are checked against the limit
EXEC_FD = 3          # the jail renumbers the program's fd to 3 before exec


class Pump:
    """Moves one channel's bytes: ``inbound`` (client -> jail) or outbound (jail -> client)."""

    def __init__(self, channel, client_fd, fifo_fd, limit):
        self.channel = channel
        self.inbound = channel.readable
        self.src, self.dst = (client_fd, fifo_fd) if self.inbound else (fifo_fd, client_fd)
        self.limit = limit
        self.bytes = 0
        self.moves = 0
        self.closed = False
        self.waiting_for_dst = False
        self.use_splice = True
        os.set_blocking(fifo_fd, False)

    def watch(self):
        """``(fd, event)`` the pump waits for now."""
        if self.waiting_for_dst:
            return self.dst, selectors.EVENT_WRITE
        return self.src, selectors.EVENT_READ

    def step(self):
        """Move what is ready; return a status code if a limit was crossed, else None."""
        room = self.limit - self.bytes
        if room <= 0:
            return self._over_limit()
        try:
            moved = self._move(min(CHUNK, room))
        except BlockingIOError:
            # nothing to read or no room to write: wait for the other side next time
            self.waiting_for_dst = not self.waiting_for_dst
            return None
        except OSError as exc:
            if exc.errno in (errno.EPIPE, errno.ECONNRESET):
                self.close()
                return None
            raise
        self.waiting_for_dst = False
        if moved == 0:
            self.close()
            return None
        self.bytes += moved
        self.moves += 1
        return None

    def _move(self, count):
        if self.use_splice:
            try:
                return os.splice(self.src, self.dst, count, flags=os.SPLICE_F_NONBLOCK)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                self.use_splice = False
        data = os.read(self.src, count)
        if data:
            os.write(self.dst, data)
        return len(data)

    def _over_limit(self):
        """At the limit: end the session if one more byte is waiting, else close at EOF."""
        try:
            more = os.read(self.src, 1)
        except BlockingIOError:
            return None
        if not more:
            self.close()
            return None
        return rpt.STATUS_INPUT_LIMIT if self.inbound else rpt.STATUS_OUTPUT_LIMIT

    def drain(self):
        """After the program exited: move what is left in an outbound FIFO."""
        if self.inbound or self.closed:
            return None
        while not self.closed:
            try:
                if self.limit - self.bytes <= 0:
                    return self._over_limit()
                moved = self._move(min(CHUNK, self.limit - self.bytes))
            except (BlockingIOError, OSError):
                break
            if moved == 0:
                break
            self.bytes += moved
            self.moves += 1
        return None

    def close(self):
        """Stop pumping; closing the jail side of an inbound FIFO gives the program EOF."""
        if not self.closed:
            self.closed = True
            os.close(self.dst if self.inbound else self.src)


class Monitor:
    """Watches one started session until its program exits (see the module docstring)."""

    def __init__(self, sys, pid, pidfd, listener, status_fd, pumps, limits, files=()):
        self.sys = sys
        self.pid = pid
        self.pidfd = pidfd
        self.listener = listener
        self.status_fd = status_fd
        self.pumps = pumps
        self.deadline = time.monotonic() + limits.wall_seconds
        self.files = tuple(files)           # (channel, fd) of writable regular files
        self.max_output_bytes = limits.max_output_bytes
        self.kill_reason = None     # (status, reason text, syscall name or None)
        self.exec_seen = False
        self.child_error = b''

    def run(self):
        """Loop until the program exits; the caller reaps it."""
        selector = selectors.DefaultSelector()
        try:
            selector.register(self.pidfd, selectors.EVENT_READ, 'exit')
            selector.register(self.listener, selectors.EVENT_READ, 'notify')
            selector.register(self.status_fd, selectors.EVENT_READ, 'status')
            watched = {}
            while True:
                self._rewatch(selector, watched)
                timeout = self.deadline - time.monotonic()
                if timeout <= 0:
                    self.kill(rpt.STATUS_TIMEOUT, 'timeout: wall-clock limit reached')
                    timeout = None
                elif self.files:
                    self._check_files()
                    timeout = min(timeout, FILE_POLL_SECONDS)
                events = selector.select(timeout)
                done = False
                for key, _mask in events:
                    done = self._handle(selector, key) or done
                if done:
                    break
            self._drain()
        finally:
            selector.close()

    def _rewatch(self, selector, watched):
        for pump in self.pumps:
            old = watched.get(id(pump))
            new = None if pump.closed else pump.watch()
            if old == new:
                continue
            if old is not None:
                selector.unregister(old[0])
            if new is not None:
                selector.register(new[0], new[1], pump)
            watched[id(pump)] = new

    def _handle(self, selector, key):
        if key.data == 'exit':
            return True
        if key.data == 'notify':
            self._notification(selector)
        elif key.data == 'status':
            data = os.read(self.status_fd, 4096)
            self.child_error += data
            if not data:
                selector.unregister(self.status_fd)
        else:
            crossed = key.data.step()
            if crossed is not None:
                self.kill(crossed, '%s: /dev/%s crossed its limit of %d bytes' % (
                    crossed, key.data.channel.device, key.data.limit))
                key.data.close()
        return False

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
        name = syscall_name(number)
        self.kill(rpt.STATUS_SECCOMP, 'killed by seccomp: %s' % name, name)
        self._respond(notif_id, error=errno.EPERM)

    def _respond(self, notif_id, error=0, cont=False):
        try:
            fcntl.ioctl(self.listener, linux.SECCOMP_IOCTL_NOTIF_SEND,
                        linux.pack_response(notif_id, error, cont), True)
        except OSError:
            pass  # the task died meanwhile

    def _check_files(self):
        """A file channel beyond its limit (the program got EFBIG) ends the session."""
        for channel, fd in self.files:
            size = os.fstat(fd).st_size
            if size > self.max_output_bytes:
                self.kill(rpt.STATUS_OUTPUT_LIMIT, 'output-limit: /dev/%s reached %d bytes, '
                          'limit %d' % (channel.device, size, self.max_output_bytes))

    def kill(self, status, reason, syscall=None):
        """Kill the whole session and remember the first reason."""
        if self.kill_reason is None:
            self.kill_reason = (status, reason, syscall)
        self.sys.pidfd_kill(self.pidfd)

    def _drain(self):
        for pump in self.pumps:
            crossed = pump.drain()
            if crossed is not None and self.kill_reason is None:
                self.kill_reason = (crossed, '%s: /dev/%s crossed its limit of %d bytes' % (
                    crossed, pump.channel.device, pump.limit), None)
