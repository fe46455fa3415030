"""Cluster ports are chosen below the kernel's ephemeral range: an outgoing connection (or a
health probe's TCP self-connection) can never take a server's port before it listens."""
import socket

from zerocloud.aio import cluster


def test_fixed_port_range_ends_below_the_ephemeral_range():
    with open('/proc/sys/net/ipv4/ip_local_port_range') as f:
        first_ephemeral = int(f.read().split()[0])
    low, high = cluster.fixed_port_range()
    assert low >= 1024 and high + 100 <= first_ephemeral


def test_free_port_blocks_are_below_the_ephemeral_range(tmp_path):
    low, high = cluster.fixed_port_range()
    for attempt in range(20):
        spec = cluster.spec_with_free_ports(str(tmp_path / str(attempt)), nodes=2, replicas=2)
        assert low <= spec.port < high


def test_a_self_connected_socket_is_refused():
    """A self-connection is real (bind a port, connect to it: TCP simultaneous open), and a
    probe of a port nobody listens on is refused either way (refused by the kernel, or a
    detected self-connection; which one happens is up to the kernel's port choice)."""
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.connect(('127.0.0.1', port))
    assert sock.getsockname() == sock.getpeername()  # what the kernel can hand a probe
    sock.close()
    try:
        cluster._connect(port, 1)
    except ConnectionRefusedError:
        pass  # nobody listens: refused (or a detected self-connection)
    else:
        raise AssertionError('a connection to a port nobody listens on was accepted')
