"""Scheduling sessions on object servers: bounded in flight per server, fair between jobs,
and "server full" means "later", never a failed job.

One :class:`ServerSlots` per proxy process (in :class:`~.execution.Services`) counts the
sessions this proxy has in flight on each object server (``ip:port``, whatever job they
belong to) and lets at most ``zerovm_server_slots`` run there at once.  A session waits for a
free slot on any of its candidate servers (:meth:`ServerSlots.take`).  When a slot frees,
the jobs waiting for that server take turns: round robin by job, first come first served
within a job, so a big job cannot starve a small one.

:func:`place` runs one session.  It takes a slot on one of the session's *offered*
candidates (its object's primaries, see :func:`offered_count`; a handoff joins them only
when a primary drops out, as before), tries that server (``attempt``), and acts on what
happened (:mod:`.dispatch` says which):

* the session ran (successfully or not): its result;
* the server was full (its admission control answered 503 marked busy: another proxy, or
  another worker of this proxy, filled it): later -- after a backoff (:class:`Backoff`,
  50 ms doubling up to 2 s, jittered), on the same or another candidate (the busy one
  goes last among the offered).  Being busy never fails a session: only the job's deadline
  (``zerovm_job_timeout``, enforced by the job, which cancels its sessions) ends the wait;
* the server lacks the object or its disk, cannot be reached, or could not start the
  program: the next candidate; when none is left, the error the tries add up to (404 when
  every server answered 404, else 503 naming each server and why);
* any other refusal (400, 413...) is raised by ``attempt``: the job's answer.

Connected jobs (all instances run at once) are not queued: :meth:`ServerSlots.reserve`
takes a slot for every instance at once or refuses the job with a 503 saying how many
slots it needs and how many are free; their sessions never wait for a slot
(``place(..., wait=False)``) and a busy server just moves them to the next candidate.
"""
import collections
import contextlib
import random

from swift.common import swob

from zerocloud import green

BUSY = 'busy'   # the server was full: try again later
NEXT = 'next'   # this server cannot run it: try the next candidate
BACKOFF_FIRST_SECONDS = 0.05
BACKOFF_MAX_SECONDS = 2.0


def server_key(node):
    """An object server as a ring node names it (``ip:port``; its devices share its pool)."""
    return '%s:%s' % (node['ip'], node['port'])


def offered_count(nodes):
    """How many leading candidates are offered at once: the primaries (ring nodes without a
    ``handoff_index``), or every node when none is marked (account-only jobs, any server)."""
    primaries = sum(1 for node in nodes if 'handoff_index' not in node)
    return primaries or len(nodes)


class _Server:
    """One object server's slots: how many are in flight, and who waits (by job)."""

    def __init__(self):
        self.in_flight = 0
        self.waiting = {}   # job -> {waiter: None}, jobs in turn order, waiters in arrival

    def enqueue(self, waiter):
        self.waiting.setdefault(waiter.job, {})[waiter] = None

    def withdraw(self, waiter):
        queue = self.waiting.get(waiter.job)
        if queue is not None:
            queue.pop(waiter, None)
            if not queue:
                del self.waiting[waiter.job]

    def next_waiter(self):
        """The first waiter of the job whose turn it is (that job then goes last)."""
        for job, queue in self.waiting.items():
            waiter = next(iter(queue))
            del queue[waiter]
            del self.waiting[job]
            if queue:
                self.waiting[job] = queue
            return waiter
        return None


class _Waiter:
    """A session waiting for a slot on any of ``nodes``."""

    def __init__(self, job, nodes):
        self.job = job
        self.nodes = nodes
        self.granted = None
        self.signal = green.Semaphore(0)


