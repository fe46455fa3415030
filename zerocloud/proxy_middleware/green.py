"""The one adapter to eventlet used by the proxy middleware (concurrent dispatch)."""
import eventlet


def map_concurrently(function, items, size):
    """``[function(item) for item in items]`` run in up to ``size`` green threads, in order.

    The first exception raised by a call propagates.
    """
    pool = eventlet.GreenPool(max(1, size))
    return list(pool.imap(function, items))
