"""One session's side of a connected job: its channels wired before the program starts.

See :mod:`zerocloud.channels.rendezvous` for the protocol.  :meth:`Mesh.connect` opens two
listeners (TCP on the channel address, and an abstract Unix socket with a random name),
registers both with the proxy's rendezvous along with this server's :func:`host_identity`,
waits for the address map, connects the outgoing channels (handshake first, then
half-closed for reading), accepts and checks the incoming ones (half-closed for writing) and
returns ``{sandbox device: fd}``.

A channel whose two ends run on the same host (the same kernel and network namespace: the
same :func:`host_identity`) is a Unix stream connection (a socketpair's equal, made across
the processes of different servers or workers); one between hosts is TCP.
:attr:`Mesh.transports` says which each channel got, and the server's log line
``zerocloud: <instance> channels wired: <n> unix, <m> tcp`` counts them.  Both behave alike:
the same handshake, end-of-file when the source closes, shut down on cancel.

While the program runs a green thread follows the rendezvous connection: a ``cancel`` (or
the proxy hanging up) shuts every channel down, so the program sees end-of-file and broken
pipes and its session ends.  :meth:`Mesh.ended` tells the proxy how the session ended.

Every wait is bounded by the job's registration deadline; every socket is closed by
:meth:`Mesh.close` (the session calls it whatever happened).
"""
import os
import secrets
import socket
import time

from zerocloud.channels import rendezvous as proto
from zerocloud import green

HANDSHAKE_MAX = 512
DEADLINE_MARGIN_SECONDS = 2.0   # the proxy's deadline passes first and says who was missing
BACKLOG_MARGIN = 16
UNIX, TCP = 'unix', 'tcp'
# What a Unix channel may hold in flight (the kernel doubles it, capped at net.core.wmem_max):
# the default (~208 KiB) made the supervisor's pumps wake up for every ~200 KiB; loopback TCP
# autotunes its buffers up to tcp_wmem's maximum (4 MiB) anyway.
UNIX_SEND_BUFFER_BYTES = 1 << 20


def host_identity():
    """This host as its peers must see it to reach its abstract Unix sockets: the kernel's
    boot id (random per boot of a machine) and this process's network namespace."""
    with open('/proc/sys/kernel/random/boot_id') as boot:
        boot_id = boot.read().strip()
    return '%s:%x' % (boot_id, os.stat('/proc/self/ns/net').st_ino)


class Cancelled(Exception):
    """The job was cancelled (or its rendezvous failed) before this program started."""


class Mesh:
    """The channels of one session (see the module docstring).

    :param mesh: the session's :class:`zerocloud.wire.Mesh` (rendezvous address, token,
        instance, registration timeout, ``(device, peer)`` pairs in and out).
    :param bind_ip: the address this server's channels listen on.
    :param host_id: this host's identity (default :func:`host_identity`; another value
        makes every channel of this session TCP, as if it ran on another host).
    """

    def __init__(self, mesh, bind_ip, logger, host_id=None):
        self.mesh = mesh
        self.token = mesh.token
        self.instance = mesh.instance
        self.ins = {peer: device for device, peer in mesh.ins}
        self.outs = list(mesh.outs)
        self.bind_ip = bind_ip
        self.logger = logger
        self.deadline = time.monotonic() + mesh.timeout_seconds + DEADLINE_MARGIN_SECONDS
        self.host_id = host_id or host_identity()
        self.sockets = []
        self.transports = {}       # sandbox device -> UNIX or TCP
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
            backlog = len(self.ins) + BACKLOG_MARGIN
            listeners = {TCP: self._listening(green.listen(self.bind_ip, backlog=backlog))}
            unix_name = 'zerocloud-channels-' + secrets.token_hex(12)
            listeners[UNIX] = self._listening(green.listen_unix(unix_name, backlog))
            peers = self._register(listeners[TCP].getsockname()[1], unix_name)
            fds = {}
            for device, peer in self.outs:
                fds[device] = self._connect_out(device, peers[peer], peer)
            local = sum(proto.is_local(peers[source], self.host_id) for source in self.ins)
            for transport, count in ((UNIX, local), (TCP, len(self.ins) - local)):
                for _ in range(count):
                    source, sock = self._accept_in(listeners[transport])
                    self._incoming[source] = sock
                    fds[self.ins[source]] = sock.fileno()
                    self.transports[self.ins[source]] = transport
            for listener in listeners.values():
                listener.close()
                self.sockets.remove(listener)
            # The fds stay non-blocking: the sandbox's pumps select on them (a blocking
            # socket can stall a pump in splice and hang the session).
        except green.Timeout:
            raise Cancelled('%s: channels not connected before the registration deadline'
                            % self.instance)
        except (OSError, proto.ProtocolError, KeyError) as err:
            raise Cancelled('%s: channel set-up failed: %s' % (self.instance, err))
        self.logger.info('zerocloud: %s channels wired: %d unix, %d tcp', self.instance,
                         list(self.transports.values()).count(UNIX),
                         list(self.transports.values()).count(TCP))
        self._watcher = green.spawn(self._watch)
        return fds

    def _listening(self, listener):
        self.sockets.append(listener)
        return listener

    def _register(self, port, unix_name):
        self._rendezvous = green.connect(tuple(self.mesh.rendezvous), self._remaining())
        self._rendezvous.sendall(proto.encode(
            proto.REGISTER, token=self.token, instance=self.instance, host=self.bind_ip,
            port=port, host_id=self.host_id, unix=unix_name))
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

    def _connect_out(self, device, address, peer):
        """Connect ``device`` to ``peer`` registered at ``address``: its Unix socket when
        it runs on this host, else TCP."""
        if proto.is_local(address, self.host_id):
            sock = green.connect_unix(address[3], self._remaining())
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, UNIX_SEND_BUFFER_BYTES)
            self.transports[device] = UNIX
        else:
            sock = green.connect((address[0], int(address[1])), self._remaining())
            self.transports[device] = TCP
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
