"""Helpers for the map-reduce functional tests: python nodes, leftovers on the servers."""
import os
import time

from tests.functional.test_jobs_checks import post_job  # noqa: F401 (re-exported)

TCP_LISTEN = '0A'


def python_node(name, container, script, devices=(), args='', **extra):
    """A node running ``swift://~/<container>/<script>`` with the python system image."""
    node = {'name': name,
            'exec': {'path': 'file://python:python', 'args': ('/dev/script ' + args).strip()},
            'devices': [{'name': 'python'},
                        {'name': 'script', 'path': 'swift://~/%s/%s' % (container, script)}]
            + list(devices)}
    node.update(extra)
    return node


def _cmdline(pid):
    try:
        with open('/proc/%s/cmdline' % pid, 'rb') as handle:
            return handle.read()
    except OSError:
        return b''


def processes_with(marker):
    """Pids whose command line contains ``marker`` (bytes)."""
    return [pid for pid in os.listdir('/proc') if pid.isdigit() and marker in _cmdline(pid)]


def cluster_pids(cluster, kind):
    """Pids of the cluster's ``kind`` servers (``object``, ``proxy``)."""
    needle = os.path.join(cluster.etc_dir, kind).encode()
    return [pid for pid in os.listdir('/proc') if pid.isdigit() and needle in _cmdline(pid)]


def socket_inodes(pid):
    inodes = set()
    try:
        for fd in os.listdir('/proc/%s/fd' % pid):
            try:
                target = os.readlink('/proc/%s/fd/%s' % (pid, fd))
            except OSError:
                continue
            if target.startswith('socket:['):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


def tcp_sockets():
    """``{inode: (local port, remote port, state)}`` of the TCP sockets of this netns."""
    sockets = {}
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        with open(table) as handle:
            for line in list(handle)[1:]:
                fields = line.split()
                sockets[fields[9]] = (int(fields[1].rsplit(':', 1)[1], 16),
                                      int(fields[2].rsplit(':', 1)[1], 16), fields[3])
    return sockets


def server_sockets(cluster):
    """``(listening sockets, stray connections)`` held by the proxy and object servers.

    A stray connection has no listening service port at either end: what rendezvous and
    channel connections look like (connections to the proxy, the servers or memcache are
    the cluster's normal traffic and pools, and are not counted).
    """
    owned = set()
    for kind in ('proxy', 'object'):
        for pid in cluster_pids(cluster, kind):
            owned |= socket_inodes(pid)
    tcp = tcp_sockets()
    service_ports = {local for local, _remote, state in tcp.values() if state == TCP_LISTEN}
    listening = [inode for inode in owned if inode in tcp and tcp[inode][2] == TCP_LISTEN]
    stray = [inode for inode in owned if inode in tcp and tcp[inode][2] != TCP_LISTEN and
             tcp[inode][0] not in service_ports and tcp[inode][1] not in service_ports]
    return len(listening), len(stray)


def wait_for_no_leftovers(cluster, baseline, marker, seconds=10):
    """Wait until no session process carries ``marker`` and the servers hold no more
    sockets than ``baseline``; returns what is left ``(pids, sockets)`` (empty when clean)."""
    deadline = time.monotonic() + seconds
    while True:
        pids, sockets = processes_with(marker), server_sockets(cluster)
        clean = not pids and sockets[0] <= baseline[0] and sockets[1] <= baseline[1]
        if clean or time.monotonic() > deadline:
            return ([] if clean else pids), (None if clean else (sockets, baseline))
        time.sleep(0.2)
