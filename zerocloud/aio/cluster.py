"""Start, stop and inspect an all-in-one cluster described by a :class:`ClusterSpec`.

:func:`start` writes the configuration, builds the rings (once per cluster directory),
starts the log receiver, memcache and every Swift server, waits until each answers
``/healthcheck``, and creates the test accounts.  :func:`stop` stops exactly the processes
recorded in the pid files (and their process groups).  :func:`status` reports each process.
Errors raise :class:`ClusterError` with a message meant for the user.
"""
import http.client
import json
import os
import pwd
import random
import shutil
import socket
import sys
import tempfile
import time
import types
import urllib.error
import urllib.request

from zerocloud.aio import config, pipelines, processes, rings, server_user
from zerocloud.aio.spec import STORAGE_KINDS, USERS, ClusterSpec, spec_from_json

HEALTH_TIMEOUT_SECONDS = 60.0
HEALTH_POLL_SECONDS = 0.1
XATTR_PROBE_LIMIT = 65536


class ClusterError(RuntimeError):
    """The cluster cannot be started (or is not in the state asked for)."""


def process_names(spec):
    """Names of the cluster's processes, in start order (pid files and logs use them)."""
    names = ['logs', 'memcache']
    for node in spec.node_numbers():
        names += ['%s-%d' % (kind, node) for kind in STORAGE_KINDS]
    return names + ['proxy'] + (['watchdog'] if spec.owner_pid else [])


def _server_of(spec, name):
    """(server, conf path, port) of a Swift process name."""
    if name == 'proxy':
        return 'proxy-server', os.path.join(spec.etc_dir, 'proxy-server.conf'), spec.port
    kind, node = name.rsplit('-', 1)
    return ('%s-server' % kind,
            os.path.join(spec.etc_dir, config.storage_conf_path(kind, int(node))),
            spec.server_port(kind, int(node)))


def command_of(spec, name):
    """The argv that runs process ``name``."""
    python = sys.executable
    if name == 'logs':
        return [python, '-m', 'zerocloud.aio.logs', str(spec.log_port), spec.log_dir]
    if name == 'memcache':
        return memcache_command(spec.memcache_port)
    if name == 'watchdog':
        return [python, '-m', 'zerocloud.aio.watchdog', str(spec.owner_pid), spec.root]
    server, conf_path, _port = _server_of(spec, name)
    return [python, '-m', 'zerocloud.aio.bootstrap', spec.etc_dir, server, conf_path]


def memcached_path():
    """The system's ``memcached`` (Debian package ``memcached``), or None."""
    return shutil.which('memcached') or shutil.which('memcached', path='/usr/sbin:/usr/bin')


def memcache_command(port):
    """argv of the cluster's memcache: the real ``memcached`` on 127.0.0.1:``port`` (64 MiB,
    no UDP) when installed, else zerocloud's small Python server (see
    :func:`memcache_kind`).  memcached refuses to run as root without ``-u``: it is given
    the current user."""
    binary = memcached_path()
    if binary is None:
        return [sys.executable, '-m', 'zerocloud.aio.memcache', str(port)]
    return [binary, '-l', '127.0.0.1', '-p', str(port), '-U', '0', '-m', '64',
            '-u', pwd.getpwuid(os.getuid()).pw_name]


def memcache_kind():
    """What serves memcache: ``memcached`` or the Python fallback, saying how to get the
    real one."""
    if memcached_path():
        return 'memcached'
    return 'python fallback (install the memcached package for the real one)'


def running(spec):
    """{name: pid} of the cluster's processes that run now."""
    pids = {name: processes.running_pid(spec.run_dir, name) for name in process_names(spec)}
    return {name: pid for name, pid in pids.items() if pid}


def recorded_spec(root):
    """The ClusterSpec recorded in ``root/aio.json``, or None if there is none."""
    try:
        with open(os.path.join(os.path.abspath(root), 'aio.json')) as f:
            return spec_from_json(root, f.read())
    except FileNotFoundError:
        return None


def probe_xattr_room(directory):
    """Bytes of one user xattr a file in ``directory`` can hold (up to 64 KiB)."""
    fd, path = tempfile.mkstemp(dir=directory, prefix='.xattr-probe')
    try:
        low, high = 0, XATTR_PROBE_LIMIT
        while low < high:
            middle = (low + high + 1) // 2
            try:
                os.setxattr(path, 'user.zerocloud.probe', b'x' * middle)
                low = middle
            except OSError:
                high = middle - 1
        return low
    finally:
        os.close(fd)
        os.unlink(path)


def check_ports_free(spec):
    """:raises ClusterError: naming the first port something else listens on."""
    for port in spec.all_ports():
        kind = socket.SOCK_DGRAM if port == spec.log_port else socket.SOCK_STREAM
        with socket.socket(socket.AF_INET, kind) as sock:
            if kind == socket.SOCK_STREAM:  # as the servers do: TIME_WAIT is no conflict
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(('127.0.0.1', port))
            except OSError as exc:
                raise ClusterError('port %d is in use (%s): choose another with --port'
                                   % (port, exc.strerror)) from exc


