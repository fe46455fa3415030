"""JSON job description -> validated, immutable :class:`~zerocloud.job.model.Job`.

:func:`parse_job` checks every rule that needs no Swift and reports all problems at once in
one :class:`~zerocloud.job.errors.JobError`, each located like ``[1].devices[2].path``.
"""
from zerocloud.job import command, fields
from zerocloud.job.devices import check_device_set, parse_device
from zerocloud.job.errors import JobError, Problems, show
from zerocloud.job.jsontext import DEFAULT_MAX_CONFIG_BYTES, decode
from zerocloud.job.model import DEFAULT_SYSIMAGES, ExecSpec, Job, Node
from zerocloud.job.urls import NODE_NAME, ImageUrl, SwiftUrl, ZvmUrl, parse_url

MAX_REPLICATE = 3
MAX_COUNT = 2 ** 31 - 1
NODE_KEYS = frozenset(('name', 'exec', 'devices', 'file_list', 'count', 'connect',
                       'replicate', 'attach', 'location', 'args'))
EXEC_KEYS = frozenset(('path', 'args', 'env', 'name'))


def _parse_exec(problems, where, raw, legacy_args, sysimages, node_name):
    if fields.check_object(problems, where, raw, EXEC_KEYS) is None:
        return None
    url = _parse_executable_url(problems, where, raw, sysimages)
    if url is None:
        return None
    values = {'url': url}
    if 'args' in raw and legacy_args is not None:
        problems.add(f'{where}.args', 'args given both here and at node level')
    args_where, args = legacy_args or (None, None)
    if 'args' in raw:
        args_where, args = f'{where}.args', raw['args']
    if args_where is not None:
        values['args'] = command.check_args(problems, args_where, args)
    if 'env' in raw:
        values['env'] = command.check_env(problems, f'{where}.env', raw['env'])
    if 'name' in raw:
        values['name'] = fields.check_text(problems, f'{where}.name', raw['name'], limit=255)
    if any(value is None for value in values.values()):
        return None
    spec = ExecSpec(**values)
    argv = (spec.name or _longest_instance_name(node_name),) + spec.args
    if not command.check_argv_env_size(problems, where, args_where or f'{where}.args', argv,
                                       spec.env):
        return None
    return spec


def _parse_executable_url(problems, where, raw, sysimages):
    if 'path' not in raw:
        problems.add(f'{where}.path', 'required')
        return None
    try:
        url = parse_url(raw['path'], where=f'{where}.path', relative_ok=True)
    except JobError as err:
        problems.items.extend(err.problems)
        return None
    if not isinstance(url, (SwiftUrl, ImageUrl)) or (
            isinstance(url, SwiftUrl) and (url.object is None or url.has_wildcard)):
        problems.add(f'{where}.path', 'executable must be a swift:// object (no wildcard) '
                     'or a file:// path in an image')
        return None
    if isinstance(url, ImageUrl) and url.image is not None and url.image not in sysimages:
        problems.add(f'{where}.path', f'no system image named {show(url.image)} (configured: '
                     f'{", ".join(sysimages) or "none"}; file://<path> is the user image)')
        return None
    return url


def _longest_instance_name(node_name):
    """argv[0] by default: the instance name, at most ``<node>-<MAX_COUNT>``."""
    return f'{node_name or ""}-{MAX_COUNT}'


def _parse_devices(problems, where, raw, sysimages, in_zapp=False):
    if 'devices' in raw and 'file_list' in raw:
        problems.add(where, 'give "devices" or its deprecated spelling "file_list", not both')
        return None
    key = 'file_list' if 'file_list' in raw else 'devices'
    items = fields.check_list(problems, f'{where}.{key}', raw.get(key, []))
    if items is None:
        return None
    parsed = [(i, parse_device(problems, f'{where}.{key}[{i}]', item, sysimages, in_zapp))
              for i, item in enumerate(items)]
    if any(device is None for _, device in parsed):
        return None
    return f'{where}.{key}', parsed


def _parse_scalars(problems, where, raw, values, devices):
    if 'count' in raw:
        values['count'] = fields.check_int(problems, f'{where}.count', raw['count'], minimum=1,
                                           maximum=MAX_COUNT)
    if 'replicate' in raw:
        values['replicate'] = fields.check_int(problems, f'{where}.replicate',
                                               raw['replicate'], minimum=1,
                                               maximum=MAX_REPLICATE)
    if 'location' in raw:
        values['location'] = fields.check_text(problems, f'{where}.location', raw['location'],
                                               limit=256)
    if 'attach' in raw:
        attach = fields.check_text(problems, f'{where}.attach', raw['attach'], limit=128)
        names = [device.name for _, device in devices]
        if attach is not None and attach != 'default' and attach not in names:
            problems.add(f'{where}.attach', f'{show(attach)} is not a device of this node '
                         f'(devices: {", ".join(names) or "none"}; or "default")')
        values['attach'] = attach
    if 'connect' in raw:
        targets = fields.check_list(problems, f'{where}.connect', raw['connect'])
        if targets is not None:
            targets = tuple(fields.check_text(problems, f'{where}.connect[{i}]', target)
                            for i, target in enumerate(targets))
        values['connect'] = targets


