"""Same-host channels are Unix stream connections, cross-host ones TCP: real sockets between
meshes in one process (green threads), a host forced "elsewhere" by its host identity."""
import logging
import os
import socket

import eventlet
import pytest

from zerocloud.channels import rendezvous as proto
from zerocloud.object_middleware.mesh import (Mesh, TCP, UNIX, UNIX_SEND_BUFFER_BYTES,
                                              host_identity)
from zerocloud.proxy_middleware.rendezvous import JobRendezvous
from tests.unit.object_middleware.test_mesh import Ended, connect_all

LOG = logging.getLogger('test-mesh-transports')
ELSEWHERE = 'another-host:1'


def meshes(rendezvous, graph, hosts=None):
    """{name: Mesh} for ``graph`` = {source: [destinations]}; ``hosts`` = {name: host_id}
    for sessions that run "on another host" (default: this one)."""
    names = sorted(set(graph) | {d for ds in graph.values() for d in ds})
    result = {}
    for name in names:
        ins = [('in/%s' % src, src) for src in names if name in graph.get(src, ())]
        outs = [('out/%s' % dst, dst) for dst in graph.get(name, ())]
        result[name] = Mesh(rendezvous.mesh(name, ins, outs), '127.0.0.1', LOG,
                            host_id=(hosts or {}).get(name))
    return result


def family(fd):
    with socket.socket(fileno=os.dup(fd)) as sock:
        return sock.family


def close_for_writing(fd):
    """What the sandbox's pump does when the program closes /dev/out/<peer>."""
    with socket.socket(fileno=os.dup(fd)) as sock:
        sock.shutdown(socket.SHUT_WR)


def read_all(fd):
    data = b''
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            eventlet.sleep(0.01)
            continue
        if not chunk:
            return data
        data += chunk


def finish(sessions):
    for mesh in sessions.values():
        mesh.ended(Ended(True))
        mesh.close()


def test_the_host_identity_is_this_kernel_and_network_namespace():
    with open('/proc/sys/kernel/random/boot_id') as boot:
        assert host_identity() == '%s:%x' % (boot.read().strip(),
                                             os.stat('/proc/self/ns/net').st_ino)


def test_same_host_channels_are_unix_both_ways_with_end_of_file_on_close():
    with JobRendezvous(['a', 'b'], '127.0.0.1', 5, LOG) as rendezvous:
        sessions = meshes(rendezvous, {'a': ['b'], 'b': ['a']})
        fds = connect_all(sessions)
        assert sessions['a'].transports == {'out/b': UNIX, 'in/b': UNIX}
        assert sessions['b'].transports == {'out/a': UNIX, 'in/a': UNIX}
        assert family(fds['a']['out/b']) == family(fds['b']['in/a']) == socket.AF_UNIX
        with open('/proc/sys/net/core/wmem_max') as wmem_max:   # the kernel doubles it
            wanted = 2 * min(UNIX_SEND_BUFFER_BYTES, int(wmem_max.read()))
        with socket.socket(fileno=os.dup(fds['a']['out/b'])) as sock:
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) == wanted
        for source, destination in (('a', 'b'), ('b', 'a')):
            os.write(fds[source]['out/' + destination], b'from ' + source.encode())
            close_for_writing(fds[source]['out/' + destination])
        assert read_all(fds['b']['in/a']) == b'from a'
        assert read_all(fds['a']['in/b']) == b'from b'
        finish(sessions)
        eventlet.sleep(0.05)
        assert rendezvous.failure is None


def test_a_peer_on_another_host_is_reached_over_tcp_others_over_unix():
    """c hears from a (another host: TCP) and from b (this host: Unix), on both listeners."""
    with JobRendezvous(['a', 'b', 'c'], '127.0.0.1', 5, LOG) as rendezvous:
        sessions = meshes(rendezvous, {'a': ['c'], 'b': ['c']}, hosts={'a': ELSEWHERE})
        fds = connect_all(sessions)
        assert sessions['c'].transports == {'in/a': TCP, 'in/b': UNIX}
        assert sessions['a'].transports == {'out/c': TCP}
        assert family(fds['c']['in/a']) == socket.AF_INET
        assert family(fds['c']['in/b']) == socket.AF_UNIX
        for source in ('a', 'b'):
            os.write(fds[source]['out/c'], b'from ' + source.encode())
            close_for_writing(fds[source]['out/c'])
        assert read_all(fds['c']['in/a']) == b'from a'
        assert read_all(fds['c']['in/b']) == b'from b'
        finish(sessions)