def check_topology(spec):
    """:raises ClusterError: the directory holds a cluster built with another topology."""
    previous = recorded_spec(spec.root)
    if previous and previous.topology() != spec.topology():
        raise ClusterError('%s holds a cluster built with %s; use another --dir or remove it'
                           % (spec.root, json.dumps(previous.topology(), sort_keys=True)))


def check_same_settings(spec):
    """:raises ClusterError: the running cluster was started with other filter options,
    filters or encryption (they take effect only at a start)."""
    previous = recorded_spec(spec.root)
    if previous is None:
        return
    for name in ('filter_options', 'zerocloud', 'encryption'):
        was, wanted = getattr(previous, name), getattr(spec, name)
        if was != wanted:
            raise ClusterError('the cluster in %s runs with %s=%s; to use %s, stop it first'
                               % (spec.root, name, _shown(was), _shown(wanted)))


def _shown(value):
    if isinstance(value, types.MappingProxyType):
        return json.dumps({k: dict(v) for k, v in value.items()}, sort_keys=True)
    return json.dumps(value)


def fixed_port_range(low=10000):
    """Ports below the kernel's ephemeral range (``ip_local_port_range``), where no outgoing
    connection can take a server's port before the server listens on it."""
    try:
        with open('/proc/sys/net/ipv4/ip_local_port_range') as f:
            first_ephemeral = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        first_ephemeral = 32768
    return low, max(low + 1000, first_ephemeral - 200)


def spec_with_free_ports(root, port_range=None, attempts=50, **fields):
    """A ClusterSpec in ``root`` whose ports are all free now (random block of 100), by
    default below the ephemeral port range (:func:`fixed_port_range`).

    :raises ClusterError: no free block found in ``attempts`` tries.
    """
    port_range = port_range or fixed_port_range()
    chooser = random.Random()
    for _ in range(attempts):
        port = chooser.randrange(*port_range) // 100 * 100
        spec = ClusterSpec(root=root, port=port, **fields)
        try:
            check_ports_free(spec)
            return spec
        except ClusterError:
            continue
    raise ClusterError('no free block of ports in %d-%d' % port_range)


def start_with_free_ports(root, attempts=5, **fields):
    """Start a cluster in ``root/<attempt>`` on free ports, trying again on another block
    when a port is taken between the check and the bind (another cluster starting beside
    it); return its spec.  For benchmarks and tools (the tests' fixtures do the same and
    fail the test with every attempt's message).

    :raises ClusterError: the last attempt's error.
    """
    for attempt in range(attempts):
        spec = spec_with_free_ports(os.path.join(root, str(attempt)), **fields)
        try:
            start(spec)
            return spec
        except ClusterError:
            if attempt + 1 == attempts:
                raise
    raise ClusterError('no attempt to start a cluster')


def prepare(spec, account=None):
    """Create directories, configuration and rings; return the zerocloud filters included.

    ``account``: the ``pwd`` entry of the user the servers switch to (``--user``), who then
    gets the devices, run and log directories (:mod:`zerocloud.aio.server_user`)."""
    for directory in (spec.etc_dir, spec.run_dir, spec.log_dir):
        os.makedirs(directory, exist_ok=True)
    for node in spec.node_numbers():
        os.makedirs(os.path.join(spec.node_devices(node), 'd%d' % node), exist_ok=True)
    try:
        zerocloud_filters = pipelines.available_zerocloud_filters(spec.zerocloud)
    except pipelines.FilterImportError as exc:
        raise ClusterError(str(exc)) from exc
    room = probe_xattr_room(spec.node_devices(1))
    user_name = account.pw_name if account else None
    for path, text in config.render_configs(spec, zerocloud_filters, room, user_name).items():
        os.makedirs(os.path.dirname(os.path.join(spec.etc_dir, path)), exist_ok=True)
        with open(os.path.join(spec.etc_dir, path), 'w') as f:
            f.write(text)
    if not rings.rings_present(spec):
        rings.write_rings(spec)
    with open(spec.state_file, 'w') as f:
        f.write(spec.to_json())
    if account is not None:
        server_user.hand_over(spec, account)
        server_user.check_can_run(spec, account)
    return zerocloud_filters


def _connect(port, timeout):
    """A TCP connection to 127.0.0.1:``port``.

    :raises ConnectionRefusedError: also for a TCP self-connection: while nobody listens on a
        port inside the ephemeral range, the kernel may give the client that very port as its
        source and connect the socket to itself (the client then reads back its own request).
    """
    sock = socket.create_connection(('127.0.0.1', port), timeout)
    if sock.getsockname() == sock.getpeername():
        sock.close()
        raise ConnectionRefusedError('self-connection to port %d' % port)
    return sock


