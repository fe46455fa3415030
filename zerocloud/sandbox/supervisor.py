"""The sandbox supervisor ("zygote"): a long-lived process that runs sessions for clients.

    python -m zerocloud.sandbox.supervisor --socket PATH [--die-with-parent]

It compiles the seccomp filters once and keeps the validation verdict cache (validating
unknown executables in a short-lived child, so this process stays small and forks fast); for
each client connection it reads one request, validates the program (cached by hash), clones
the session's jail and drives every running session (pumps, seccomp notifications,
timeouts) from one event loop, writing each report back when its program is done.  One
session's failure is contained (it ends with an ``error`` report), jails die with the
supervisor (``PR_SET_PDEATHSIG``), and the supervisor exits when its socket file is
removed or replaced, on SIGTERM, and (``--die-with-parent``) when its parent dies.

Wire protocol (Unix stream socket): the request is a 4-byte big-endian length and that many
bytes of ``SessionSpec.to_dict()`` JSON, the channel fds attached (SCM_RIGHTS) to the first
bytes; the reply is a 4-byte length and ``Report.to_dict()`` JSON.  The client side lives in
:mod:`zerocloud.sandbox.client` (pure ``socket``: green under eventlet).
"""
import argparse
import array
import json
import os
import selectors
import signal
import socket
import struct
import sys

from zerocloud.sandbox import linux
from zerocloud.sandbox import report as rpt
from zerocloud.sandbox.session import SessionRunner
from zerocloud.sandbox.spec import SessionSpec, SpecError

MAX_REQUEST_BYTES = 1 << 20
MAX_FDS = 253  # SCM_MAX_FD: the most descriptors one message can carry
HEADER = struct.Struct('>I')
LOOP_SECONDS = 0.5


def recv_request(conn):
    """Read one request: ``(spec dict, fds)``; raises ValueError on a malformed one."""
    fds = array.array('i')
    data = b''
    while len(data) < HEADER.size or len(data) < HEADER.size + HEADER.unpack_from(data)[0]:
        chunk, ancdata, _flags, _addr = conn.recvmsg(
            65536, socket.CMSG_SPACE(MAX_FDS * fds.itemsize))
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
        if not chunk:
            raise ValueError('connection closed before the request was complete')
        data += chunk
        if len(data) >= HEADER.size and HEADER.unpack_from(data)[0] > MAX_REQUEST_BYTES:
            raise ValueError('request larger than %d bytes' % MAX_REQUEST_BYTES)
    body = data[HEADER.size:HEADER.size + HEADER.unpack_from(data)[0]]
    for fd in fds:
        os.set_inheritable(fd, False)
    return json.loads(body.decode()), list(fds)


def send_message(conn, payload):
    """Send a length-prefixed JSON payload."""
    body = json.dumps(payload).encode()
    conn.sendall(HEADER.pack(len(body)) + body)


class Supervisor:
    """Accepts connections on ``socket_path`` and runs their sessions from one event loop."""

    def __init__(self, socket_path):
        self.socket_path = socket_path
        self.runner = SessionRunner(prewarm=True)
        self.sessions = {}          # Monitor -> (connection, ActiveSession, channel fds)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if os.path.exists(socket_path):
            os.unlink(socket_path)
        self.listener.bind(socket_path)
        self.listener.listen(128)
        self.socket_inode = os.stat(socket_path).st_ino
        self.stopping = False

    def serve_forever(self):
        """Serve until the socket file goes away or SIGTERM arrives."""
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, 'stopping', True))
        self.runner.prepare_next_jail()
        with selectors.DefaultSelector() as selector:
            selector.register(self.listener, selectors.EVENT_READ, 'accept')
            pool = self.runner.warm_pool
            if pool.fileno() is not None:
                selector.register(pool.fileno(), selectors.EVENT_READ, 'warm')
            while not self.stopping and self._socket_still_ours():
                timeout = self._tick_sessions()
                for key, _ in selector.select(timeout):
                    if key.data == 'accept':
                        self._accept(selector)
                    elif key.data == 'warm':
                        self._collect_warm_jail(selector, key)
                    elif key.data[0] == 'client':
                        self._client_gone(selector, key)
                    else:
                        self._guarded(key.data[0], key.data[0].on_event, key)
            self.listener.close()
            for monitor in list(self.sessions):
                monitor.kill(rpt.STATUS_ERROR, 'error: the sandbox supervisor stopped')
                self._finish(monitor)
        self.runner.close()

    def _collect_warm_jail(self, selector, key):
        """A jail from the factory joins the pool (a dead factory is unwatched)."""
        pool = self.runner.warm_pool
        pool.collect()
        if pool.fileno() is None:
            selector.unregister(key.fd)

    def _tick_sessions(self):
        """Periodic work of every session; finish the finished ones; next timeout."""
        timeout = LOOP_SECONDS
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
        """The client closed its connection early: nobody wants the report, stop the session."""
        selector.unregister(key.fd)
        monitor = key.data[1]
        if monitor in self.sessions:
            monitor.kill(rpt.STATUS_ERROR, 'error: the client went away')

    def _finish(self, monitor):
        conn, active, fds = self.sessions.pop(monitor)
        try:
            monitor.selector.unregister(conn)
        except (KeyError, ValueError):
            pass
        try:
            monitor.detach()
            report = active.finish()
        except Exception as exc:  # noqa: BLE001
            report = rpt.Report(status=rpt.STATUS_ERROR, reason='supervisor error: %s' % exc)
        _reply_quietly(conn, report)
        conn.close()
        for fd in fds:
            os.close(fd)
        self.runner.prepare_next_jail()   # after the reply: the factory clones meanwhile

    def _socket_still_ours(self):
        try:
            return os.stat(self.socket_path).st_ino == self.socket_inode
        except FileNotFoundError:
            return False

    def _accept(self, selector):
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        fds = []
        try:
            conn.settimeout(5.0)
            data, fds = recv_request(conn)
            spec = SessionSpec.from_dict(data)
            failure, verdict = self.runner.prevalidate(spec)
            started = failure or self.runner.start(spec, fds, verdict)
        except (ValueError, SpecError, OSError) as exc:
            started = rpt.Report(status=rpt.STATUS_ERROR, reason='bad request: %s' % exc)
        if isinstance(started, rpt.Report):
            _reply_quietly(conn, started)
            conn.close()
            for fd in fds:
                os.close(fd)
            return
        conn.settimeout(None)
        self.sessions[started.monitor] = (conn, started, fds)
        started.monitor.attach(selector)
        selector.register(conn, selectors.EVENT_READ, ('client', started.monitor))


def _reply_quietly(conn, report):
    try:
        send_message(conn, report.to_dict())
    except OSError:
        pass


def main(argv=None):
    """Entry point: ``python -m zerocloud.sandbox.supervisor --socket PATH``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--socket', required=True, help='Unix socket path to listen on')
    parser.add_argument('--die-with-parent', action='store_true',
                        help='exit when the process that started us exits')
    args = parser.parse_args(argv)
    if args.die_with_parent:
        linux.Syscalls().prctl(linux.PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() == 1:
            return 0
    Supervisor(args.socket).serve_forever()
    return 0


if __name__ == '__main__':
    sys.exit(main())
