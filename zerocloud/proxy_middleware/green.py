"""The one adapter to eventlet used by the proxy middleware (dispatch, rendezvous)."""
import eventlet


def map_concurrently(function, items, size):
    """``[function(item) for item in items]`` run in up to ``size`` green threads, in order.

    The first exception raised by a call propagates.
    """
    pool = eventlet.GreenPool(max(1, size))
    return list(pool.imap(function, items))


def listen(bind_ip, backlog=1024):
    """A green TCP listener on ``bind_ip`` and a free port."""
    return eventlet.listen((bind_ip, 0), backlog=backlog)


def spawn(function, *args):
    """Run ``function(*args)`` in a new green thread (``.kill()`` stops it)."""
    return eventlet.spawn(function, *args)


def spawn_after(seconds, function, *args):
    """Run ``function(*args)`` in a green thread after ``seconds``."""
    return eventlet.spawn_after(seconds, function, *args)
