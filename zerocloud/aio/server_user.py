"""``zerocloud aio start --user NAME``: every Swift server runs as NAME, as in production.

The launcher runs as root and starts each server as root; Swift itself switches to NAME
(its ``user`` option) in the server's worker processes, before they load the pipeline, so
every worker is an ordinary process of NAME with no capability: the object server's
zerocloud filter, its sandbox supervisor and every jail run as NAME (rootless jails,
:mod:`zerocloud.sandbox.isolation`).  Swift drops privileges only in workers, so such a
cluster runs ``workers = 1`` (a root parent and one NAME worker per server, like a
production server with its master), where the default cluster runs one process per server
as whoever starts it.

What the launcher prepares for NAME (:func:`hand_over`): the node devices (recursively),
the run and log directories and a configured ``zerovm_work_dir`` become NAME's; the
configuration and rings stay root's, readable by all.  Then :func:`check_can_run` runs
Python as NAME, importing zerocloud and reading ``swift.conf`` and a ring, so that a Python
or a cluster directory NAME cannot reach is an error at start naming the path, not a
server failing later.
"""
import os
import pwd
import subprocess
import sys

CHECK_SECONDS = 60


class ServerUserError(ValueError):
    """NAME cannot be used; the message says why."""


def lookup(name):
    """The ``pwd`` entry of ``name``.

    :raises ServerUserError: an ``ACCOUNT:USER`` given by mistake, no such user, or not
        root (only root can start servers that switch users).
    """
    if ':' in name:
        raise ServerUserError('--user %r looks like ACCOUNT:USER; on start, --user names the '
                              'system user the servers run as (e.g. swift)' % name)
    try:
        account = pwd.getpwnam(name)
    except KeyError:
        raise ServerUserError('--user %s: no such user (create it, e.g. useradd --system '
                              '%s)' % (name, name)) from None
    if os.geteuid() != 0:
        raise ServerUserError('--user %s: start the cluster as root (Swift switches each '
                              'server to its user itself)' % name)
    return account


def hand_over(spec, account):
    """Give NAME the devices, run and log directories and the configured work dir."""
    owned = [spec.run_dir, spec.log_dir] + [spec.node_devices(node)
                                             for node in spec.node_numbers()]
    work_dir = dict(spec.filter_options.get('object_middleware', {})).get('zerovm_work_dir')
    if work_dir:
        os.makedirs(work_dir, mode=0o700, exist_ok=True)
        owned.append(work_dir)
    for top in owned:
        _chown_tree(top, account.pw_uid, account.pw_gid)


def _chown_tree(top, uid, gid):
    os.chown(top, uid, gid)
    for root, dirs, files in os.walk(top):
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)


def check_can_run(spec, account):
    """Run Python as NAME: import zerocloud, read ``swift.conf`` and the object ring.

    :raises ServerUserError: naming what NAME cannot reach.
    """
    paths = [os.path.join(spec.etc_dir, 'swift.conf'), os.path.join(spec.etc_dir,
                                                                  'object.ring.gz')]
    code = 'import sys, zerocloud.sandbox.supervisor\nfor p in sys.argv[1:]: open(p).close()'
    try:
        done = subprocess.run([sys.executable, '-c', code] + paths, capture_output=True,
                              text=True, timeout=CHECK_SECONDS, user=account.pw_uid,
                              group=account.pw_gid, extra_groups=[], cwd='/')
    except OSError as exc:
        raise ServerUserError('user %s cannot run %s: %s' % (account.pw_name, sys.executable,
                                                            exc)) from exc
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ['exit status %d' % done.returncode])[-1]
        raise ServerUserError('user %s cannot run the servers: %s (Python, zerocloud and the '
                              'cluster directory must be readable by %s)'
                              % (account.pw_name, last, account.pw_name))
