"""The one adapter to eventlet, shared by both filters (green threads, sockets, timeouts).

Swift's servers run under eventlet; everything zerocloud does that waits (dispatching
sessions, the rendezvous of connected jobs, waiting for a sandbox session, watching a client
socket) goes through these few functions, so a change of eventlet's API touches this file only.
"""
import socket

import eventlet
import eventlet.hubs
import eventlet.semaphore
import eventlet.timeout
import eventlet.tpool

Semaphore = eventlet.semaphore.Semaphore
Timeout = eventlet.timeout.Timeout
_SHUT = {'read': socket.SHUT_RD, 'write': socket.SHUT_WR, 'both': socket.SHUT_RDWR}


def listen(bind_ip, backlog=1024):
    """A green TCP listener on ``bind_ip`` and a free port."""
    return eventlet.listen((bind_ip, 0), backlog=backlog)


def listen_unix(name, backlog):
    """A green Unix stream listener on the abstract socket ``name`` (no file; gone when
    closed)."""
    return eventlet.listen('\0' + name, family=socket.AF_UNIX, backlog=backlog,
                           reuse_addr=False, reuse_port=False)


def connect(address, timeout_seconds):
    """A green TCP connection to ``(host, port)`` (blocking afterwards)."""
    with Timeout(timeout_seconds):
        sock = eventlet.connect(address)
    return sock


def connect_unix(name, timeout_seconds):
    """A green connection to the abstract Unix socket ``name`` (blocking afterwards)."""
    with Timeout(timeout_seconds):
        sock = eventlet.connect('\0' + name, family=socket.AF_UNIX)
    return sock


def spawn(function, *args):
    """Run ``function(*args)`` in a new green thread (``.kill()`` stops it)."""
    return eventlet.spawn(function, *args)


def spawn_after(seconds, function, *args):
    """Run ``function(*args)`` in a green thread after ``seconds``."""
    return eventlet.spawn_after(seconds, function, *args)


def call_after(seconds, function, *args):
    """Run ``function(*args)`` in a new green thread after ``seconds``, unless the returned
    timer's ``cancel()`` is called first, which also drops ``function`` and ``args`` at once
    (a killed :func:`spawn_after` keeps them referenced until its time would have come)."""
    return eventlet.hubs.get_hub().schedule_call_global(seconds, eventlet.spawn, function,
                                                        *args)


def run_in_thread(function, *args):
    """Run the blocking ``function(*args)`` in a real OS thread (eventlet's pool) and return
    its result or raise its exception; the calling green thread waits, the others run (for
    disk-heavy work such as unpacking an image)."""
    return eventlet.tpool.execute(function, *args)


def sleep(seconds=0):
    """Yield to other green threads for ``seconds``."""
    eventlet.sleep(seconds)


def shutdown(sock, how):
    """Half-close (``read``/``write``) or fully shut down a socket; ignores closed ones."""
    try:
        sock.shutdown(_SHUT[how])
    except OSError:
        pass


def client_socket(environ):
    """The socket of the client connection of a WSGI request served by eventlet, or None.

    eventlet's ``Input`` (``environ['eventlet.input']``) keeps it as ``_sock``; Swift's
    filters replace ``wsgi.input`` but leave ``eventlet.input`` alone.
    """
    return getattr(environ.get('eventlet.input'), '_sock', None)


def wait_for_hangup(sock):
    """Block (green) until the peer of ``sock`` closes it; return True then.

    Returns False when the peer sends bytes instead (a pipelined request: not a hang-up)
    or when the socket cannot be watched.
    """
    try:
        eventlet.hubs.trampoline(sock, read=True)
        return sock.recv(1, socket.MSG_PEEK) == b''
    except (OSError, ValueError):
        return True


def current():
    """The running green thread."""
    return eventlet.getcurrent()


def wait_all_or_kill(function, items):
    """``[function(item) for item in items]``, each in its own green thread, in order.

    If the caller is interrupted (killed) or a call raises, every other thread is killed
    before the exception propagates: nothing keeps running behind the caller's back.
    """
    items = list(items)
    return map_bounded(function, items, max(1, len(items)))


def map_bounded(function, items, width):
    """``[function(item) for item in items]`` with at most ``width`` green threads at a
    time, results in order; if a call raises (or the caller is killed), the others are
    killed before the exception propagates."""
    pool = eventlet.GreenPool(width)
    threads = []
    try:
        for item in items:
            threads.append(pool.spawn(function, item))
        return [thread.wait() for thread in threads]
    except BaseException:
        for thread in threads:
            thread.kill()
        raise
