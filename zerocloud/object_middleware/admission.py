"""Admission control: at most ``max_pool`` sessions run, ``max_queue`` wait, the rest get 503.

The 503 of a full server carries ``X-Backend-Zerocloud-Busy: 1``
(:data:`zerocloud.wire.BUSY_HEADER`): the proxy then tries again later instead of counting
the server as failed (:mod:`zerocloud.proxy_middleware.schedule`).
"""
from swift.common import swob

from zerocloud import green, wire


class Admission:
    """A bounded pool with a bounded waiting line (per object server process).

    ``slot = admission.admit()`` before a session, ``slot.release()`` once it is over (the
    session's response may outlive the call that admitted it).
    """

    def __init__(self, max_pool, max_queue):
        self.max_pool = max_pool
        self.max_queue = max_queue
        self.running = 0
        self.waiting = 0
        self._semaphore = green.Semaphore(max_pool)

    def admit(self, wait=True):
        """Take a running slot and return it (a :class:`Slot`); ``wait=False`` (sessions of
        connected jobs, which must all start together) refuses at once instead of queueing.

        :raises HTTPServiceUnavailable: when the pool is full and the line is full too.
        """
        if self.running >= self.max_pool and (self.waiting >= self.max_queue or not wait):
            raise swob.HTTPServiceUnavailable(
                body='zerocloud: server busy (%d sessions running, %d waiting); '
                     'try again later\n' % (self.running, self.waiting),
                content_type='text/plain', headers={wire.BUSY_HEADER: '1'})
        self.waiting += 1
        try:
            self._semaphore.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        return Slot(self)

    def _release(self):
        self.running -= 1
        self._semaphore.release()


class Slot:
    """One running slot; :meth:`release` gives it back (once, however often it is called)."""

    def __init__(self, admission):
        self._admission = admission

    def release(self):
        if self._admission is not None:
            admission, self._admission = self._admission, None
            admission._release()
