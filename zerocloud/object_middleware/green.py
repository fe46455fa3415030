"""The one adapter to eventlet used by the object middleware (green primitives, sockets)."""
import socket

import eventlet
import eventlet.semaphore
import eventlet.timeout

Semaphore = eventlet.semaphore.Semaphore
Timeout = eventlet.timeout.Timeout
_SHUT = {'read': socket.SHUT_RD, 'write': socket.SHUT_WR, 'both': socket.SHUT_RDWR}


def listen(bind_ip, backlog=64):
    """A green TCP listener on ``bind_ip`` and a free port."""
    return eventlet.listen((bind_ip, 0), backlog=backlog)


def connect(address, timeout_seconds):
    """A green TCP connection to ``(host, port)`` (blocking afterwards)."""
    with Timeout(timeout_seconds):
        sock = eventlet.connect(address)
    return sock


def spawn(function, *args):
    """Run ``function(*args)`` in a green thread (``.kill()`` stops it)."""
    return eventlet.spawn(function, *args)


def shutdown(sock, how):
    """Half-close (``read``/``write``) or fully shut down a socket; ignores closed ones."""
    try:
        sock.shutdown(_SHUT[how])
    except OSError:
        pass
