"""The object filter behind a real eventlet WSGI server on a loopback socket: the wire (v2)
round trip, heartbeats while a program runs, and a proxy that hangs up mid-session (the
session is stopped, its slot released, every descriptor closed)."""
import dataclasses
import gc
import os
import time

import eventlet
import eventlet.green.http.client
import eventlet.wsgi
import pytest

from tests.unit.object_middleware.test_object_filter import (
    EXE, SESSION, make, spools_left)
from zerocloud import wire, wire_decode


class NullLogger:
    def __getattr__(self, name):
        return lambda *args, **kwargs: None


class Server:
    def __init__(self, tmp_path, conf=None):
        self.middleware, _, self.runner, self.local = make(tmp_path, conf)
        self.sock = eventlet.listen(('127.0.0.1', 0))
        self.port = self.sock.getsockname()[1]
        self.thread = eventlet.spawn(eventlet.wsgi.server, self.sock, self.middleware,
                                     log=NullLogger(), log_output=False)

    def execute(self, body, path='/sda1/7/AUTH_test/c/o', version=wire.WIRE_VERSION):
        """Send one EXECUTE; return the connection and its response (headers read)."""
        conn = eventlet.green.http.client.HTTPConnection('127.0.0.1', self.port)
        conn.request(wire.EXECUTE_METHOD, path, body=body, headers={
            wire.VERSION_HEADER: version,
            'X-Backend-Storage-Policy-Index': '0'})
        return conn, conn.getresponse()


@pytest.fixture
def server(tmp_path):
    server = Server(tmp_path)
    yield server
    server.thread.kill()
    server.sock.close()


def frames(response):
    """``(name, payload, arrival time)`` of each frame as it arrives (a generator)."""
    for name, chunk in wire_decode.FrameReader(response.read, 1 << 24):
        yield name, chunk, time.monotonic()


def fd_count():
    """Descriptors of this process.  Garbage is collected first: when a write fails,
    eventlet.wsgi's handler leaves its connection's read file (and so the socket) open in
    a reference cycle (``StreamRequestHandler.finish`` stops at the failing ``wfile``)."""
    gc.collect()
    return len(os.listdir('/proc/self/fd'))


def settled_fd_count():
    """The descriptor count once the server has closed what a finished request left."""
    count = None
    while count != fd_count():
        count = fd_count()
        eventlet.sleep(0.05)
    return count


def fds():
    """What each descriptor of this process is (for failure messages)."""
    found = {}
    for fd in os.listdir('/proc/self/fd'):
        try:
            found[int(fd)] = os.readlink('/proc/self/fd/' + fd)
        except OSError:
            pass
    return sorted(found.items())


