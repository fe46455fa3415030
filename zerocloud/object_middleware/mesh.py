"""One session's side of a connected job: its channels wired before the program starts.

See :mod:`zerocloud.channels.rendezvous` for the protocol.  :meth:`Mesh.connect` opens a
listener, registers with the proxy's rendezvous, waits for the address map, connects the
outgoing channels (handshake first, then half-closed for reading), accepts and checks the
incoming ones (half-closed for writing) and returns ``{sandbox device: fd}``.  While the
program runs a green thread follows the rendezvous connection: a ``cancel`` (or the proxy
hanging up) shuts every channel down, so the program sees end-of-file and broken pipes and
its session ends.  :meth:`Mesh.ended` tells the proxy how the session ended.

Every wait is bounded by the job's registration deadline; every socket is closed by
:meth:`Mesh.close` (the session calls it whatever happened).
"""
import socket
import time

from zerocloud.channels import rendezvous as proto
from zerocloud import green

HANDSHAKE_MAX = 512
DEADLINE_MARGIN_SECONDS = 2.0   # the proxy's deadline passes first and says who was missing


class Cancelled(Exception):
    """The job was cancelled (or its rendezvous failed) before this program started."""


class Mesh:
    """The channels of one session (see the module docstring).

    :param mesh: the session's :class:`zerocloud.wire.Mesh` (rendezvous address, token,
        instance, registration timeout, ``(device, peer)`` pairs in and out).
    :param bind_ip: the address this server's channels listen on.
    """

    def __init__(self, mesh, bind_ip, logger):
        self.mesh = mesh
        self.token = mesh.token
        self.instance = mesh.instance
        self.ins = {peer: device for device, peer in mesh.ins}
        self.outs = list(mesh.outs)
        self.bind_ip = bind_ip
        self.logger = logger
        self.deadline = time.monotonic() + mesh.timeout_seconds + DEADLINE_MARGIN_SECONDS
        self.sockets = []
        self.cancel_reason = None
        self._rendezvous = None
        self._reader = None
        self._watcher = None
        self._incoming = {}

    def _remaining(self):
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise Cancelled('%s: channels not connected before the registration deadline'
                            % self.instance)
        return remaining

    def connect(self):
        """Register, wait for peers, wire every channel; returns ``{device: fd}``.

        :raises Cancelled: cancelled by the proxy, deadline passed, or a peer unreachable.
        """
        try:
            listener = green.listen(self.bind_ip, backlog=len(self.ins) + 16)
            self.sockets.append(listener)
            peers = self._register(listener.getsockname()[1])
            fds = {}
            for device, peer in self.outs:
                fds[device] = self._connect_out(peers, peer)
            for _ in range(len(self.ins)):
                source, sock = self._accept_in(listener)
                self._incoming[source] = sock
                fds[self.ins[source]] = sock.fileno()
            listener.close()
            self.sockets.remove(listener)
            # The fds stay non-blocking: the sandbox's pumps select on them (a blocking
            # TCP socket can stall a pump in splice and hang the session).
        except green.Timeout:
            raise Cancelled('%s: channels not connected before the registration deadline'
                            % self.instance)
        except (OSError, proto.ProtocolError, KeyError) as err:
            raise Cancelled('%s: channel set-up failed: %s' % (self.instance, err))
        self._watcher = green.spawn(self._watch)
        return fds

    def _register(self, port):
        self._rendezvous = green.connect(tuple(self.mesh.rendezvous), self._remaining())
        self._rendezvous.sendall(proto.encode(
            proto.REGISTER, token=self.token, instance=self.instance, host=self.bind_ip,
            port=port))
        self._reader = self._rendezvous.makefile('rb')
        with green.Timeout(self._remaining()):
            line = self._reader.readline(proto.MAX_LINE + 1)
        if not line:
            raise Cancelled('%s: the rendezvous hung up before the job started' % self.instance)
        message = proto.decode(line)
        if message['op'] == proto.CANCEL:
            raise Cancelled(str(message.get('reason') or 'cancelled'))
        if message['op'] != proto.PEERS:
            raise proto.ProtocolError('expected peers, got %s' % message['op'])
        return message['peers']

    def _connect_out(self, peers, peer):
        host, port = peers[peer]
        sock = green.connect((host, int(port)), self._remaining())
        self.sockets.append(sock)
        sock.sendall(proto.encode_handshake(self.token, self.instance, peer))
        green.shutdown(sock, 'read')
        return sock.fileno()

    def _accept_in(self, listener):
        with green.Timeout(self._remaining()):
            sock, _ = listener.accept()
            self.sockets.append(sock)
            line = b''
            while not line.endswith(b'\n') and len(line) < HANDSHAKE_MAX:
                byte = sock.recv(1)  # one byte at a time: data may follow the line
                if not byte:
                    raise proto.ProtocolError('channel closed during the handshake')
                line += byte
        source = proto.decode_handshake(line, self.token, self.instance, self.ins)
        green.shutdown(sock, 'write')
        return source, sock

    def unread_inputs(self):
        """Incoming channels with bytes still waiting once the program has ended (bytes its
        source sent that nobody will read), in device order."""
        unread = []
        for source, sock in sorted(self._incoming.items()):
            try:
                if sock.fd.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT):
                    unread.append(self.ins[source])
            except OSError:  # nothing waiting (BlockingIOError), or reset by the source
                pass
        return unread

    def _watch(self):
        """Follow the rendezvous while the program runs: cancel on request or hang-up."""
        try:
            line = self._reader.readline(proto.MAX_LINE + 1)
            reason = 'the proxy hung up'
            if line:
                reason = str(proto.decode(line).get('reason') or 'cancelled')
        except (OSError, proto.ProtocolError) as err:
            reason = 'rendezvous lost: %s' % err
        self.cancel(reason)

    def cancel(self, reason):
        """Shut every channel down (the program sees EOF and broken pipes)."""
        if self.cancel_reason is None:
            self.cancel_reason = reason
            self.logger.info('zerocloud: %s cancelled: %s', self.instance, reason)
        for sock in self.sockets:
            green.shutdown(sock, 'both')

    def ended(self, report):
        """Tell the proxy how the session ended (the watcher stops first)."""
        if self._watcher is not None:
            self._watcher.kill()
            self._watcher = None
        if self._rendezvous is not None:
            try:
                reason = proto.failure_reason(report)
                self._rendezvous.sendall(proto.encode(
                    proto.ENDED, ok=reason is None, reason=reason or ''))
            except OSError:
                pass

    def close(self):
        """Close every socket of this session (channels, listener, rendezvous)."""
        if self._watcher is not None:
            self._watcher.kill()
            self._watcher = None
        for sock in self.sockets:
            sock.close()
        self.sockets = []
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._rendezvous is not None:
            self._rendezvous.close()
            self._rendezvous = None
