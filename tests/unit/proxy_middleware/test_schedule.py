"""The scheduler on its own: slots per object server, fairness between jobs, "busy" retried,
handoffs only when a primary drops out, connected jobs reserve or get a clear 503."""
import eventlet
import eventlet.event
import pytest
from swift.common import swob

from zerocloud.proxy_middleware import schedule
from zerocloud.proxy_middleware.schedule import BUSY, NEXT, ServerSlots, place


def node(port, handoff=None):
    found = {'ip': '10.0.0.1', 'port': port, 'device': 'sdb1'}
    if handoff is not None:
        found['handoff_index'] = handoff
    return found


A, B, C, HANDOFF = node(6010), node(6020), node(6030), node(6040, handoff=0)


class Tried:
    def __init__(self):
        self.notes = []

    def note(self, key, text, status=None):
        self.notes.append((key, text))

    def error(self):
        return swob.HTTPServiceUnavailable(body='no server: %s' % self.notes)


class Servers:
    """Fake object servers for :func:`place`: each try holds its slot for ``seconds``;
    records the most sessions seen at once per server."""

    def __init__(self, slots, seconds=0.01):
        self.slots = slots
        self.seconds = seconds
        self.now = {}
        self.most = {}
        self.tries = []

    def attempt(self, node, answer='ran'):
        key = schedule.server_key(node)
        self.tries.append(key)
        self.now[key] = self.now.get(key, 0) + 1
        self.most[key] = max(self.most.get(key, 0), self.now[key])
        assert self.now[key] <= self.slots.in_flight(node)  # the slot is held while it runs
        eventlet.sleep(self.seconds)
        self.now[key] -= 1
        return answer


def run_sessions(slots, servers, sessions):
    """``sessions``: [(job, nodes)]; every one placed in its own green thread."""
    threads = [eventlet.spawn(place, slots, job, nodes, servers.attempt, Tried())
               for job, nodes in sessions]
    return [thread.wait() for thread in threads]


def test_never_more_than_the_bound_in_flight_per_server():
    slots = ServerSlots(3)
    servers = Servers(slots)
    outcomes = run_sessions(slots, servers, [('job', [A])] * 20 + [('job', [A, B])] * 20)
    assert outcomes == ['ran'] * 40
    assert servers.most == {'10.0.0.1:6010': 3, '10.0.0.1:6020': 3}
    assert slots.in_flight(A) == slots.in_flight(B) == 0


def test_devices_of_one_server_share_its_slots():
    slots = ServerSlots(2)
    servers = Servers(slots)
    other_device = dict(A, device='sdc1')
    assert run_sessions(slots, servers, [('job', [A]), ('job', [other_device])] * 5) == \
        ['ran'] * 10
    assert servers.most == {'10.0.0.1:6010': 2}


def test_two_jobs_sharing_a_server_take_turns():
    slots = ServerSlots(1)
    order = []

    def session(job, number):
        with slots.take(job, [A]):
            order.append((job, number))
            eventlet.sleep(0.001)
    big = [eventlet.spawn(session, 'big', n) for n in range(30)]
    eventlet.sleep(0)   # the big job's sessions are all waiting before the small one comes
    small = [eventlet.spawn(session, 'small', n) for n in range(5)]
    for thread in big + small:
        thread.wait()
    assert len(order) == 35
    assert [number for job, number in order if job == 'small'] == [0, 1, 2, 3, 4]
    last_small = max(i for i, (job, _) in enumerate(order) if job == 'small')
    assert last_small <= 11, order   # alternating once both wait, not after the big one
    assert [number for job, number in order if job == 'big'] == list(range(30))


class Holder:
    """A green thread holding a slot (``take``) until :meth:`done`."""

    def __init__(self, slots, job, nodes):
        self.node = None
        self._release = eventlet.event.Event()
        self._thread = eventlet.spawn(self._hold, slots, job, nodes)
        eventlet.sleep(0)

    def _hold(self, slots, job, nodes):
        with slots.take(job, nodes) as node:
            self.node = node
            self._release.wait()

    def done(self):
        self._release.send()
        self._thread.wait()


def test_a_waiting_session_takes_whichever_candidate_frees_first():
    slots = ServerSlots(1)
    on_a, on_b = Holder(slots, 'x', [A]), Holder(slots, 'y', [B])
    waiting = Holder(slots, 'z', [A, B])
    assert waiting.node is None
    on_b.done()
    eventlet.sleep(0)
    assert waiting.node is B and slots.in_flight(B) == 1 and slots.in_flight(A) == 1
    waiting.done()
    on_a.done()
    assert slots.in_flight(A) == slots.in_flight(B) == 0


def test_a_cancelled_waiter_leaves_no_slot_behind():
    slots = ServerSlots(1)
    on_a = Holder(slots, 'x', [A])
    waiting = Holder(slots, 'y', [A])
    waiting._thread.kill()
    on_a.done()
    assert slots.in_flight(A) == 0
    with slots.take('z', [A]) as taken:
        assert taken is A


