"""The all-in-one Swift cluster: a real Swift on 127.0.0.1 for the demo and the tests.

``zerocloud aio start|stop|status|env`` (see :mod:`zerocloud.cli.aio`) drives it from the
shell; from Python::

    from zerocloud.aio import cluster
    from zerocloud.aio.spec import ClusterSpec
    spec = ClusterSpec(root='var/aio', nodes=4, replicas=3, port=8080)
    cluster.start(spec)      # -> {'proxy_url', 'auth_url', 'users', ...}; waits until healthy
    cluster.status(spec)     # -> [(name, pid, 'healthy'|'unhealthy'|'stopped')]
    cluster.stop(spec)       # stops exactly the recorded processes and their groups

Modules, one job each:

    spec        ClusterSpec: nodes, replicas, ports, directories, SAIO users, policies
    pipelines   THE list of filters of the proxy and object pipelines (zerocloud's included
                only when their modules provide ``filter_factory``) and their options
    config      configuration text (swift.conf, proxy and per-node server confs)
    rings       ring building with Swift's RingBuilder
    processes   pid files, process identity (pid + start time), group stop
    cluster     start/stop/status orchestration, health wait, account creation
    bootstrap   runs one Swift server with the cluster's own swift.conf
    memcache    a minimal memcache server (tempauth's token store)
    logs        the UDP syslog receiver writing DIR/log/<server>.log
    watchdog    stops the cluster when its owner process dies (``ClusterSpec.owner_pid``)

No root is needed; no daemon other than the servers runs (no replicators, updaters or
auditors).  On a filesystem whose xattrs hold only ~4 KiB per file (ext4), swift.conf lowers
``max_meta_overall_size`` (to 1024 bytes there) and ``max_meta_count`` (to 16), so that too
much metadata gets a clean 400 instead of a 503; put the devices on a tmpfs (``--devices
/dev/shm/...``) to keep Swift's defaults.
"""
