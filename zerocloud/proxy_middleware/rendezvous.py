"""The proxy's side of the rendezvous of one connected job (green TCP listener).

See :mod:`zerocloud.channels.rendezvous` for the protocol.  One :class:`JobRendezvous` per
connected job: it listens on ``zerovm_rendezvous_ip`` (a free port), waits for every instance
to register (``zerovm_rendezvous_timeout``), gives each instance the addresses of the peers
its channels name (not the whole job's: a big job's messages stay small), keeps every
connection open while the programs run and cancels all of them at the first failure::

    with JobRendezvous(names, config.rendezvous_ip, config.rendezvous_timeout, logger) as rv:
        mesh = rv.mesh(name, ins, outs)        # each instance's session gets its mesh
        ... dispatch; on a placement error: rv.fail(name, reason)
        rv.failure        # (instance, reason) of the first failure, or None
"""
import socket

from zerocloud.channels import rendezvous as proto
from zerocloud import green, wire


class JobRendezvous:
    """Runs the rendezvous of one job in green threads of the proxy."""

    def __init__(self, names, bind_ip, timeout_seconds, logger):
        self.registry = proto.Registry(proto.new_token(), names)
        self.timeout_seconds = timeout_seconds
        self.logger = logger
        self.connections = {}        # instance -> socket
        self.neighbours = {}         # instance -> the peers its channels name (see mesh())
        self.ended = set()
        self._accepted = []          # every connection, registered or not
        self._listener = green.listen(bind_ip)
        self.address = self._listener.getsockname()[:2]
        self._threads = [green.spawn(self._accept_loop),
                         green.spawn_after(timeout_seconds, self._deadline)]

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    @property
    def failure(self):
        return self.registry.failure

    def mesh(self, name, in_sources, out_destinations):
        """The :class:`zerocloud.wire.Mesh` of an instance's session description."""
        self.neighbours[name] = {peer for _device, peer in
                                 tuple(in_sources) + tuple(out_destinations)}
        return wire.Mesh(rendezvous=tuple(self.address), token=self.registry.token,
                         instance=name, timeout_seconds=self.timeout_seconds,
                         ins=tuple(in_sources), outs=tuple(out_destinations))

    def fail(self, instance, reason):
        """Record a failure of ``instance`` and cancel every other instance (first only)."""
        if self.registry.fail(instance, reason):
            self.logger.info('zerocloud: connected job cancelled: %s failed: %s',
                             instance, reason)
            message = self.registry.cancel_message()
            for name, conn in list(self.connections.items()):
                if name != instance and name not in self.ended:
                    _send_quietly(conn, message)

    def close(self):
        """Stop listening, drop every connection (object servers then stop their sessions)."""
        for thread in self._threads:
            thread.kill()
        self._listener.close()
        for conn in self._accepted:
            _shutdown(conn)  # a file made by makefile() would keep it open otherwise
            conn.close()
        self._accepted = []
        self.connections = {}

    def _deadline(self):
        if not self.registry.complete:
            missing = self.registry.missing
            self.fail(missing[0], self.registry.deadline_reason(self.timeout_seconds))

    def _accept_loop(self):
        while True:
            conn, _ = self._listener.accept()
            self._accepted.append(conn)
            self._threads.append(green.spawn(self._serve, conn))

    def _serve(self, conn):
        reader = conn.makefile('rb')
        name = None
        try:
            name = self.registry.register(proto.decode(reader.readline(proto.MAX_LINE + 1)))
            self.connections[name] = conn
            if self.registry.failure is not None:
                _send_quietly(conn, self.registry.cancel_message())
            elif self.registry.complete:
                for peer, peer_conn in self.connections.items():
                    _send_quietly(peer_conn, self.registry.peers_message(
                        self.neighbours.get(peer)))
            self._follow(name, reader)
        except (proto.ProtocolError, OSError) as err:
            self.logger.warning('zerocloud: rendezvous: %s: %s', name or 'unregistered', err)
            if name is not None and name not in self.ended:
                self.fail(name, 'lost contact with its object server (%s)' % err)
            conn.close()
        finally:  # the file keeps the socket open after conn.close() (a leaked fd per job)
            reader.close()

    def _follow(self, name, reader):
        """Read the instance's messages until it ends or its server hangs up."""
        while True:
            line = reader.readline(proto.MAX_LINE + 1)
            if not line:
                if name not in self.ended:
                    self.fail(name, 'its object server hung up')
                return
            message = proto.decode(line)
            if message['op'] == proto.ENDED:
                self.ended.add(name)
                if not message.get('ok'):
                    self.fail(name, str(message.get('reason') or 'failed'))
                return


def _send_quietly(conn, message):
    try:
        conn.sendall(message)
    except OSError:
        pass


def _shutdown(conn):
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