class ServerSlots:
    """Sessions in flight per object server for one proxy process (``per_server`` each)."""

    def __init__(self, per_server):
        self.per_server = per_server
        self._servers = collections.defaultdict(_Server)

    def in_flight(self, node):
        """Sessions of this proxy in flight on ``node``'s server."""
        return self._servers[server_key(node)].in_flight

    @contextlib.contextmanager
    def take(self, job, nodes, wait=True):
        """Hold a slot on the first of ``nodes`` with one free (in their order), waiting
        for one (in ``job``'s turn) if none is free; yields that node, or None when none is
        free and ``wait`` is False.  The slot is given back on exit."""
        node = self._acquire(job, nodes, wait)
        try:
            yield node
        finally:
            if node is not None:
                self._release(node)

    @contextlib.contextmanager
    def held(self, node):
        """Yield ``node``, whose slot was taken already (by :meth:`reserve`); give it back
        on exit."""
        try:
            yield node
        finally:
            self._release(node)

    def reserve(self, candidate_lists):
        """Take one slot for each list of candidates, all at once, without waiting: the
        chosen nodes in order (give each back with :meth:`held` or :meth:`release`).

        :raises HTTPServiceUnavailable: naming how many slots the job needs and how many
            are free on its servers, when not every list gets one (none is kept then).
        """
        taken = [None] * len(candidate_lists)
        # The sessions with the fewest candidates (an object's replicas) choose first, each
        # the candidate where this proxy runs the fewest sessions: free sessions (any server)
        # then spread over the rest instead of filling the servers that hold the objects.
        for index in sorted(range(len(candidate_lists)), key=lambda i: len(candidate_lists[i])):
            node = self._acquire_least_loaded(candidate_lists[index])
            if node is None:
                servers = {server_key(n) for lists in candidate_lists for n in lists}
                for chosen in taken:
                    if chosen is not None:
                        self._release(chosen)
                free = sum(max(0, self.per_server - self._servers[key].in_flight)
                           for key in servers)
                raise swob.HTTPServiceUnavailable(
                    body='a connected job needs %d session slots at once; its %d object '
                         'server(s) have %d free (zerovm_server_slots = %d each): try again '
                         'later\n' % (len(candidate_lists), len(servers), free,
                                      self.per_server), content_type='text/plain')
            taken[index] = node
        return taken

    def release(self, node):
        """Give back a slot taken by :meth:`reserve` and never used."""
        self._release(node)

    def _acquire_least_loaded(self, nodes):
        """Take a slot on the node of ``nodes`` with the fewest sessions in flight (the
        first such in their order), or None when none has room."""
        loads = [(self._servers[server_key(node)].in_flight, position)
                 for position, node in enumerate(nodes)]
        free = [load for load in loads if load[0] < self.per_server]
        if not free:
            return None
        node = nodes[min(free)[1]]
        self._servers[server_key(node)].in_flight += 1
        return node

    def _acquire(self, job, nodes, wait):
        for node in nodes:
            server = self._servers[server_key(node)]
            if server.in_flight < self.per_server:   # a server with room has no waiters
                server.in_flight += 1
                return node
        if not wait or not nodes:
            return None
        waiter = _Waiter(job, nodes)
        for node in nodes:
            self._servers[server_key(node)].enqueue(waiter)
        try:
            waiter.signal.acquire()
        except BaseException:   # cancelled while waiting (or just after a grant)
            self._withdraw(waiter)
            if waiter.granted is not None:
                self._release(waiter.granted)
            raise
        return waiter.granted

    def _release(self, node):
        key = server_key(node)
        server = self._servers[key]
        server.in_flight -= 1
        waiter = server.next_waiter()
        if waiter is not None:
            self._withdraw(waiter)
            server.in_flight += 1
            waiter.granted = next(n for n in waiter.nodes if server_key(n) == key)
            waiter.signal.release()

    def _withdraw(self, waiter):
        for node in waiter.nodes:
            self._servers[server_key(node)].withdraw(waiter)


class Backoff:
    """Growing, jittered pauses between tries of a session whose servers were full."""

    def __init__(self, first_seconds=BACKOFF_FIRST_SECONDS, max_seconds=BACKOFF_MAX_SECONDS):
        self.next_seconds = first_seconds
        self.max_seconds = max_seconds

    def wait(self):
        green.sleep(self.next_seconds * random.uniform(0.5, 1.5))
        self.next_seconds = min(self.next_seconds * 2, self.max_seconds)


def place(slots, job, nodes, attempt, tried, wait=True, reserved=None):
    """Run one session on one of ``nodes`` (see the module docstring).

    :param attempt: ``node -> result | BUSY | NEXT``: one try on one server (raises the
        refusals that are the job's answer).
    :param tried: what the tries found (:class:`~.dispatch.Tried`): ``note(server, text)``
        and ``error()``, raised when no candidate is left.
    :param wait: False for connected jobs: no waiting for a slot, a busy server is skipped.
    :param reserved: a node whose slot :meth:`ServerSlots.reserve` took for this session:
        tried first.
    :returns: what ``attempt`` returned when the session ran.
    """
    remaining = list(nodes)
    width = offered_count(remaining)
    backoff = Backoff()
    while remaining:
        if reserved is not None:
            slot, reserved = slots.held(reserved), None
        else:
            slot = slots.take(job, remaining[:width], wait)
        with slot as node:
            if node is None:   # connected jobs: no free slot, and no waiting
                for full in remaining[:width]:
                    tried.note(server_key(full), 'no free slot in this proxy '
                               '(zerovm_server_slots = %d)' % slots.per_server)
                break
            outcome = attempt(node)
        if outcome is BUSY and not wait:   # noted: all busy is a 503, not a false 404
            tried.note(server_key(node), '%s: busy (its sessions and queue are full)'
                       % server_key(node), 503)
            remaining.remove(node)
        elif outcome is NEXT:
            remaining.remove(node)
        elif outcome is BUSY:
            remaining.remove(node)
            remaining.insert(min(width, len(remaining) + 1) - 1, node)
            backoff.wait()
        else:
            return outcome
    raise tried.error()
