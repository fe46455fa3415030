"""A job's session threads: the first failure cancels the others; a client hang-up too."""
import socket

import eventlet
import pytest
from swift.common import swob

from zerocloud.proxy_middleware.cancel import ClientWatch, JobThreads


class Logger:
    def __init__(self):
        self.lines = []

    def exception(self, *args):
        self.lines.append(args)


def threads():
    return JobThreads(Logger(), name=lambda item: item)


def cancelled(item, reason):
    return ('cancelled', item, reason)


def test_every_item_runs_and_outcomes_keep_their_order():
    jobs = threads()
    assert jobs.run_all(lambda item: item * 2, [3, 1, 2], cancelled) == [6, 2, 4]
    assert jobs.reason is None


def test_the_first_failure_kills_the_sessions_still_running():
    jobs, closed = threads(), []

    def session(item):
        try:
            if item == 'bad':
                eventlet.sleep(0.01)
                jobs.cancel('bad failed: crashed')
                return 'failed'
            eventlet.sleep(30)  # a busy peer: must not run to its end
            return 'finished'
        finally:
            closed.append(item)
    outcomes = jobs.run_all(session, ['slow-1', 'bad', 'slow-2'], cancelled)
    assert outcomes == [('cancelled', 'slow-1', 'bad failed: crashed'), 'failed',
                        ('cancelled', 'slow-2', 'bad failed: crashed')]
    assert sorted(closed) == ['bad', 'slow-1', 'slow-2']  # every finally ran
    assert jobs.reason == 'bad failed: crashed'


def test_an_http_error_names_its_instance_and_cancels_the_others():
    jobs = threads()

    def session(item):
        if item == 'map-2':
            raise swob.HTTPNotFound(body=b'Error 404 Not Found while fetching /a/c/o\n')
        eventlet.sleep(30)
    outcomes = jobs.run_all(session, ['map-1', 'map-2'], cancelled)
    assert isinstance(outcomes[1], swob.HTTPException) and outcomes[1].status_int == 404
    assert outcomes[0][0] == 'cancelled'
    assert jobs.reason == 'map-2 failed: 404 Not Found Error 404 Not Found while fetching /a/c/o'


def test_our_own_error_is_logged_and_cancels():
    jobs = threads()

    def session(item):
        if item == 'x':
            raise KeyError('oops')
        eventlet.sleep(30)
    outcomes = jobs.run_all(session, ['x', 'y'], cancelled)
    assert isinstance(outcomes[0], KeyError) and outcomes[1][0] == 'cancelled'
    assert jobs.reason == 'x failed: internal error' and jobs.logger.lines


def test_only_the_first_cancel_counts():
    jobs = threads()
    jobs.cancel('first')
    jobs.cancel('second')
    assert jobs.reason == 'first'


class FakeInput:
    def __init__(self, sock):
        self._sock = sock


@pytest.fixture
def client_pair():
    server, client = eventlet.green.socket.socketpair()
    yield server, client
    server.close()
    client.close()


def test_a_client_that_hangs_up_cancels_the_job(client_pair):
    server, client = client_pair
    jobs = threads()
    with ClientWatch({'eventlet.input': FakeInput(server)}, jobs):
        outcomes = []

        def session(item):
            eventlet.spawn_after(0.05, client.close)
            eventlet.sleep(30)
        outcomes = jobs.run_all(session, ['a'], cancelled)
    assert jobs.client_gone and outcomes == [('cancelled', 'a', 'the client disconnected')]


def test_a_pipelined_byte_is_not_a_hang_up(client_pair):
    server, client = client_pair
    jobs = threads()
    with ClientWatch({'eventlet.input': FakeInput(server)}, jobs):
        client.sendall(b'G')
        outcomes = jobs.run_all(lambda item: eventlet.sleep(0.05) or 'done', ['a'], cancelled)
    assert outcomes == ['done'] and not jobs.client_gone
    assert server.recv(1, socket.MSG_PEEK) == b'G'  # left for the server to read


def test_without_an_eventlet_socket_nothing_is_watched():
    with ClientWatch({}, threads()) as watch:
        assert watch.sock is None
