"""The rendezvous server (proxy side) and the session meshes (object side), in one process
over real loopback sockets (green threads); each mesh gets the typed ``wire.Mesh`` that the
proxy puts in the session description."""
import logging
import os

import eventlet
import pytest

from zerocloud.object_middleware.mesh import Cancelled, Mesh
from zerocloud.proxy_middleware.rendezvous import JobRendezvous

LOG = logging.getLogger('test-mesh')


class Ended:
    def __init__(self, ok, reason=''):
        self.ok = ok
        self.retcode = 0 if ok else None
        self.status_text = 'ok' if ok else reason


def meshes(rendezvous, graph):
    """{name: Mesh} for ``graph`` = {source: [destinations]}."""
    names = sorted(set(graph) | {d for ds in graph.values() for d in ds})
    result = {}
    for name in names:
        ins = [('in/%s' % src, src) for src in names if name in graph.get(src, ())]
        outs = [('out/%s' % dst, dst) for dst in graph.get(name, ())]
        result[name] = Mesh(rendezvous.mesh(name, ins, outs), '127.0.0.1', LOG)
    return result


def connect_all(sessions):
    threads = {name: eventlet.spawn(mesh.connect) for name, mesh in sessions.items()}
    outcome = {}
    for name, thread in threads.items():
        try:
            outcome[name] = thread.wait()
        except Cancelled as cancelled:
            outcome[name] = cancelled
    return outcome


def test_channels_carry_bytes_from_sources_to_destination():
    with JobRendezvous(['a', 'b', 'c'], '127.0.0.1', 5, LOG) as rendezvous:
        sessions = meshes(rendezvous, {'a': ['c'], 'b': ['c']})
        fds = connect_all(sessions)
        assert set(fds['c']) == {'in/a', 'in/b'} and set(fds['a']) == {'out/c'}
        os.write(fds['a']['out/c'], b'from a')
        os.write(fds['b']['out/c'], b'from b')
        assert os.read(fds['c']['in/a'], 100) == b'from a'
        assert os.read(fds['c']['in/b'], 100) == b'from b'
        for name, mesh in sessions.items():
            mesh.ended(Ended(True))
            mesh.close()
        eventlet.sleep(0.05)
        assert rendezvous.failure is None


def test_a_failed_session_cancels_the_others_with_its_reason():
    with JobRendezvous(['a', 'b'], '127.0.0.1', 5, LOG) as rendezvous:
        sessions = meshes(rendezvous, {'a': ['b']})
        fds = connect_all(sessions)
        sessions['a'].ended(Ended(False, 'killed by SIGSEGV'))
        for _ in range(100):
            if sessions['b'].cancel_reason:
                break
            eventlet.sleep(0.01)
        assert rendezvous.failure == ('a', 'killed by SIGSEGV')
        assert sessions['b'].cancel_reason == 'cancelled: a failed: killed by SIGSEGV'
        assert os.read(fds['b']['in/a'], 10) == b''   # its channels are shut down
        for mesh in sessions.values():
            mesh.close()


def test_an_instance_that_never_registers_fails_the_job_at_the_deadline():
    with JobRendezvous(['a', 'b'], '127.0.0.1', 0.3, LOG) as rendezvous:
        sessions = meshes(rendezvous, {'a': ['b']})
        with pytest.raises(Cancelled, match=r'cancelled: b failed: not placed within 0.3s'):
            sessions['a'].connect()
        sessions['a'].close()
        assert rendezvous.failure[0] == 'b'


def test_a_placement_failure_cancels_waiting_sessions_at_once():
    with JobRendezvous(['a', 'b'], '127.0.0.1', 5, LOG) as rendezvous:
        sessions = meshes(rendezvous, {'a': ['b']})
        waiting = eventlet.spawn(sessions['a'].connect)
        eventlet.sleep(0.05)
        rendezvous.fail('b', '404 Error 404 Not Found while fetching /a/c/o')
        with pytest.raises(Cancelled, match='b failed: 404'):
            waiting.wait()
        sessions['a'].close()


def test_closing_the_rendezvous_cancels_running_sessions():
    rendezvous = JobRendezvous(['a', 'b'], '127.0.0.1', 5, LOG)
    sessions = meshes(rendezvous, {'a': ['b']})
    connect_all(sessions)
    rendezvous.close()
    for _ in range(100):
        if all(mesh.cancel_reason for mesh in sessions.values()):
            break
        eventlet.sleep(0.01)
    assert all(mesh.cancel_reason for mesh in sessions.values())
    for mesh in sessions.values():
        mesh.close()
        assert mesh.sockets == []
