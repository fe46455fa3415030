"""The one adapter to eventlet used by the object middleware (green primitives)."""
import eventlet.semaphore
import eventlet.tpool

Semaphore = eventlet.semaphore.Semaphore


def in_thread(function, *args):
    """Run a blocking ``function(*args)`` in eventlet's thread pool (the hub keeps going)."""
    return eventlet.tpool.execute(function, *args)