def wait_for(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        eventlet.sleep(0.01)
    return condition()


def test_wire_v2_round_trip(server):
    conn, response = server.execute(wire.encode_request(SESSION, executable=EXE))
    assert response.status == 200
    assert response.getheader(wire.NODE_HEADER) == '127.0.0.1:6010'
    received = [(name, chunk) for name, chunk, _ in frames(response)]
    conn.close()
    names = [name for name, _ in received]
    assert names[0] == wire.WAIT and names[-1] == wire.REPORT
    parts = {}
    for name, chunk in received:
        parts[name] = parts.get(name, b'') + chunk
    assert parts['out:stdout'] == b'got:local object bytes' and parts['out:stderr'] == EXE
    report = wire_decode.decode_json('report', parts['report'])
    assert (report['status'], report['retcode'], report['retry']) == ('ok', 3, False)
    assert server.runner.sessions[0][0].environment()['LOCAL_OBJECT'] == 'on'


def test_second_run_needs_no_executable(server):
    conn, response = server.execute(wire.encode_request(SESSION, executable=EXE))
    assert response.status == 200 and response.read()
    conn.close()
    conn, response = server.execute(wire.encode_request(SESSION))
    assert response.status == 200
    assert b'\x7fELF' in response.read()
    conn.close()


@pytest.mark.parametrize('version', ['1', '3'])
def test_other_wire_version_is_400(server, version):
    conn, response = server.execute(wire.encode_request(SESSION, executable=EXE),
                                    version=version)
    assert response.status == 400 and b'version' in response.read()
    conn.close()


def test_bad_session_field_is_400_naming_it(server):
    body = (wire.encode_frame(wire.SESSION, SESSION.to_json().replace(b'"write"', b'"wr"'))
            + wire.encode_end())
    conn, response = server.execute(body)
    text = response.read()
    assert response.status == 400 and text.startswith(b'bad session: session.devices[1].access')
    conn.close()


def test_heartbeats_arrive_while_a_slow_program_runs(server):
    server.runner.block = lambda: eventlet.sleep(1.6)
    started = time.monotonic()
    conn, response = server.execute(wire.encode_request(SESSION, executable=EXE))
    assert response.status == 200
    waits, report_at = [], None
    for name, _, at in frames(response):
        if name == wire.WAIT:
            waits.append(at - started)
        elif name == wire.REPORT:
            report_at = at - started
    conn.close()
    assert len(waits) >= 4, waits        # one at once, then one per HEARTBEAT_SECONDS
    assert waits[0] < 0.3 and report_at >= 1.6
    gaps = [b - a for a, b in zip(waits, waits[1:] + [report_at])]
    assert max(gaps) < wire.HEARTBEAT_SECONDS + 0.2, gaps


def test_proxy_hanging_up_stops_the_session_and_leaks_nothing(server, tmp_path):
    conn, response = server.execute(wire.encode_request(SESSION, executable=EXE))
    assert response.status == 200 and response.read()   # warm up: caches, logger, hub
    conn.close()
    assert wait_for(lambda: server.middleware.admission.running == 0)
    before = settled_fd_count()
    forever = eventlet.event.Event()
    server.runner.block = forever.wait
    conn, response = server.execute(wire.encode_request(SESSION))
    assert response.status == 200
    assert next(frames(response))[0] == wire.WAIT
    assert wait_for(lambda: server.runner.running == 1)
    assert server.middleware.admission.running == 1 and fd_count() > before
    response.close()
    conn.close()                                         # the proxy hangs up
    assert wait_for(lambda: server.runner.cancelled == ['a']), 'the runner was not stopped'
    assert wait_for(lambda: server.middleware.admission.running == 0)
    assert server.runner.running == 0
    assert wait_for(lambda: fd_count() == before), (before, fds())
    assert spools_left(tmp_path) == []
    assert not forever.ready()


def test_slot_of_a_session_whose_proxy_hung_up_goes_to_the_next_in_line(tmp_path):
    server = Server(tmp_path, {'zerovm_maxpool': '1'})
    try:
        forever = eventlet.event.Event()
        server.runner.block = forever.wait
        first, _ = server.execute(wire.encode_request(SESSION, executable=EXE))
        assert wait_for(lambda: server.runner.running == 1)
        before = fd_count()
        second = eventlet.green.http.client.HTTPConnection('127.0.0.1', server.port)
        second.putrequest(wire.EXECUTE_METHOD, '/sda1/7/AUTH_test/c/o')
        second.putheader(wire.VERSION_HEADER, wire.WIRE_VERSION)
        body = wire.encode_request(SESSION)
        second.putheader('Content-Length', str(len(body)))
        second.endheaders(body)
        assert wait_for(lambda: server.middleware.admission.waiting == 1)
        first.close()                                    # the running one goes away
        assert wait_for(lambda: server.runner.cancelled == ['a'])
        assert wait_for(lambda: server.runner.running == 1)   # the queued one runs
        second.close()
        assert wait_for(lambda: server.runner.cancelled == ['a', 'a'])
        assert wait_for(lambda: server.middleware.admission.running == 0)
        assert wait_for(lambda: fd_count() < before)
    finally:
        server.thread.kill()
        server.sock.close()


def test_proxy_hanging_up_while_channels_connect_shuts_them(server):
    """A session of a connected job waiting for its peers: its rendezvous connection and
    channel listener are closed when the proxy hangs up."""
    conn, response = server.execute(wire.encode_request(SESSION, executable=EXE))
    assert response.status == 200 and response.read()   # warm up
    conn.close()
    assert wait_for(lambda: server.middleware.admission.running == 0)
    before = settled_fd_count()
    rendezvous = eventlet.listen(('127.0.0.1', 0))
    registered = []

    def fake_rendezvous():
        conn, _ = rendezvous.accept()
        reader = conn.makefile('rb')
        registered.append(reader.readline())
        registered.append(reader.read())       # b'' once the session hangs up
        reader.close()
        conn.close()
    follower = eventlet.spawn(fake_rendezvous)
    mesh = wire.Mesh(rendezvous=('127.0.0.1', rendezvous.getsockname()[1]), token='t',
                     instance='a', timeout_seconds=30.0, ins=(('in/b', 'b'),))
    body = wire.encode_request(dataclasses.replace(SESSION, mesh=mesh))
    req = eventlet.green.http.client.HTTPConnection('127.0.0.1', server.port)
    req.request(wire.EXECUTE_METHOD, '/sda1/7/AUTH_test/c/o', body=body, headers={
        wire.VERSION_HEADER: wire.WIRE_VERSION, wire.CONNECTED_HEADER: '1'})
    response = req.getresponse()
    assert response.status == 200 and next(frames(response))[0] == wire.WAIT
    assert wait_for(lambda: len(registered) == 1) and b'register' in registered[0]
    response.close()
    req.close()                                          # the proxy hangs up
    follower.wait()
    assert registered[1] == b'' and len(server.runner.sessions) == 1   # nothing ran
    assert wait_for(lambda: server.middleware.admission.running == 0)
    rendezvous.close()
    assert wait_for(lambda: fd_count() == before), (before, fds())
