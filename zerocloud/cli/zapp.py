"""Bundle a directory into a zapp, or upload a zapp to Swift.

    zerocloud zapp bundle DIR -o app.zapp [--no-gzip] [--sysimage NAME ...]
    zerocloud zapp deploy CONTAINER app.zapp [--name OBJECT] [swift auth flags]

A zapp (SPEC S1.2) is a tar whose ``boot/system.map`` is the job; the whole tar becomes the
read-only ``image`` device of every session, mounted at ``/``.

``bundle`` checks ``DIR/boot/system.map`` with the job parser of ``zerocloud check`` (every
problem printed as ``location: message``, exit 1; wildcards are not expanded, since no
listing is at hand) and writes DIR's regular files, directories and symlinks into the tar:
``boot/system.map`` first (so the server finds the job at the head of the stream), the rest
in name order, owners cleared.  gzip-compressed unless ``--no-gzip``.  Refused, naming the
file: a symlink leaving DIR, a device, FIFO or socket.

``deploy`` reads the zapp once (it must be a tar or gzip tar with ``boot/system.map``),
creates CONTAINER if needed and uploads the zapp as the object ``OBJECT`` (default: the
file's name) with the zapp Content-Type: ``application/x-gzip`` for a gzip-compressed zapp,
``application/x-tar`` otherwise.  It prints the object's URL and how to run it
(``zerocloud submit --source swift://ACCOUNT/CONTAINER/OBJECT``).  Credentials as for the
``swift`` command (``ST_AUTH``/``ST_USER``/``ST_KEY``, ``OS_*``, ``-A -U -K``, ``--os-*``).

Exit status: 0 done, 1 invalid job or zapp, 2 unusable input or Swift refused.
"""
import os
import sys

from zerocloud.cli import swift_auth

EXIT_INVALID = 1
EXIT_USAGE = 2
ZAPP_TYPES = {'gzip': 'application/x-gzip', 'none': 'application/x-tar'}


def add_arguments(parser):
    actions = parser.add_subparsers(dest='action', metavar='ACTION')
    actions.required = True
    bundle = actions.add_parser('bundle', help='make a zapp of a directory')
    bundle.add_argument('directory', metavar='DIR', help='holds boot/system.map and files')
    bundle.add_argument('-o', '--output', required=True, metavar='ZAPP',
                        help='the zapp file to write')
    bundle.add_argument('--no-gzip', action='store_true', help='write a plain tar')
    bundle.add_argument('--sysimage', action='append', metavar='NAME',
                        help='a system image device name (repeatable; default: python)')
    bundle.add_argument('--max-config-bytes', type=int, default=65536, metavar='N',
                        help='size limit of the system map (zerovm_maxconfig)')
    deploy = actions.add_parser('deploy', help='upload a zapp to a container')
    deploy.add_argument('container', metavar='CONTAINER')
    deploy.add_argument('zapp', metavar='ZAPP', help='the zapp file')
    deploy.add_argument('--name', metavar='OBJECT', help='object name (default: file name)')
    swift_auth.add_arguments(deploy)


def main(args):
    return {'bundle': bundle_main, 'deploy': deploy_main}[args.action](args)


def _fail(message, status=EXIT_USAGE):
    print('zerocloud zapp: %s' % message, file=sys.stderr)
    return status


# -- bundle ---------------------------------------------------------------------------------
def bundle_main(args):
    from zerocloud.zapp import SYSTEM_MAP
    map_path = os.path.join(args.directory, *SYSTEM_MAP.split('/'))
    try:
        with open(map_path, 'rb') as handle:
            system_map = handle.read()
    except OSError as err:
        return _fail('cannot read %s: %s (a zapp directory holds its job as %s)'
                     % (map_path, err.strerror, SYSTEM_MAP))
    if not check_map(system_map, map_path, args):
        return EXIT_INVALID
    try:
        members = bundle_members(args.directory, os.path.abspath(args.output))
        write_zapp(args.output, args.directory, members, compress=not args.no_gzip)
    except (OSError, ValueError) as err:
        return _fail(str(err))
    print('%s: %d members, %d bytes' % (args.output, len(members),
                                        os.path.getsize(args.output)))
    return 0