def _healthy(spec, name):
    """True when process ``name`` answers (healthcheck, memcache ``version``)."""
    try:
        if name in ('logs', 'watchdog'):
            return True
        if name == 'memcache':
            with _connect(spec.memcache_port, 1) as sock:
                sock.sendall(b'version\r\n')
                return sock.recv(64).startswith(b'VERSION')
        port = _server_of(spec, name)[2]
        conn = http.client.HTTPConnection('127.0.0.1', port, timeout=2)
        conn.sock = _connect(port, 2)
        try:
            conn.request('GET', '/healthcheck')
            return conn.getresponse().status == 200
        finally:
            conn.close()
    except (OSError, http.client.HTTPException):
        return False


def wait_healthy(spec, timeout=HEALTH_TIMEOUT_SECONDS):
    """Wait until every process answers.

    :raises ClusterError: a process died (its output is quoted) or the time ran out.
    """
    waiting = set(process_names(spec))
    deadline = time.monotonic() + timeout
    while waiting:
        for name in sorted(waiting):
            if not processes.running_pid(spec.run_dir, name):
                raise ClusterError('%s exited during start-up; its output:\n%s'
                                   % (name, processes.log_tail(spec.log_dir, name)))
            if _healthy(spec, name):
                waiting.discard(name)
        if waiting and time.monotonic() > deadline:
            raise ClusterError('not healthy after %ds: %s' % (timeout, ', '.join(sorted(waiting))))
        if waiting:
            time.sleep(HEALTH_POLL_SECONDS)


def get_token(spec, account, user, key):
    """(storage url, token) of a tempauth user."""
    request = urllib.request.Request(spec.auth_url, headers={
        'X-Auth-User': '%s:%s' % (account, user), 'X-Auth-Key': key})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers['X-Storage-Url'], response.headers['X-Auth-Token']


def create_accounts(spec):
    """POST once to every admin user's account, so that it really exists."""
    for account, user, key, groups in USERS:
        if '.admin' not in groups:
            continue
        url, token = get_token(spec, account, user, key)
        request = urllib.request.Request(url, method='POST', headers={'X-Auth-Token': token})
        urllib.request.urlopen(request, timeout=10).close()


def start(spec, user=None):
    """Start the cluster; return a summary dict (see :func:`describe`).

    ``user``: the system user every server runs as (:mod:`zerocloud.aio.server_user`;
    the caller must be root), None for whoever calls.

    :raises ClusterError: the directory holds another topology, the cluster is partly
        running, a port is taken, a server does not come up (everything started is stopped
        again), ``user`` cannot be used.  A cluster that fully runs already is left alone
        (``already_running``).
    """
    try:
        account = server_user.lookup(user) if user else None
    except server_user.ServerUserError as exc:
        raise ClusterError(str(exc)) from exc
    check_topology(spec)
    alive, names = running(spec), process_names(spec)
    if len(alive) == len(names):
        check_same_settings(spec)
        return dict(describe(spec), already_running=True)
    if alive:
        raise ClusterError('the cluster in %s is partly running (%d of %d processes; stopped: '
                           '%s): stop it first' % (spec.root, len(alive), len(names),
                                                   ', '.join(n for n in names if n not in alive)))
    check_ports_free(spec)
    try:
        zerocloud_filters = prepare(spec, account)
    except server_user.ServerUserError as exc:
        raise ClusterError(str(exc)) from exc
    try:
        for name in process_names(spec):
            processes.launch(spec.run_dir, spec.log_dir, name, command_of(spec, name))
        wait_healthy(spec)
        create_accounts(spec)
    except (ClusterError, OSError, urllib.error.URLError) as exc:
        stop(spec)
        if isinstance(exc, ClusterError):
            raise
        raise ClusterError('cluster start failed: %s (logs in %s)' % (exc, spec.log_dir)) from exc
    return dict(describe(spec), already_running=False, zerocloud_filters=zerocloud_filters,
                server_user=user or pwd.getpwuid(os.getuid()).pw_name)


def stop(spec):
    """Stop the cluster's processes (exactly those recorded); return the names stopped."""
    return processes.stop(spec.run_dir, list(reversed(process_names(spec))))


def status(spec):
    """[(name, pid or None, state)] where state is 'healthy', 'unhealthy' or 'stopped'."""
    rows = []
    for name in process_names(spec):
        pid = processes.running_pid(spec.run_dir, name)
        state = 'stopped' if pid is None else ('healthy' if _healthy(spec, name)
                                               else 'unhealthy')
        rows.append((name, pid, state))
    return rows


def describe(spec):
    """What a client needs: urls, users, directories."""
    return {'dir': spec.root, 'proxy_url': spec.proxy_url, 'auth_url': spec.auth_url,
            'users': ['%s:%s/%s' % (a, u, k) for a, u, k, _g in USERS],
            'log_dir': spec.log_dir, 'nodes': spec.nodes, 'replicas': spec.replicas,
            'memcache': memcache_kind()}
