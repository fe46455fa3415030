"""Talk to a sandbox supervisor: :class:`SupervisorClient` and :func:`start_supervisor`.

The client uses only the ``socket`` module, so under eventlet's monkeypatching it is green:
waiting for a session's report never blocks other greenthreads of an object server.

    handle = start_supervisor('/run/zerocloud/sandbox.sock')
    report = SupervisorClient(handle.socket_path).run(spec, [stdin_fd, stdout_fd])
    handle.stop()
"""
import array
import json
import os
import socket
import struct
import subprocess
import sys
import time

from zerocloud import report as rpt
from zerocloud.sandbox import fdpass

HEADER = struct.Struct('>I')


class SupervisorError(Exception):
    """The supervisor could not be reached or answered nonsense.

    ``delivered`` is False when the request never reached the supervisor whole (it starts
    a session only once the whole request is read: nothing ran), True when the supervisor
    failed after receiving it (the program may have started).
    """

    def __init__(self, message, delivered=False):
        super().__init__(message)
        self.delivered = delivered


class SupervisorClient:
    """Runs sessions through the supervisor listening on ``socket_path``."""

    def __init__(self, socket_path, connect_timeout=5.0):
        self.socket_path = socket_path
        self.connect_timeout = connect_timeout

    def run(self, spec, fds):
        """Send ``spec`` and the channel ``fds``; wait for and return the session's Report.

        Any number of fds (in batches of 253, :mod:`.fdpass`), one per channel of ``spec``
        in channel order.  The fds are duplicated into the supervisor; the caller still
        owns (and closes) its own.  Raises :class:`SupervisorError` if the supervisor is
        unreachable or dies.  Killing the (green) thread that waits here closes the
        socket: the supervisor then stops the session.
        """
        body = json.dumps(spec.to_dict()).encode()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.connect_timeout)
            try:
                sock.connect(self.socket_path)
            except OSError as exc:
                raise SupervisorError('cannot reach the sandbox supervisor at %s: %s'
                                      % (self.socket_path, exc)) from exc
            try:
                _send_request(sock, HEADER.pack(len(body)) + body, list(fds))
            except OSError as exc:
                raise SupervisorError('the sandbox supervisor did not take the request: %s'
                                      % exc) from exc
            sock.settimeout(None)
            try:
                return rpt.Report.from_dict(_receive(sock))
            except OSError as exc:
                raise SupervisorError('the sandbox supervisor connection failed: %s' % exc,
                                      delivered=True) from exc
        finally:
            sock.close()


def _send_request(sock, message, fds):
    """Send the request: up to 253 fds ride with the whole message in one ``sendmsg``
    (the supervisor then reads it all at once, with one wake-up); more go in batches
    (:func:`.fdpass.send_with_fds`)."""
    if not fds or len(fds) > fdpass.MAX_FDS_PER_MESSAGE:
        fdpass.send_with_fds(sock, message, fds)
        return
    rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', fds).tobytes())]
    try:
        sent = sock.sendmsg([message], rights)
    except BlockingIOError:        # (a green socket with a full buffer: nothing went out)
        fdpass.send_with_fds(sock, message, fds)
        return
    if sent < len(message):
        sock.sendall(memoryview(message)[sent:])


def _receive(sock):
    data = b''
    while len(data) < HEADER.size or len(data) < HEADER.size + HEADER.unpack_from(data)[0]:
        chunk = sock.recv(65536)
        if not chunk:
            raise SupervisorError('the sandbox supervisor closed the connection without '
                                  'a report', delivered=True)
        data += chunk
    try:
        return json.loads(data[HEADER.size:].decode())
    except ValueError as exc:
        raise SupervisorError('bad reply from the sandbox supervisor: %s' % exc,
                              delivered=True) from exc


class SupervisorHandle:
    """A supervisor process started by :func:`start_supervisor`."""

    def __init__(self, process, socket_path):
        self.process = process
        self.socket_path = socket_path

    @property
    def pid(self):
        return self.process.pid

    def stop(self, timeout=5.0):
        """Stop the supervisor (its running sessions die with it) and remove its socket."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        try:
            os.unlink(self.socket_path)
        except FileNotFoundError:
            pass


def start_supervisor(socket_path, python=None, die_with_parent=True, ready_timeout=15.0,
                     options=()):
    """Start ``python -m zerocloud.sandbox.supervisor`` and wait until it accepts.

    ``options``: more command-line options of the supervisor (``--python-prestart N``...).

    Use this from a plain process (not from inside an eventlet hub's fork-unsafe state):
    it starts a separate, small process once.  Returns a :class:`SupervisorHandle`.
    """
    command = [python or sys.executable, '-m', 'zerocloud.sandbox.supervisor',
               '--socket', socket_path] + list(options)
    if die_with_parent:
        command.append('--die-with-parent')
    env = dict(os.environ, PYTHONHASHSEED='0')
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, env=env, close_fds=True)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SupervisorError('the sandbox supervisor exited at start (status %s)'
                                  % process.returncode)
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(socket_path)
            return SupervisorHandle(process, socket_path)
        except OSError:
            time.sleep(0.02)
        finally:
            probe.close()
    process.kill()
    process.wait()
    raise SupervisorError('the sandbox supervisor did not start within %.0fs' % ready_timeout)