def test_a_cancel_shuts_unix_channels_down_as_tcp_ones():
    with JobRendezvous(['a', 'b'], '127.0.0.1', 5, LOG) as rendezvous:
        sessions = meshes(rendezvous, {'a': ['b']})
        fds = connect_all(sessions)
        assert sessions['b'].transports == {'in/a': UNIX}
        sessions['a'].ended(Ended(False, 'killed by SIGSEGV'))
        for _ in range(100):
            if sessions['b'].cancel_reason:
                break
            eventlet.sleep(0.01)
        assert sessions['b'].cancel_reason == 'cancelled: a failed: killed by SIGSEGV'
        assert os.read(fds['b']['in/a'], 10) == b''
        for mesh in sessions.values():
            mesh.close()


def test_unread_bytes_on_a_unix_channel_are_noticed():
    with JobRendezvous(['a', 'b'], '127.0.0.1', 5, LOG) as rendezvous:
        sessions = meshes(rendezvous, {'a': ['b']})
        fds = connect_all(sessions)
        assert sessions['b'].unread_inputs() == []
        os.write(fds['a']['out/b'], b'never read')
        eventlet.sleep(0.01)
        assert sessions['b'].unread_inputs() == ['in/a']
        finish(sessions)


@pytest.mark.parametrize('hosts', [{}, {'a': ELSEWHERE}])
def test_every_socket_is_closed_after_the_session(hosts):
    before = set(os.listdir('/proc/self/fd'))
    with JobRendezvous(['a', 'b'], '127.0.0.1', 5, LOG) as rendezvous:
        sessions = meshes(rendezvous, {'a': ['b'], 'b': ['a']}, hosts)
        connect_all(sessions)
        finish(sessions)
    eventlet.sleep(0.05)
    assert set(os.listdir('/proc/self/fd')) - before == set()


def test_registrations_carry_the_local_address_into_peers():
    registry = proto.Registry('t0k', ['a', 'b'])
    registry.register({'op': 'register', 'token': 't0k', 'instance': 'a', 'host': 'h',
                       'port': 1, 'host_id': 'boot:1', 'unix': 'zc-a'})
    registry.register({'op': 'register', 'token': 't0k', 'instance': 'b', 'host': 'h',
                       'port': 2})
    peers = proto.decode(registry.peers_message())['peers']
    assert peers == {'a': ['h', 1, 'boot:1', 'zc-a'], 'b': ['h', 2]}
    assert proto.is_local(peers['a'], 'boot:1') and not proto.is_local(peers['a'], 'boot:2')
    assert not proto.is_local(peers['b'], 'boot:1')     # without a local address: TCP


@pytest.mark.parametrize('local', [{'host_id': 'boot:1'}, {'unix': 'zc-a'},
                                   {'host_id': 'boot:1', 'unix': 'has space'},
                                   {'host_id': 7, 'unix': 'zc-a'}])
def test_a_half_or_malformed_local_address_is_refused(local):
    registry = proto.Registry('t0k', ['a'])
    with pytest.raises(proto.ProtocolError, match='bad local address'):
        registry.register(dict({'op': 'register', 'token': 't0k', 'instance': 'a',
                                'host': 'h', 'port': 1}, **local))


def test_a_destination_accepts_three_hundred_sources_on_both_listeners():
    """More incoming channels than one descriptor message carries, half of them from
    "another host": every one is accepted on its listener and carries its bytes."""
    sources = ['s%03d' % n for n in range(300)]
    hosts = {name: ELSEWHERE for name in sources[::2]}
    with JobRendezvous(sources + ['d'], '127.0.0.1', 20, LOG) as rendezvous:
        sessions = meshes(rendezvous, {name: ['d'] for name in sources}, hosts)
        fds = connect_all(sessions)
        transports = sessions['d'].transports
        assert len(transports) == 300
        assert [transports['in/' + name] for name in sources] == [TCP, UNIX] * 150
        for name in sources:
            os.write(fds[name]['out/d'], name.encode())
            close_for_writing(fds[name]['out/d'])
        assert [read_all(fds['d']['in/' + name]) for name in sources] == \
            [name.encode() for name in sources]
        finish(sessions)


def test_each_instance_is_told_only_the_addresses_of_its_own_peers():
    with JobRendezvous(['a', 'b', 'c'], '127.0.0.1', 5, LOG) as rendezvous:
        for name, ins, outs in (('a', (), [('out/b', 'b')]),
                                ('b', [('in/a', 'a'), ('in/c', 'c')], ()),
                                ('c', (), [('out/b', 'b')])):
            rendezvous.mesh(name, ins, outs)
        clients = {}
        for port, name in enumerate('abc', start=1000):
            clients[name] = eventlet.connect(tuple(rendezvous.address))
            clients[name].sendall(proto.encode(
                proto.REGISTER, token=rendezvous.registry.token, instance=name,
                host='127.0.0.1', port=port))
        told = {}
        for name, sock in clients.items():
            with sock, sock.makefile('rb') as reader:
                told[name] = sorted(proto.decode(reader.readline())['peers'])
    assert told == {'a': ['b'], 'b': ['a', 'c'], 'c': ['b']}