def parse_node(problems, where, raw, sysimages, in_zapp=False):
    """Check one node definition; return a Node or None (problems recorded); ``in_zapp``:
    see :func:`parse_job`."""
    if fields.check_object(problems, where, raw, NODE_KEYS) is None:
        return None
    values = {}
    if 'name' not in raw:
        problems.add(f'{where}.name', 'required')
    elif fields.check_text(problems, f'{where}.name', raw['name']) is not None:
        if NODE_NAME.match(raw['name']):
            values['name'] = raw['name']
        else:
            problems.add(f'{where}.name',
                         f'must be 1-128 of [A-Za-z0-9_-], got {show(raw["name"])}')
    legacy_args = (f'{where}.args', raw['args']) if 'args' in raw else None
    if 'exec' not in raw:
        problems.add(f'{where}.exec', 'required')
    else:
        values['exec'] = _parse_exec(problems, f'{where}.exec', raw['exec'], legacy_args,
                                     sysimages, values.get('name'))
    device_result = _parse_devices(problems, where, raw, sysimages, in_zapp)
    devices = device_result[1] if device_result else []
    _parse_scalars(problems, where, raw, values, devices)
    if device_result:
        check_device_set(problems, device_result[0], devices, values.get('count') or 1)
        values['devices'] = tuple(device for _, device in devices)
    if (device_result is None or 'name' not in values or 'exec' not in values
            or any(value is None for value in values.values())):
        return None
    return Node(**values)


def _check_graph(problems, nodes):
    """connect targets and zvm:// devices name existing nodes; no single-instance loops."""
    first = {}
    for i, node in nodes:
        if node.name in first:
            problems.add(f'[{i}].name',
                         f'node name {node.name} already used by [{first[node.name]}]')
        first.setdefault(node.name, i)
    by_name = {node.name: node for _, node in nodes}
    for i, node in nodes:
        edges = [(f'[{i}].connect[{j}]', target) for j, target in enumerate(node.connect)]
        edges += [(f'[{i}].devices[{j}].path', device.url.node)
                  for j, device in enumerate(node.devices) if isinstance(device.url, ZvmUrl)]
        for where, target in edges:
            if target not in by_name:
                problems.add(where, f'no node named {show(target)} in this job')
            elif target == node.name and not node.is_group:
                problems.add(where, f'node {node.name} has one instance and cannot connect to '
                             'itself (needs count > 1 or a wildcard)')
        zvm_targets = [device.url.node for device in node.devices if isinstance(device.url, ZvmUrl)]
        for j, device in enumerate(node.devices):
            if isinstance(device.url, ZvmUrl) and zvm_targets.count(device.url.node) > 1:
                problems.add(f'[{i}].devices[{j}].path', f'several zvm:// devices lead to '
                             f'{device.url.node}: use one, and connect for the rest')
        for j, target in enumerate(node.connect):
            if target in node.connect[:j]:
                problems.add(f'[{i}].connect[{j}]', f'{target} listed twice')


def parse_job(data, *, max_config_bytes=DEFAULT_MAX_CONFIG_BYTES, sysimages=DEFAULT_SYSIMAGES,
              in_zapp=False):
    """Parse and validate a job description.

    :param data: JSON text (bytes or str) or an already decoded list (or single node dict).
    :param max_config_bytes: size limit of JSON text (``zerovm_maxconfig``).
    :param sysimages: names of the operator's system image devices, valid device names.
    :param in_zapp: the job is a zapp's ``boot/system.map``: a path-less ``image`` device
        (this zapp) is accepted; in a plain JSON job it is a problem naming the device.
    :returns: an immutable :class:`Job`.
    :raises JobError: with every problem located; ``.status`` 413 if too large, else 400.
    """
    raw = decode(data, max_config_bytes)
    sysimages = tuple(sysimages)
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        raise JobError([('', 'a job is a JSON array of nodes (or one node object)')])
    if not raw:
        raise JobError([('', 'the job has no nodes')])
    problems = Problems()
    nodes = [(i, parse_node(problems, f'[{i}]', item, sysimages, in_zapp))
             for i, item in enumerate(raw)]
    problems.raise_if_any()
    _check_graph(problems, nodes)
    problems.raise_if_any()
    return Job(tuple(node for _, node in nodes), sysimages)
