"""The sandbox supervisor ("zygote"): a long-lived process that runs sessions for clients.

    python -m zerocloud.sandbox.supervisor --socket PATH [--die-with-parent]
        [--python-prestart N] [--python-preimports M1,M2,...]

It compiles the seccomp filters once and keeps the validation verdict cache (validating
unknown executables in a short-lived child, so this process stays small); for each client
connection it reads one request (from the event loop, without blocking it: a client has
5 s to send it whole), validates the program (cached by file identity and hash), hands the
session to a pre-warmed jail (:mod:`zerocloud.sandbox.warm`, made by the jail factory) and
drives every running session (pumps, seccomp notifications, timeouts) from one event loop,
writing each report back when its program is done.

The event loop never waits for one session.  Each session's set-up is a
:class:`~zerocloud.sandbox.starting.SessionStart` whose steps run when what they wait for is
readable: a tar image unpacked and an unknown executable validated in a child (sessions
asking for the same file share one validation child), the jail's hand-shake (FIFOs made,
seccomp listener ready) read from its status pipe.  Each wait has a deadline (validation
60 s, each hand-shake step 5 s); a missed one ends that session with a report naming the
step, and a client that hangs up during set-up ends its set-up (a validation nobody waits
for any more is killed).  Meanwhile other sessions' pumps, timeouts and new requests go on.  At start it probes what isolation
the machine allows (:mod:`zerocloud.sandbox.isolation`; rootless user namespaces, no
privilege needed) and records the verdict beside its socket; when no jail can be built,
every session's report is ``isolation`` naming what is missing.  One
session's failure is contained (it ends with an ``error`` report), jails die with the
supervisor (``PR_SET_PDEATHSIG``), and the supervisor exits when its socket file is
removed or replaced, on SIGTERM, and (``--die-with-parent``) when its parent dies.

Wire protocol (Unix stream socket): the request is a 4-byte big-endian length and that many
bytes of ``SessionSpec.to_dict()`` JSON, one channel fd per channel of the spec attached
(SCM_RIGHTS): up to 253 with the whole message in one ``sendmsg`` (the client does: one
wake-up here), or to its first bytes in batches of at most 253 (:mod:`zerocloud.sandbox.fdpass`:
any number of channels); the reply is a 4-byte length and ``Report.to_dict()`` JSON.
Each running session holds its channel fds and about as many of its own (FIFOs, mounts):
the supervisor lifts its soft ``RLIMIT_NOFILE`` to the hard limit at start.  The client
side lives in :mod:`zerocloud.sandbox.client` (pure ``socket``: green under eventlet).
"""
import argparse
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time

from zerocloud.sandbox import fdpass, isolation, linux
from zerocloud import report as rpt
from zerocloud.sandbox.prestart import PrestartOptions
from zerocloud.sandbox.session import SessionRunner
from zerocloud.sandbox.spec import SessionSpec, SpecError

MAX_REQUEST_BYTES = 1 << 20
RECEIVE_BYTES = 1 << 16
HEADER = struct.Struct('>I')
LOOP_SECONDS = 0.5
REFILL_IDLE_SECONDS = 0.1    # the jail pools are topped up after this long idle
REQUEST_SECONDS = 5.0       # a client has this long to send its whole request


class PendingRequest:
    """A request being read without blocking: bytes and fds so far, and its deadline."""

    def __init__(self, conn):
        self.conn = conn
        self.data = bytearray()
        self.fds = []
        self.deadline = time.monotonic() + REQUEST_SECONDS

    def read(self):
        """Read what is there: ``(spec dict, fds)`` once complete, else None.

        The fds come in batches beside the first bytes (:mod:`.fdpass`): once every byte
        is read, every fd is here.  Raises ValueError on a malformed request (the fds read
        so far stay in :attr:`fds` for the caller to close)."""
        while True:
            try:
                chunk, ancillary, _flags, _addr = self.conn.recvmsg(
                    RECEIVE_BYTES, fdpass.ANCILLARY_BYTES)
            except BlockingIOError:
                return None
            self.fds.extend(fdpass.fds_of(ancillary))
            if not chunk:
                raise ValueError('connection closed before the request was complete')
            self.data += chunk
            if len(self.data) < HEADER.size:
                continue
            size = HEADER.unpack_from(self.data)[0]
            if size > MAX_REQUEST_BYTES:
                raise ValueError('request larger than %d bytes' % MAX_REQUEST_BYTES)
            if len(self.data) >= HEADER.size + size:
                return (json.loads(self.data[HEADER.size:HEADER.size + size].decode()),
                        self.fds)


