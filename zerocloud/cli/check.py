"""Validate a job description offline and print its plan.

    zerocloud check JOB.json [--account ACCT] [--listing LISTING.json] [--json]

JOB.json is a job description (``-`` reads standard input), or a zapp (a tar, possibly
gzip-compressed) whose ``boot/system.map`` is checked.  Every problem is reported the
way the proxy would answer it, one per line as ``location: message``, and the exit status
is 1.  A valid job is expanded and its plan printed: every instance with its argv (quoted as
a shell would: given back as a string ``args``, it splits into the same list), environment,
devices and paths, its ``/dev/in`` and ``/dev/out`` channels and its placement intent
(``--json``: the plan as JSON, ``{"instances": [{"name", "devices", "in", "out", ...}]}``).

LISTING.json stands for the Swift listings that wildcards are expanded against:
``{"account/container": ["object", ...], "account": ["container", ...]}``.  An account key
lists containers for wildcards in container names (if absent, the containers of the
``account/container`` keys are used, in file order).  ``~`` and ``.`` accounts become
``--account`` when given (otherwise they stay as written, also in LISTING keys).

Exit status: 0 valid, 1 invalid job, 2 unusable input files.
"""
import json
import shlex
import sys

EXIT_INVALID = 1
EXIT_USAGE = 2


def add_arguments(parser):
    parser.add_argument('job', metavar='JOB.json', help='the job description, - for stdin')
    parser.add_argument('--account', help="the caller's account (replaces ~ and .)")
    parser.add_argument('--listing', metavar='LISTING.json',
                        help='object (and container) listings for wildcard expansion')
    parser.add_argument('--json', action='store_true', help='print the plan as JSON')
    parser.add_argument('--sysimage', action='append', metavar='NAME',
                        help='a system image device name (repeatable; default: python)')
    parser.add_argument('--max-instances', type=int, default=None, metavar='N',
                        help='limit on instances x replicas (default: the package default)')
    parser.add_argument('--max-config-bytes', type=int, default=65536, metavar='N',
                        help='size limit of the job description (zerovm_maxconfig)')


def _read(path, what):
    try:
        if path == '-':
            return sys.stdin.buffer.read()
        with open(path, 'rb') as stream:
            return stream.read()
    except OSError as err:
        raise SystemExit(_usage(f'cannot read {what} {path}: {err.strerror}'))


def _system_map(data, path):
    """The job inside a zapp tar (``boot/system.map``), or ``data`` itself if not a tar."""
    import io
    import tarfile
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            member = tar.extractfile('boot/system.map')
            return member.read() if member else data
    except KeyError:
        raise SystemExit(_usage(f'{path} is a tar without boot/system.map'))
    except (tarfile.TarError, EOFError, OSError):
        return data


def _usage(message):
    print(f'zerocloud check: {message}', file=sys.stderr)
    return EXIT_USAGE


def load_listing(path):
    """LISTING.json -> (list_objects, list_containers) functions for ``expand``."""
    if path is None:
        return (lambda account, container, prefix: ()), (lambda account, prefix: ())
    try:
        listing = json.loads(_read(path, 'listing'))
    except ValueError as err:
        raise SystemExit(_usage(f'{path} is not JSON: {err}'))
    if not isinstance(listing, dict) or not all(
            isinstance(names, list) and all(isinstance(n, str) for n in names)
            for names in listing.values()):
        raise SystemExit(_usage(f'{path} must map "account/container" (or "account") to a '
                                'list of names'))
    containers = {}
    for key in listing:
        account, slash, container = key.partition('/')
        if slash:
            containers.setdefault(account, []).append(container)

    def list_objects(account, container, prefix):
        return listing.get(f'{account}/{container}', ())

    def list_containers(account, prefix):
        return listing.get(account, containers.get(account, ()))
    return list_objects, list_containers


def _describe(device, path):
    if path is not None:
        return str(path)
    return {'readable': '(request payload)', 'writable': '(HTTP response)',
            'sysimage': '(system image)'}.get(device.access, '(none)')


def print_plan(plan, out):
    """The human-readable plan: one block per instance."""
    print(f'job OK: {len(plan.instances)} instances, {plan.total_sessions} sessions', file=out)
    for instance in plan.instances:
        print(f'\n{instance.name}  (node {instance.node})', file=out)
        argv = shlex.join([instance.exec.argv0, *instance.exec.args])
        print(f'  exec       {instance.exec.url}  argv: {argv}', file=out)
        for key, value in sorted(instance.exec.env.items()):
            print(f'  env        {key}={value}', file=out)
        for name, device in instance.devices.items():
            print(f'  {name:<10} {_describe(device, device.url)}', file=out)
        for label, channels in (('in', instance.in_channels), ('out', instance.out_channels)):
            if channels:
                print(f'  {label:<10} ' + ' '.join(c.device for c in channels), file=out)
        where = (f'{instance.placement} (device {instance.attach})' if instance.placement
                 else 'any object server')
        print(f'  placement  {where}', file=out)
        if instance.location is not None:
            print(f'  location   {instance.location}', file=out)
        if instance.replicate != 1:
            print(f'  replicate  {instance.replicate}', file=out)


def main(args):
    from zerocloud.job import DEFAULT_MAX_INSTANCES, JobError, expand, parse_job
    try:
        data = _system_map(_read(args.job, 'job'), args.job)
        list_objects, list_containers = load_listing(args.listing)
    except SystemExit as exit_status:
        return exit_status.code
    sysimages = tuple(args.sysimage) if args.sysimage else ('python',)
    try:
        job = parse_job(data, max_config_bytes=args.max_config_bytes, sysimages=sysimages)
        plan = expand(job, account=args.account, list_objects=list_objects,
                      list_containers=list_containers,
                      max_instances=args.max_instances or DEFAULT_MAX_INSTANCES)
    except JobError as err:
        print(f'{args.job}: invalid job (HTTP {err.status}):', file=sys.stderr)
        for where, message in err.problems:
            print(f'  {where}: {message}' if where else f'  {message}', file=sys.stderr)
        return EXIT_INVALID
    if args.json:
        json.dump(plan.to_dict(), sys.stdout, indent=2)
        print()
    else:
        print_plan(plan, sys.stdout)
    return 0
