"""The sandbox supervisor ("zygote"): a long-lived process that runs sessions for clients.

    python -m zerocloud.sandbox.supervisor --socket PATH [--die-with-parent]

It compiles the seccomp filters once and keeps the validation verdict cache; for each client
connection it reads one request, validates the program (cached by hash, in this process so
the cache lasts), then forks a *manager* process that runs the session
(:class:`~zerocloud.sandbox.session.SessionRunner`) and writes the report back.  Sessions
therefore run concurrently, a crashing session or manager never takes the supervisor down,
and every manager dies with the supervisor (``PR_SET_PDEATHSIG``; the jail dies with its
manager the same way).  The supervisor exits when its socket file is removed or replaced,
on SIGTERM, and (``--die-with-parent``) when its parent dies.

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
MAX_FDS = 64
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
    """Accepts connections on ``socket_path`` and runs one session per connection."""

    def __init__(self, socket_path):
        self.socket_path = socket_path
        self.runner = SessionRunner()
        self.managers = set()
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
        with selectors.DefaultSelector() as selector:
            selector.register(self.listener, selectors.EVENT_READ, 'accept')
            while not self.stopping and self._socket_still_ours():
                for key, _ in selector.select(LOOP_SECONDS):
                    if key.data == 'accept':
                        self._accept(selector)
                    else:                       # a manager's pidfd: reap it at once
                        selector.unregister(key.fd)
                        os.close(key.fd)
                self._reap()
        self.listener.close()
        for pid in list(self.managers):
            os.kill(pid, signal.SIGKILL)
        while self.managers:
            self._reap(block=True)

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
            if failure is not None:
                send_message(conn, failure.to_dict())
                return
            pid = os.fork()
            if pid == 0:
                self._manage(conn, spec, fds, verdict)
            self.managers.add(pid)
            selector.register(self.runner.sys.pidfd_open(pid), selectors.EVENT_READ, pid)
        except (ValueError, SpecError, OSError) as exc:
            _reply_quietly(conn, rpt.Report(status=rpt.STATUS_ERROR,
                                            reason='bad request: %s' % exc))
        finally:
            conn.close()
            for fd in fds:
                os.close(fd)

    def _manage(self, conn, spec, fds, verdict):
        """In the forked manager: run the session, reply, exit (never returns)."""
        code = 0
        try:
            self.runner.sys.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            self.listener.close()
            conn.settimeout(None)
            report = self.runner.run(spec, fds, verdict)
            send_message(conn, report.to_dict())
        except BaseException as exc:  # the manager must always exit here
            _reply_quietly(conn, rpt.Report(status=rpt.STATUS_ERROR,
                                            reason='supervisor error: %s' % exc))
            code = 1
        finally:
            os._exit(code)

    def _reap(self, block=False):
        while self.managers:
            try:
                pid, _ = os.waitpid(-1, 0 if block else os.WNOHANG)
            except ChildProcessError:
                self.managers.clear()
                return
            if pid == 0:
                return
            self.managers.discard(pid)
            if block:
                return


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