def send_message(conn, payload):
    """Send a length-prefixed JSON payload."""
    body = json.dumps(payload).encode()
    conn.sendall(HEADER.pack(len(body)) + body)


class Supervisor:
    """Accepts connections on ``socket_path`` and runs their sessions from one event loop."""

    def __init__(self, socket_path, prestart=None, compiled_launcher=True):
        self.socket_path = socket_path
        self.runner = SessionRunner(prewarm=True, prestart=prestart,
                                    compiled_launcher=compiled_launcher)
        isolation.record(socket_path, self.runner.isolation)   # before anyone can connect
        self.sessions = {}          # Monitor -> (connection, ActiveSession, channel fds)
        self.starts = {}            # SessionStart -> (connection, channel fds): set-up
        self.waits = {}             # fd -> [SessionStart waiting for it to be readable]
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if os.path.exists(socket_path):
            os.unlink(socket_path)
        self.listener.bind(socket_path)
        self.listener.listen(128)
        self.socket_inode = os.stat(socket_path).st_ino
        self.stopping = False
        self.pending = {}           # connection -> PendingRequest (requests being read)
        self.idle_since = None      # when the last session, set-up or request ended

    def serve_forever(self):
        """Serve until the socket file goes away or SIGTERM arrives."""
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, 'stopping', True))
        self.runner.prepare_next_jail()
        with selectors.DefaultSelector() as selector:
            self.selector = selector
            selector.register(self.listener, selectors.EVENT_READ, 'accept')
            for fd in self.runner.warm_pool.filenos():
                selector.register(fd, selectors.EVENT_READ, 'warm')
            while not self.stopping and self._socket_still_ours():
                timeout = min(self._tick_sessions(), self._refill_when_idle())
                for key, _ in selector.select(timeout):
                    if key.data == 'accept':
                        self._accept(selector)
                    elif key.data == 'warm':
                        self._collect_warm_jail(selector, key)
                    elif isinstance(key.data, PendingRequest):
                        self._read_request(selector, key.data)
                    elif key.data == 'start':
                        self._resume_waiting(key.fd)
                    elif key.data[0] == 'client':
                        self._client_gone(selector, key)
                    else:
                        self._guarded(key.data[0], key.data[0].on_event, key)
            self.listener.close()
            for request in list(self.pending.values()):
                self._refuse(request, 'error: the sandbox supervisor stopped')
            for start in list(self.starts):
                self._unwait(start)
                start.cancel('error: the sandbox supervisor stopped')
                self._started(start)
            for monitor in list(self.sessions):
                monitor.kill(rpt.STATUS_ERROR, 'error: the sandbox supervisor stopped')
                self._finish(monitor)
        self.runner.close()
        isolation.forget(self.socket_path)

    def _collect_warm_jail(self, selector, key):
        """A jail from a factory joins the pool (a dead factory is unwatched)."""
        pool = self.runner.warm_pool
        pool.collect(key.fd)
        if key.fd not in pool.filenos():
            selector.unregister(key.fd)

    def _tick_sessions(self):
        """Periodic work of every session; finish the finished ones; next timeout."""
        timeout = min(self._expire_requests(), self._expire_starts())
        for monitor in list(self.sessions):
            wait = self._guarded(monitor, monitor.tick)
            if monitor.finished:
                self._finish(monitor)
            elif wait is not None:
                timeout = min(timeout, wait)
        return max(timeout, 0)

    def _guarded(self, monitor, method, *args):
        """Run a session's step; a bug there ends that session only, with an error report."""
        try:
            return method(*args)
        except Exception as exc:  # noqa: BLE001 - isolate one session's failure
            monitor.kill(rpt.STATUS_ERROR, 'error: supervisor failure: %s' % exc)
            monitor.finished = True
            return 0

    def _client_gone(self, selector, key):
        """The client closed its connection early: nobody wants the report, stop the session
        (or its set-up)."""
        selector.unregister(key.fd)
        owner = key.data[1]
        if owner in self.sessions:
            owner.kill(rpt.STATUS_ERROR, 'error: the client went away')
        elif owner in self.starts:
            self._unwait(owner)
            owner.cancel('error: the client went away')
            self._started(owner)

    def _finish(self, monitor):
        conn, active, fds = self.sessions.pop(monitor)
        try:
            monitor.selector.unregister(conn)
        except (KeyError, ValueError):
            pass
        try:
            monitor.detach()
            report = active.finish(release=False)
        except Exception as exc:  # noqa: BLE001
            report = rpt.Report(status=rpt.STATUS_ERROR, reason='supervisor error: %s' % exc)
        _reply_quietly(conn, report)     # first: the clean-up below is nobody's wait
        conn.close()
        try:
            active.release()
        finally:
            for fd in fds:
                os.close(fd)
        self.runner.prepare_next_jail(idle=False)     # after the reply: cloned meanwhile

    def _refill_when_idle(self):
        """Top up the jail pools once nothing has run for :data:`REFILL_IDLE_SECONDS`:
        the pre-started python jails only then (their interpreters' start would compete
        with busy sessions for the CPU: under load, sessions start normally), the warm
        jails in full (busy, they are refilled in batches: :meth:`.WarmPool.refill`);
        the next timeout."""
        if self.sessions or self.starts or self.pending:
            self.idle_since = None
            return LOOP_SECONDS
        now = time.monotonic()
        if self.idle_since is None:
            self.idle_since = now
        idle = now - self.idle_since
        if idle < REFILL_IDLE_SECONDS:
            return REFILL_IDLE_SECONDS - idle
        self.runner.prepare_next_jail()
        return LOOP_SECONDS

    def _socket_still_ours(self):
        try:
            return os.stat(self.socket_path).st_ino == self.socket_inode
        except FileNotFoundError:
            return False

    def _accept(self, selector):
        """A new connection: read its request from the event loop, never blocking it."""
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        conn.setblocking(False)
        request = self.pending[conn] = PendingRequest(conn)
        selector.register(conn, selectors.EVENT_READ, request)
        self._read_request(selector, request)     # usually it is all there already

    def _expire_requests(self):
        """Drop requests not complete by their deadline; the next timeout."""
        now, timeout = time.monotonic(), LOOP_SECONDS
        for request in list(self.pending.values()):
            if request.deadline <= now:
                self._refuse(request, 'bad request: not complete within %gs'
                             % REQUEST_SECONDS)
            else:
                timeout = min(timeout, request.deadline - now)
        return timeout

    def _refuse(self, request, reason, forget=True):
        if forget:
            self._forget_request(request)
        request.conn.setblocking(True)
        request.conn.settimeout(1.0)
        _reply_quietly(request.conn, rpt.Report(status=rpt.STATUS_ERROR, reason=reason))
        request.conn.close()
        for fd in request.fds:
            os.close(fd)

    def _forget_request(self, request):
        del self.pending[request.conn]
        self.selector.unregister(request.conn)

    def _read_request(self, selector, request):
        """Read more of a request; start its session once complete."""
        try:
            complete = request.read()
            if complete is None:
                return
            spec = SessionSpec.from_dict(complete[0])
        except (ValueError, SpecError, OSError) as exc:
            self._refuse(request, 'bad request: %s' % exc)
            return
        self._forget_request(request)
        try:
            start = self.runner.begin(spec, request.fds)
        except Exception as exc:  # noqa: BLE001 - a bug in set-up must not stop the loop
            self._refuse(request, 'error: supervisor failure: %s' % exc, forget=False)
            return
        self.starts[start] = (request.conn, request.fds)
        selector.register(request.conn, selectors.EVENT_READ, ('client', start))
        self._started(start)

    # -- session set-up (SessionStart), driven from the loop -----------------------------
    def _started(self, start):
        """After a set-up step: wait for what it waits for, or hand over its result."""
        if start.result is None:
            waiting = self.waits.setdefault(start.wait_fd, [])
            if not waiting:
                self.selector.register(start.wait_fd, selectors.EVENT_READ, 'start')
            waiting.append(start)
            return
        conn, fds = self.starts.pop(start)
        if isinstance(start.result, rpt.Report):
            if self.selector.get_map().get(conn.fileno()) is not None:   # (not if it left)
                self.selector.unregister(conn)
            conn.setblocking(True)
            conn.settimeout(1.0)
            _reply_quietly(conn, start.result)
            conn.close()
            for fd in fds:
                os.close(fd)
            self.runner.prepare_next_jail(idle=False)
            return
        monitor = start.result.monitor
        self.sessions[monitor] = (conn, start.result, fds)
        self.selector.modify(conn, selectors.EVENT_READ, ('client', monitor))
        self._guarded(monitor, monitor.attach, self.selector)   # (a failure: next tick ends it)

    def _resume_waiting(self, fd):
        """``fd`` is readable: every set-up waiting for it goes on (the fd is unregistered
        first: a step may close it).  An event made stale by an earlier one of the same
        turn (its set-ups ended meanwhile) is ignored."""
        waiting = self.waits.pop(fd, None)
        if waiting is None:
            return
        self.selector.unregister(fd)
        for start in waiting:
            self._guarded_step(start, start.resume)

    def _guarded_step(self, start, method):
        """Run a set-up step; a bug there ends that session only, with an error report."""
        try:
            method()
        except Exception as exc:  # noqa: BLE001 - isolate one session's failure
            try:
                start.cancel('error: supervisor failure: %s' % exc)
            except Exception:  # noqa: BLE001 - its clean-up failed too: still answer
                pass
            if start.result is None:
                start.result = rpt.Report(status=rpt.STATUS_ERROR,
                                          reason='error: supervisor failure: %s' % exc)
        self._started(start)

    def _unwait(self, start):
        """Stop watching for ``start`` (the fd too when nobody else waits for it)."""
        waiting = self.waits.get(start.wait_fd, ())
        if start in waiting:
            waiting.remove(start)
            if not waiting:
                del self.waits[start.wait_fd]
                self.selector.unregister(start.wait_fd)

    def _expire_starts(self):
        """End the set-ups whose deadline passed; the next timeout."""
        now, timeout = time.monotonic(), LOOP_SECONDS
        expired = [start for start in self.starts
                   if start.result is None and start.deadline <= now]
        for start in expired:          # all unwatched before any step closes an fd
            self._unwait(start)
        for start in expired:
            self._guarded_step(start, start.expire)
        for start in self.starts:
            if start.result is None:
                timeout = min(timeout, start.deadline - now)
        return timeout


