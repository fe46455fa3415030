"""Start one Swift server with the cluster's own ``swift.conf`` (not ``/etc/swift``).

Swift reads storage policies and constraints from ``/etc/swift/swift.conf`` when its modules
are first imported, ignoring ``swift_dir`` for them.  This bootstrap points Swift at
``<swift_dir>/swift.conf`` (``set_swift_dir``), reloads the storage policies and constraints
from it, then runs the server exactly as Swift's own ``swift-<kind>-server`` script would.

Run: ``python -m zerocloud.aio.bootstrap SWIFT_DIR SERVER CONF_FILE`` where SERVER is
``proxy-server``, ``account-server``, ``container-server`` or ``object-server``.
"""
import importlib
import sys

#: Server name -> the Swift module whose ``main()`` runs it.
SERVERS = {'proxy-server': 'swift.proxy.server', 'account-server': 'swift.account.server',
           'container-server': 'swift.container.server', 'object-server': 'swift.obj.server'}


def point_swift_at(swift_dir):
    """Make every Swift module read ``<swift_dir>/swift.conf``."""
    from swift.common import constraints, storage_policy, utils
    utils.set_swift_dir(swift_dir)
    storage_policy.reload_storage_policies()
    constraints.reload_constraints()


def main(argv=None):
    """Run the server; returns its exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3 or argv[1] not in SERVERS:
        sys.stderr.write('usage: python -m zerocloud.aio.bootstrap SWIFT_DIR %s CONF_FILE\n'
                         % '|'.join(SERVERS))
        return 2
    swift_dir, server, conf_file = argv
    point_swift_at(swift_dir)
    module = importlib.import_module(SERVERS[server])
    sys.argv = ['swift-' + server, conf_file]
    return module.main()


if __name__ == '__main__':
    sys.exit(main())
