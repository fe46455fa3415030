"""start/stop a local all-in-one Swift cluster with zerocloud

    zerocloud aio start  [--dir DIR] [--nodes N] [--replicas R] [--port P] [--devices PATH]
                         [--no-zerocloud] [--encryption] [--set SERVER:OPTION=VALUE ...]
                         [--user NAME]
    zerocloud aio stop   [--dir DIR]
    zerocloud aio status [--dir DIR]
    zerocloud aio env    [--dir DIR] [--user ACCOUNT:USER]

A real Swift (from the installed ``swift`` package) on 127.0.0.1: one proxy (port P, 8080 by
default), N storage nodes (default 4) each running an account, container and object server
with its own device directory, storage policies ``gold`` (R replicas, default 3, the
default policy), ``silver`` (2 replicas) and ``ec`` (erasure-coded, 2 data + 1 parity
fragments, with 3 nodes or more), tempauth with the upstream SAIO users, memcache (the system's ``memcached`` when installed,
else a small Python stand-in, as ``start`` says), and
logs in DIR/log.  zerocloud's filters are in the pipelines as soon as they exist
(``--no-zerocloud`` leaves them out).  DIR defaults to $ZEROCLOUD_AIO_DIR, else ./var/aio.

``--set SERVER:OPTION=VALUE`` (repeatable) sets an option of a zerocloud filter in the
generated configuration: SERVER is ``proxy`` (``[filter:proxy_middleware]``), ``object``
(``[filter:object_middleware]`` of every object server) or ``chain`` (``[filter:job_chain]``),
e.g. ``--set proxy:zerovm_maxconfig=1M --set object:zerovm_timeout=30``.  Settings are kept
in DIR/aio.json: later starts reuse them (the generated configuration is rewritten at every
start, so edit options this way, not in DIR/etc); ``--set SERVER:OPTION=`` removes one.  A
bad value stops the start with the filter's message (from the server's log).
``--encryption`` adds Swift's ``keymaster encryption`` to the proxy pipeline (at-rest
encryption with a fixed, public test key: never for real data); it is kept like the settings.
Changing settings or encryption of a running cluster is refused: stop it first.

``start --user NAME`` runs every server as the system user NAME, exactly as production does:
started as root (run ``start`` as root), each server switches to NAME through Swift's own
``user`` option in its worker process (so the servers run ``workers = 1``); the devices, run
and log directories belong to NAME; the sandbox needs nothing more where the kernel allows
unprivileged user namespaces (see ``doc/install.md``).  Without ``--user`` the servers run as
whoever starts the cluster, one process each.  ``--user`` means something else for ``env``:
the ``ACCOUNT:USER`` whose credentials it prints.

``start`` waits until every server answers /healthcheck and prints the auth URL and users; a
second ``start`` says the cluster already runs.  ``stop`` stops exactly the processes it
started (idempotent).  ``env`` prints ``export ST_AUTH=... ST_USER=... ST_KEY=...``:
``eval "$(zerocloud aio env)" && swift stat``.
"""
import os
import re
import shlex
import sys

ACTIONS = ('start', 'stop', 'status', 'env')
DEFAULT_ENV_USER = 'test:tester'
#: ``--set`` server names -> the zerocloud filter whose section gets the option.
SET_TARGETS = {'proxy': 'proxy_middleware', 'object': 'object_middleware',
               'chain': 'job_chain'}
OPTION_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_.-]*\Z')


def default_dir():
    """$ZEROCLOUD_AIO_DIR, else ./var/aio."""
    return os.environ.get('ZEROCLOUD_AIO_DIR') or os.path.join('var', 'aio')


def add_arguments(parser):
    parser.add_argument('action', choices=ACTIONS)
    parser.add_argument('--dir', default=None,
                        help='cluster directory (default: $ZEROCLOUD_AIO_DIR or ./var/aio)')
    parser.add_argument('--nodes', type=int, default=None, help='storage nodes (default 4)')
    parser.add_argument('--replicas', type=int, default=None,
                        help='replicas of the default policy (default 3)')
    parser.add_argument('--port', type=int, default=None, help='proxy port (default 8080)')
    parser.add_argument('--devices', default=None,
                        help='directory for the node devices (default DIR/srv); a tmpfs such '
                             'as /dev/shm/... lifts the small-xattr metadata limits of ext4')
    parser.add_argument('--no-zerocloud', action='store_true',
                        help='leave zerocloud\'s filters out of the pipelines')
    parser.add_argument('--encryption', action='store_true',
                        help='add Swift\'s at-rest encryption (fixed test key) to the proxy')
    parser.add_argument('--set', action='append', default=[], dest='settings',
                        metavar='SERVER:OPTION=VALUE',
                        help='set a zerocloud filter option (SERVER: %s; repeatable; an '
                             'empty VALUE removes it)' % ', '.join(SET_TARGETS))
    parser.add_argument('--user', default=None,
                        help='start: the system user every server runs as (started as root, '
                             'switched by Swift\'s "user" option); env: the ACCOUNT:USER whose '
                             'credentials it prints (default %s)' % DEFAULT_ENV_USER)