def check_map(system_map, map_path, args):
    """Check the job with ``zerocloud check``'s parser; print the problems; True if valid."""
    from zerocloud.job import JobError, parse_job
    sysimages = tuple(args.sysimage) if args.sysimage else ('python',)
    try:
        parse_job(system_map, max_config_bytes=args.max_config_bytes, sysimages=sysimages,
                  in_zapp=True)
    except JobError as err:
        print('%s: invalid job (HTTP %d):' % (map_path, err.status), file=sys.stderr)
        for where, message in err.problems:
            print('  %s: %s' % (where, message) if where else '  ' + message,
                  file=sys.stderr)
        return False
    return True


def bundle_members(directory, exclude):
    """Relative paths to put in the zapp: ``boot/system.map`` first, then every entry of
    ``directory`` in name order (``exclude``, the zapp being written, left out).

    :raises ValueError: a symlink leaving the directory, or a special file.
    """
    from zerocloud.zapp import SYSTEM_MAP
    root = os.path.realpath(directory)
    found = []
    for parent, subdirectories, files in os.walk(directory):
        for name in subdirectories + files:
            path = os.path.join(parent, name)
            relative = os.path.relpath(path, directory).replace(os.sep, '/')
            if os.path.abspath(path) == exclude or relative == SYSTEM_MAP:
                continue
            _check_entry(path, relative, root)
            found.append(relative)
    return [SYSTEM_MAP] + sorted(found)


def _check_entry(path, relative, root):
    import stat
    mode = os.lstat(path).st_mode
    if stat.S_ISLNK(mode):
        target = os.path.realpath(path)
        if target != root and not target.startswith(root + os.sep):
            raise ValueError('%s: symlink to %s, outside the zapp directory'
                             % (path, os.readlink(path)))
        if os.path.isabs(os.readlink(path)):
            raise ValueError('%s: absolute symlink (make it relative)' % path)
    elif not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise ValueError('%s: not a regular file, directory or symlink' % relative)


def write_zapp(output, directory, members, compress=True):
    """Write the tar of ``members`` (paths relative to ``directory``), owners cleared."""
    import tarfile

    def anonymous(info):
        info.uid = info.gid = 0
        info.uname = info.gname = ''
        return info
    with tarfile.open(output, 'w:gz' if compress else 'w', format=tarfile.PAX_FORMAT) as tar:
        for relative in members:
            tar.add(os.path.join(directory, relative), arcname=relative, recursive=False,
                    filter=anonymous)


# -- deploy ---------------------------------------------------------------------------------
def deploy_main(args):
    from swiftclient.exceptions import ClientException
    from zerocloud.zapp import ZappError, read_zapp
    try:
        with open(args.zapp, 'rb') as stream:
            head = read_zapp(stream)
    except OSError as err:
        return _fail('cannot read %s: %s' % (args.zapp, err.strerror))
    except ZappError as err:
        return _fail('%s: %s' % (args.zapp, err), EXIT_INVALID)
    name = args.name or os.path.basename(args.zapp)
    content_type = ZAPP_TYPES[head.compression]
    try:
        conn = swift_auth.connection(args)
        storage_url, _token = swift_auth.authenticate(conn)
        conn.put_container(args.container)
        with open(args.zapp, 'rb') as stream:
            conn.put_object(args.container, name, stream, content_length=head.raw_bytes,
                            content_type=content_type, etag=head.md5)
    except swift_auth.AuthError as err:
        return _fail(str(err))
    except ClientException as err:
        return _fail('upload refused: %s' % err)
    account = storage_url.rstrip('/').rsplit('/', 1)[-1]
    print('deployed %s to %s/%s/%s (%d bytes, %s)' % (args.zapp, storage_url, args.container,
                                                     name, head.raw_bytes, content_type))
    print('run it: zerocloud submit --source swift://%s/%s/%s' % (account, args.container,
                                                                  name))
    return 0
