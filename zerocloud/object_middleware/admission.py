"""Admission control: at most ``max_pool`` sessions run, ``max_queue`` wait, the rest get 503."""
import contextlib

from swift.common import swob

from zerocloud import green


class Admission:
    """A bounded pool with a bounded waiting line (per object server process).

    Use ``with admission.slot():`` around a session.

    :raises HTTPServiceUnavailable: when the pool is full and the line is full too.
    """

    def __init__(self, max_pool, max_queue):
        self.max_pool = max_pool
        self.max_queue = max_queue
        self.running = 0
        self.waiting = 0
        self._semaphore = green.Semaphore(max_pool)

    @contextlib.contextmanager
    def slot(self, wait=True):
        """Hold a running slot; ``wait=False`` (sessions of connected jobs, which must all
        start together) refuses at once instead of queueing."""
        if self.running >= self.max_pool and (self.waiting >= self.max_queue or not wait):
            raise swob.HTTPServiceUnavailable(
                body='zerocloud: server busy (%d sessions running, %d waiting); '
                     'try again later\n' % (self.running, self.waiting),
                content_type='text/plain')
        self.waiting += 1
        try:
            self._semaphore.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1
            self._semaphore.release()