def test_busy_is_retried_until_the_server_takes_it():
    slots = ServerSlots(2)
    answers = [BUSY, BUSY, BUSY, 'ran']
    tried = []

    def attempt(node):
        tried.append(schedule.server_key(node))
        return answers.pop(0)
    assert place(slots, 'job', [A], attempt, Tried()) == 'ran'
    assert tried == ['10.0.0.1:6010'] * 4
    assert slots.in_flight(A) == 0


def test_busy_moves_to_the_end_of_the_primaries_not_behind_the_handoffs():
    slots = ServerSlots(5)
    answers = {'10.0.0.1:6010': [BUSY, 'ran-a'], '10.0.0.1:6020': [BUSY],
               '10.0.0.1:6030': [BUSY]}
    tried = []

    def attempt(node):
        key = schedule.server_key(node)
        tried.append(key)
        return answers[key].pop(0)
    assert place(slots, 'job', [A, B, C, HANDOFF], attempt, Tried()) == 'ran-a'
    assert tried == ['10.0.0.1:6010', '10.0.0.1:6020', '10.0.0.1:6030', '10.0.0.1:6010']


def test_a_handoff_is_tried_only_when_a_primary_drops_out():
    slots = ServerSlots(1)
    tried = []

    def attempt(node):
        tried.append(schedule.server_key(node))
        return NEXT if node is B else 'ran'
    on_a, on_b = Holder(slots, 'other', [A]), Holder(slots, 'other', [B])
    thread = eventlet.spawn(place, slots, 'job', [A, B, HANDOFF], attempt, Tried())
    eventlet.sleep(0.01)
    assert tried == []   # both primaries full: it waits, the free handoff is not offered
    on_b.done()
    assert thread.wait() == 'ran'
    assert tried == ['10.0.0.1:6020', '10.0.0.1:6040']   # B dropped out: the handoff joined
    on_a.done()
    assert slots.in_flight(A) == slots.in_flight(B) == slots.in_flight(HANDOFF) == 0


def test_next_on_every_candidate_gives_up_with_what_was_tried():
    slots = ServerSlots(1)
    tried = Tried()

    def attempt(node):
        tried.note(schedule.server_key(node), 'down')
        return NEXT
    with pytest.raises(swob.HTTPException) as raised:
        place(slots, 'job', [A, B], attempt, tried)
    assert raised.value.status_int == 503
    assert tried.notes == [('10.0.0.1:6010', 'down'), ('10.0.0.1:6020', 'down')]


def test_without_waiting_a_full_proxy_is_a_refusal_naming_the_bound():
    slots = ServerSlots(1)
    tried = Tried()
    with slots.take('other', [A]):
        with pytest.raises(swob.HTTPException):
            place(slots, 'job', [A], lambda node: 'ran', tried, wait=False)
    assert tried.notes == [('10.0.0.1:6010',
                            'no free slot in this proxy (zerovm_server_slots = 1)')]


def test_a_connected_job_reserves_every_slot_or_none():
    slots = ServerSlots(2)
    chosen = slots.reserve([[A, B]] * 4)
    assert [schedule.server_key(n) for n in chosen] == ['10.0.0.1:6010', '10.0.0.1:6020'] * 2
    for taken in chosen:
        slots.release(taken)
    with slots.take('other', [A]):
        with pytest.raises(swob.HTTPException) as raised:
            slots.reserve([[A, B]] * 4)
    error = raised.value
    assert error.status_int == 503
    assert b'needs 4 session slots at once' in error.body
    assert b'2 object server(s) have 3 free' in error.body
    assert slots.in_flight(A) == slots.in_flight(B) == 0   # nothing kept


def test_sessions_bound_to_an_object_choose_first_and_free_ones_spread_over_the_rest():
    """One slot per server, one mapper whose object is on A or B, three free readers (any
    of the four servers, listed A first): only choosing the mapper first and spreading the
    readers fits the job; first-free in list order would put every reader on A."""
    D = node(6050)
    slots = ServerSlots(1)
    chosen = slots.reserve([[A, B, C, D]] * 3 + [[A, B]])
    assert sorted(schedule.server_key(n) for n in chosen) == [
        '10.0.0.1:6010', '10.0.0.1:6020', '10.0.0.1:6030', '10.0.0.1:6050']
    assert schedule.server_key(chosen[3]) in ('10.0.0.1:6010', '10.0.0.1:6020')


def test_a_busy_server_of_a_connected_job_is_noted_as_busy():
    """Without waiting, every server busy is a 503 that says so (not, say, the 404 of a
    handoff that was tried next)."""
    tried = Tried()
    with pytest.raises(swob.HTTPException):
        place(ServerSlots(1), 'job', [A, B], lambda node: BUSY, tried, wait=False)
    assert [text for _key, text in tried.notes] == [
        '10.0.0.1:6010: busy (its sessions and queue are full)',
        '10.0.0.1:6020: busy (its sessions and queue are full)']


def test_backoff_grows_to_its_cap():
    backoff = schedule.Backoff(first_seconds=0.001, max_seconds=0.004)
    for _ in range(4):
        backoff.wait()
    assert backoff.next_seconds == 0.004


def test_offered_are_the_primaries_or_every_node():
    assert schedule.offered_count([A, B, C, HANDOFF]) == 3
    assert schedule.offered_count([A, B]) == 2
    assert schedule.offered_count([]) == 0
