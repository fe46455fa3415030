"""The green threads of one job's sessions, and how a job is cancelled.

Each session of a job runs in a green thread of its job (:class:`JobThreads`: one per
session for connected jobs, a bounded window of them for the others).  The first failure
(a session that fails, one that cannot be placed, our own error) cancels the job: every other
session's thread is killed with :class:`Cancelled`, which closes its connection to its object
server (and the GETs feeding it); the object server notices at its next heartbeat write and
stops the program at once.  A client that hangs up cancels its job the same way
(:class:`ClientWatch`), and nothing is published.
"""
from swift.common import swob

from zerocloud import green


_NOT_RUN = object()


class Cancelled(BaseException):
    """Thrown into a session's green thread when its job is cancelled (a BaseException,
    so that no ``except Exception`` on the way swallows it)."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class JobThreads:
    """Runs a job's sessions concurrently; :meth:`cancel` stops the ones still running.

    ``reason`` is the first cancel's reason (``'map-2 failed: killed by signal SIGSEGV'``),
    or None; ``name(item)`` names an item's instance in reasons.
    """

    def __init__(self, logger, name):
        self.logger = logger
        self.name = name
        self.reason = None
        self.client_gone = False
        self._threads = []

    def run_all(self, function, items, cancelled_result):
        """``function(item)`` for every item, concurrently; outcomes in order.

        An outcome is what ``function`` returned, ``cancelled_result(item, reason)`` for a
        cancelled item, or the ``HTTPException``/exception it raised (which cancels the
        others).
        """
        threads = [green.spawn(self._guard, function, item, cancelled_result)
                   for item in items]
        self._threads.extend(threads)
        outcomes = []
        try:
            for item, thread in zip(items, threads):
                try:
                    outcomes.append(thread.wait())
                except Cancelled as cancelled:  # killed before it started
                    outcomes.append(cancelled_result(item, cancelled.reason))
        except BaseException:  # the request itself was killed: nothing may run on
            self.cancel('the job was interrupted')
            raise
        return outcomes

    def run_window(self, function, items, cancelled_result, window):
        """``function(item)`` for every item of the sequence ``items``, at most ``window``
        at a time, started in order; outcomes in order, as :meth:`run_all`.

        ``window`` green threads each take the next item until none is left, so a job of
        100,000 instances holds ``window`` threads, not 100,000.  Once the job is
        cancelled, items not yet started get ``cancelled_result(item, reason)`` without
        running.
        """
        outcomes = [_NOT_RUN] * len(items)
        feed = enumerate(items)

        def work():
            for index, item in feed:
                if self.reason is not None:
                    return
                outcomes[index] = self._guard(function, item, cancelled_result)
        workers = [green.spawn(work) for _ in range(min(window, len(items)))]
        self._threads.extend(workers)
        try:
            for worker in workers:
                try:
                    worker.wait()
                except Cancelled:  # killed before it started
                    pass
        except BaseException:  # the request itself was killed: nothing may run on
            self.cancel('the job was interrupted')
            raise
        return [cancelled_result(item, self.reason) if outcome is _NOT_RUN else outcome
                for item, outcome in zip(items, outcomes)]

    def _guard(self, function, item, cancelled_result):
        try:
            return function(item)
        except Cancelled as cancelled:
            return cancelled_result(item, cancelled.reason)
        except swob.HTTPException as error:
            self.cancel('%s failed: %s' % (self.name(item), error_reason(error)))
            return error
        except Exception as error:  # our own fault: cancel the others, answer 500 later
            self.logger.exception('zerocloud: session %s failed', self.name(item))
            self.cancel('%s failed: internal error' % self.name(item))
            return error

    def cancel(self, reason):
        """Cancel the job (first call only): kill every other running session thread."""
        if self.reason is not None:
            return
        self.reason = reason
        me = green.current()
        for thread in self._threads:
            if thread is not me and not thread.dead:
                # an exc_info triple: eventlet needs one for a thread not yet started
                thread.kill(Cancelled, Cancelled(reason), None)


def error_reason(error):
    """A one-line reason from an HTTP error: status and the first line of its body."""
    body = (error.body or b'').decode('utf-8', 'replace').strip().split('\n')[0]
    return ('%s %s' % (error.status, body)).strip()


class ClientWatch:
    """While active, a client that closes its connection cancels the job.

    Works when the proxy runs under eventlet's WSGI server (the client's socket is found in
    the environ); elsewhere (unit tests) it watches nothing.
    """

    def __init__(self, environ, threads):
        self.sock = green.client_socket(environ)
        self.threads = threads
        self._watcher = None

    def __enter__(self):
        if self.sock is not None:
            self._watcher = green.spawn(self._watch)
        return self

    def _watch(self):
        if green.wait_for_hangup(self.sock):
            self.threads.client_gone = True
            self.threads.cancel('the client disconnected')

    def __exit__(self, *exc_info):
        if self._watcher is not None:
            self._watcher.kill()