def _reply_quietly(conn, report):
    try:
        send_message(conn, report.to_dict())
    except OSError:
        pass


def main(argv=None):
    """Entry point: ``python -m zerocloud.sandbox.supervisor --socket PATH``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--socket', required=True, help='Unix socket path to listen on')
    parser.add_argument('--python-prestart', type=int, default=0, metavar='N',
                        help='pre-started python jails to keep (zerocloud.sandbox.prestart)')
    parser.add_argument('--python-preimports', default=None, metavar='M1,M2',
                        help='modules they import (default: prestart.DEFAULT_IMPORTS)')
    parser.add_argument('--python-jail-stage', action='store_true',
                        help='set jails up in Python, not with the compiled launcher '
                             '(zerocloud.sandbox.launcher; for comparisons)')
    parser.add_argument('--die-with-parent', action='store_true',
                        help='exit when the process that started us exits')
    args = parser.parse_args(argv)
    if args.die_with_parent:
        linux.Syscalls().prctl(linux.PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() == 1:
            return 0
    fdpass.raise_open_files_limit()    # before the jail factory starts: it inherits it
    try:
        prestart = PrestartOptions.parse(args.python_prestart, args.python_preimports)
    except ValueError as exc:
        parser.error(str(exc))
    Supervisor(args.socket, prestart, not args.python_jail_stage).serve_forever()
    return 0


if __name__ == '__main__':
    sys.exit(main())
