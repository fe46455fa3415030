"""Pumps: a channel's bytes between a client's fd and the FIFO a sandboxed program sees.

A :class:`Pump` moves bytes between the client's fd (a pipe, a socket, a terminal) and the
FIFO the program sees at ``/dev/<device>`` with ``os.splice`` (read/write when splice does
not apply, e.g. a terminal).  It counts exactly what crossed (bytes, and the number of moves,
which approximates the program's calls) and enforces the per-channel limit exactly: at most
``limit`` bytes pass, one more pending byte ends the session with ``output-limit`` /
``input-limit``; exactly ``limit`` bytes and then end of file is ``ok``.

Pumps are driven by the sandbox's session monitor (:mod:`zerocloud.sandbox.monitor`), one
per pipe or socket channel; they never block (the FIFO side is non-blocking, and a client fd
is read only when the event loop found it ready).
"""
import array
import errno
import fcntl
import os
import select
import selectors
import socket
import stat
import termios

from zerocloud import report as rpt

CHUNK = 1 << 20
FIFO_BYTES = 1 << 20      # FIFO buffer size (F_SETPIPE_SZ): fewer wake-ups per GiB
F_SETPIPE_SZ = 1031
MOVES_PER_EVENT = 16


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
        self.eof = False                 # inbound: the client has no more bytes
        self.waiting_for_dst = False
        self.src_pollable, self.dst_pollable = _pollable(self.src), _pollable(self.dst)
        self.use_splice = True
        self.reader_only = False         # outbound: the FIFO end reopened read-only
        self.to_socket = not self.inbound and stat.S_ISSOCK(os.fstat(client_fd).st_mode)
        self.on_close = None
        os.set_blocking(fifo_fd, False)
        try:
            fcntl.fcntl(fifo_fd, F_SETPIPE_SZ, FIFO_BYTES)
        except OSError:
            pass            # keep the default size

    def watch(self):
        """``(fd, event)`` the pump waits for now: the side that blocked.  A client fd that
        epoll cannot watch (``/dev/null``, ``/dev/zero``) is always ready, so then the FIFO
        side is the one to wait for."""
        if (self.waiting_for_dst or not self.src_pollable) and self.dst_pollable:
            return self.dst, selectors.EVENT_WRITE
        return self.src, selectors.EVENT_READ

    def step(self):
        """Move what is ready (a few chunks at most); a status code if a limit was crossed.

        Stops when the limit is reached: whether one more byte comes is asked only once the
        source is readable again (the client's fd may be blocking: asking earlier could
        block the whole event loop).
        """
        for _ in range(MOVES_PER_EVENT):
            before = self.bytes
            crossed = self._step_once()
            if crossed is not None or self.closed or self.eof or \
                    self.bytes in (before, self.limit):
                return crossed
        return None

    def _step_once(self):
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
            self._end_of_input()
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
            self._end_of_input()
            return None
        return rpt.STATUS_INPUT_LIMIT if self.inbound else rpt.STATUS_OUTPUT_LIMIT

    def _end_of_input(self):
        """The client's side ended.  Inbound, the FIFO must stay open until the program has
        opened it and read everything (closing earlier would discard buffered bytes or leave
        the program's open() waiting forever): the monitor closes it via :meth:`settle`."""
        if self.inbound:
            self.eof = True
        else:
            self.close()

    def writer_closed(self):
        """Outbound to a socket (a ``/dev/out/<peer>`` channel): the program closed its end
        of the FIFO.  The pump's own end was opened read-write (so that reading never saw
        end-of-file before the program opened it); it is reopened read-only, so that once
        the FIFO is drained the next read gives end-of-file and the peer gets it at once
        (:meth:`close`), not when the session ends.  The caller unregisters the old fd from
        its selector first."""
        if self.inbound or self.closed or self.reader_only:
            return
        reader = os.open('/proc/self/fd/%d' % self.src, os.O_RDONLY | os.O_NONBLOCK)
        os.dup2(reader, self.src, inheritable=False)
        os.close(reader)
        self.reader_only = True

    def settle(self, pid):
        """Inbound at EOF: close once the program holds the FIFO open and emptied it."""
        if self.eof and not self.closed and pending_bytes(self.dst) == 0 and \
                _process_has_open(pid, os.fstat(self.dst)):
            self.close()

    def close(self):
        """Stop pumping; closing the jail side of an inbound FIFO gives the program EOF;
        outbound to a socket, the socket is shut for writing, so the peer sees EOF although
        other processes (the object server) still hold the socket."""
        if not self.closed:
            self.closed = True
            if self.on_close is not None:
                self.on_close(self)      # unregister before the fd number can be reused
            os.close(self.dst if self.inbound else self.src)
            if self.to_socket:
                _shut_for_writing(self.dst)


def _process_has_open(pid, fifo_stat):
    """True when process ``pid`` has the FIFO (by device and inode) open on some fd."""
    fd_dir = '/proc/%d/fd' % pid
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return True     # gone: nobody will open it any more
    for name in names:
        try:
            st = os.stat(os.path.join(fd_dir, name))
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (fifo_stat.st_dev, fifo_stat.st_ino):
            return True
    return False


def _pollable(fd):
    """False for an fd epoll refuses (EPERM: regular files, ``/dev/null``, ``/dev/zero``),
    which is always ready for reading and writing."""
    probe = select.epoll()
    try:
        probe.register(fd, select.EPOLLIN | select.EPOLLOUT)
    except PermissionError:
        return False
    finally:
        probe.close()
    return True


def _shut_for_writing(fd):
    sock = socket.socket(fileno=os.dup(fd))
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass   # the peer is gone already
    finally:
        sock.close()


def pending_bytes(fd):
    """Bytes waiting in a pipe or FIFO (FIONREAD)."""
    buffer = array.array('i', [0])
    fcntl.ioctl(fd, termios.FIONREAD, buffer, True)
    return buffer[0]