def parse_setting(text):
    """``(filter name, option, value)`` of one ``--set SERVER:OPTION=VALUE``.

    :raises ValueError: naming the setting when it does not have that form.
    """
    target, colon, assignment = text.partition(':')
    option, equals, value = assignment.partition('=')
    if not colon or not equals or target not in SET_TARGETS:
        raise ValueError('--set %r: expected SERVER:OPTION=VALUE with SERVER one of %s'
                         % (text, ', '.join(SET_TARGETS)))
    if not OPTION_NAME.match(option):
        raise ValueError('--set %r: %r is not an option name' % (text, option))
    if any(ch in value for ch in '\r\n\0'):
        raise ValueError('--set %r: a value cannot hold line breaks or NUL' % text)
    return SET_TARGETS[target], option, value.strip()


def merged_filter_options(recorded, settings):
    """The recorded filter options with ``--set`` settings applied (empty value: removed)."""
    options = {name: dict(values) for name, values in (recorded or {}).items()}
    for text in settings:
        name, option, value = parse_setting(text)
        section = options.setdefault(name, {})
        if value:
            section[option] = value
        else:
            section.pop(option, None)
    return {name: values for name, values in options.items() if values}


def build_spec(args):
    """The ClusterSpec for ``args``: the directory's recorded spec, overridden by options."""
    from zerocloud.aio import cluster
    from zerocloud.aio.spec import ClusterSpec
    root = args.dir or default_dir()
    recorded = cluster.recorded_spec(root)
    fields = {}
    if recorded:
        fields = dict(recorded.topology(), zerocloud=recorded.zerocloud,
                      owner_pid=recorded.owner_pid, encryption=recorded.encryption)
    for name in ('nodes', 'replicas', 'port', 'devices'):
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    if args.no_zerocloud:
        fields['zerocloud'] = False
    elif args.action == 'start':
        fields['zerocloud'] = True
    if args.encryption:
        fields['encryption'] = True
    fields['filter_options'] = merged_filter_options(
        recorded.filter_options if recorded else {}, args.settings)
    return ClusterSpec(root=root, **fields)


def print_start(summary):
    users = ' '.join(summary['users'])
    if summary['already_running']:
        print('zerocloud aio: the cluster in %s is already running' % summary['dir'])
    else:
        print('zerocloud aio: cluster started in %s (%d nodes, %d replicas; zerocloud '
              'filters: %s; servers run as %s)'
              % (summary['dir'], summary['nodes'], summary['replicas'],
                 ' '.join(summary['zerocloud_filters']) or 'none', summary['server_user']))
    print('  proxy: %s\n  auth:  %s\n  users: %s\n  logs:  %s\n  cache: %s'
          % (summary['proxy_url'], summary['auth_url'], users, summary['log_dir'],
             summary['memcache']))
    print('  try:   eval "$(zerocloud aio env --dir %s)" && swift stat'
          % shlex.quote(summary['dir']))


def run_action(args, spec):
    from zerocloud.aio import cluster
    from zerocloud.aio.spec import USERS
    if args.action == 'start':
        print_start(cluster.start(spec, args.user))
    elif args.action == 'stop':
        stopped = cluster.stop(spec)
        print('zerocloud aio: stopped %d processes' % len(stopped) if stopped
              else 'zerocloud aio: nothing was running in %s' % spec.root)
    elif args.action == 'status':
        rows = cluster.status(spec)
        for name, pid, state in rows:
            print('%-14s %-8s %s' % (name, pid or '-', state))
        return 0 if all(state == 'healthy' for _n, _p, state in rows) else 3
    else:
        keys = {'%s:%s' % (a, u): k for a, u, k, _g in USERS}
        user = args.user or DEFAULT_ENV_USER
        if user not in keys:
            print('zerocloud aio: --user must be one of %s' % ', '.join(keys), file=sys.stderr)
            return 2
        print('export ST_AUTH=%s ST_USER=%s ST_KEY=%s'
              % (spec.auth_url, shlex.quote(user), shlex.quote(keys[user])))
    return 0


def main(args):
    """Run ``zerocloud aio ACTION``; returns the exit status (3: status found a problem)."""
    from zerocloud.aio.cluster import ClusterError
    try:
        spec = build_spec(args)
        return run_action(args, spec)
    except (ValueError, ClusterError) as exc:
        print('zerocloud aio: error: %s' % exc, file=sys.stderr)
        return 1
