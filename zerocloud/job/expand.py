"""Expansion of a :class:`Job` into a :class:`Plan` of instances (SPEC S2.3-S2.6).

* A readable (or image) device whose swift path holds ``*`` is matched against listings
  injected by the caller: one instance per match, named ``<node>-1..N`` in listing order.
  ``*`` matches any text (``/`` included in the object part), and the whole name must
  match.  A ``*`` in the container part matches container names (``list_containers``);
  a container wildcard without object part takes every object of every matching container.
* The text captured by each ``*`` (container captures first, then object captures, left to
  right) replaces the ``*`` of the same instance's writable swift paths, in order
  (``in/a*.txt`` -> ``out/b*.txt``).  Without a readable wildcard a writable ``*`` is
  replaced by the instance name.
* Otherwise ``count`` instances (default 1).  Instances are numbered ``<node>-1..N`` when the
  node is a group (a wildcard anywhere, or count > 1), else named after the node.
* ``~`` and ``.`` accounts become the caller's account.
* Placement: the ``attach`` device if given, else the first swift path among readable
  devices (stdin, input), then image, then writable devices; None (anywhere) when there is
  no such swift path.  ``script`` is never used for placement (SPEC S2.2): a script is fetched
  wherever the instance runs.  ``location`` is passed on as a hint.
"""
import gc
import re
from contextlib import contextmanager
from itertools import repeat
from types import MappingProxyType

from zerocloud.job.connect import DEFAULT_MAX_CHANNELS, build_channels
from zerocloud.job.errors import JobError, Problems, show
from zerocloud.job.model import WRITABLE, Device, Exec, Instance, Plan
from zerocloud.job.urls import MAX_OBJECT_NAME, SwiftUrl, ZvmUrl

DEFAULT_MAX_INSTANCES = 100_000
_PLACEMENT_RANK = {'stdin': 0, 'input': 0, 'image': 1,
                   'stdout': 2, 'stderr': 2, 'output': 2}


def _pattern(text):
    return re.compile('(.*)'.join(re.escape(part) for part in text.split('*')), re.DOTALL)


def _containers(url, list_containers):
    if '*' not in url.container:
        return [(url.container, ())]
    if list_containers is None:
        raise JobError([('', 'a wildcard in a container name needs container listings')])
    pattern, prefix = _pattern(url.container), url.container.split('*', 1)[0]
    found = []
    for name in list_containers(url.account, prefix or None):
        match = pattern.fullmatch(name)
        if match:
            found.append((name, match.groups()))
    return found


def _object_pattern(url):
    obj = url.object if url.object is not None else '*'
    return _pattern(obj), obj.split('*', 1)[0] or None


def collect_listing(url, list_objects, list_containers=None, limit=None):
    """Read the listings for wildcard ``url`` (this is where I/O happens).

    Returns ``(groups, total)``: groups are ``(container, container captures, [matching
    object names])`` in listing order; only strings are kept per object.  Stops reading
    after ``limit`` + 1 matches (enough to tell that a limit is exceeded).
    """
    pattern, prefix = _object_pattern(url)
    groups, total = [], 0
    for container, container_caps in _containers(url, list_containers):
        names = []
        groups.append((container, container_caps, names))
        for name in list_objects(url.account, container, prefix):
            if pattern.fullmatch(name):
                names.append(name)
                total += 1
                if limit is not None and total > limit:
                    return groups, total
    return groups, total


def _matches(url, groups):
    """Yield ``(SwiftUrl, captures)`` for the collected matches (pure CPU)."""
    pattern, _ = _object_pattern(url)
    fixed = url.object is None   # container-wide: object text is not captured
    new, account = tuple.__new__, url.account
    for container, container_caps, names in groups:
        for name in names:
            yield new(SwiftUrl, (account, container, name)), (
                container_caps if fixed else container_caps + pattern.fullmatch(name).groups())


def find_matches(url, list_objects, list_containers=None, limit=None):
    """Yield ``(SwiftUrl, captures)`` for each listed object matching wildcard ``url``:
    the URL of the object and the text captured by each ``*``, in order."""
    groups, _ = collect_listing(url, list_objects, list_containers, limit)
    yield from _matches(url, groups)


def _bad_name(where, url, container, obj):
    if '/' in container:
        why = f'the captured text puts "/" into the container name {show(container)}'
    else:
        why = f'the resulting object name is longer than {MAX_OBJECT_NAME} bytes'
    return JobError([(where, f'cannot fill the wildcards of {url}: {why}')])


def _substituter(url, where):
    """A function (values iterator) -> ``url`` with each ``*`` of container then object
    replaced by the next value.  Prepared once per device, called once per instance.
    :raises JobError: located at ``where`` when the result is not a valid object path."""
    account, new = url.account, tuple.__new__
    container, obj = url.container.split('*'), url.object.split('*')
    if len(container) == 1 and len(obj) == 2:   # the common case: one * in the object
        fixed, head, tail = url.container, obj[0], obj[1]

        def fill_object(values):
            name = head + next(values) + tail
            if len(name) > MAX_OBJECT_NAME // 4 and len(name.encode()) > MAX_OBJECT_NAME:
                raise _bad_name(where, url, fixed, name)
            return new(SwiftUrl, (account, fixed, name))
        return fill_object

    def fill(values):
        c = container[0] + ''.join([next(values) + piece for piece in container[1:]])
        o = obj[0] + ''.join([next(values) + piece for piece in obj[1:]])
        if '/' in c or len(o.encode()) > MAX_OBJECT_NAME:
            raise _bad_name(where, url, c, o)
        return new(SwiftUrl, (account, c, o))
    return fill


def _read_listing(problems, where, node, account, listing, budget):
    """Phase 1 (may do I/O): how many instances ``node`` has, and its collected listing
    (None when it has no wildcard).  Records located problems."""
    wild = node.wildcard_device
    if wild is None:
        if node.count * node.replicate > budget:
            problems.add(f'{where}.count', f'too many instances ({show(node.count)} x '
                         f'{node.replicate} replicas): the limit is {budget} for this job')
        return node.count, None
    j = node.devices.index(wild)
    url = wild.url.with_account(account)
    if '*' in url.container and listing[1] is None:
        problems.add(f'{where}.devices[{j}].path', f'{url}: a wildcard in a container name '
                     'needs container listings, which are not available here')
        return 0, None
    groups, total = collect_listing(url, *listing, limit=budget // node.replicate)
    if not total:
        problems.add(f'{where}.devices[{j}].path', f'No objects found in {url}')
    elif total * node.replicate > budget:
        problems.add(f'{where}.devices[{j}].path', f'{url} matches more objects than the '
                     f'instance limit allows ({budget} left for this job)')
    return total, groups


def _instance_names(node, count):
    """``<node>-1..N`` for a group, else just the node name."""
    if not node.is_group:
        return [node.name]
    return [f'{node.name}-{k}' for k in range(1, count + 1)]


def _members(node, account, groups, names):
    """Phase 2 (pure CPU): yield ``(name, wildcard URL or None, captures or None)`` per
    instance of one node (a generator: nothing is kept per instance but the result)."""
    if groups is None:
        for name in names:
            yield name, None, None
        return
    url = node.wildcard_device.url.with_account(account)
    for name, (found, captures) in zip(names, _matches(url, groups)):
        yield name, found, captures


def _device_templates(node, account, where):
    """[(Device with account resolved, None | 'wild' | URL filler)]: how its URL varies
    per instance (fixed, the wildcard match, or a filler taking substitution values)."""
    templates = []
    for j, spec in enumerate(node.devices):
        if isinstance(spec.url, ZvmUrl):
            continue   # a network channel, see connect.py
        url = spec.url.with_account(account) if spec.url is not None else None
        device = Device(spec.name, url, spec.access, spec.content_type, spec.meta,
                        spec.mode, spec.min_size)
        if spec is node.wildcard_device:
            templates.append((device, 'wild'))
        elif spec.access == WRITABLE and isinstance(url, SwiftUrl) and url.has_wildcard:
            templates.append((device, _substituter(url, f'{where}.devices[{j}].path')))
        else:
            templates.append((device, None))
    return templates


def _placement_device(node, devices):
    """Name of the device (in ``devices``, name -> Device) whose swift URL places the
    node's instances, or None.

    The same for every instance of a node: wildcards only change URLs, never their kind.
    """
    if node.attach != 'default':
        chosen = [devices[node.attach]] if node.attach in devices else []
    else:
        chosen = sorted((d for d in devices.values() if d.name in _PLACEMENT_RANK),
                        key=lambda d: _PLACEMENT_RANK[d.name])
    return next((d.name for d in chosen if isinstance(d.url, SwiftUrl)), None)


def _instances_of(where, node, account, members, ins, outs):
    """Yield the Instance values of ``node``.  The hot loop of a big expansion: values are
    built with ``tuple.__new__`` and unchanged devices are shared between instances."""
    templates = _device_templates(node, account, where)
    exec_url, spec = node.exec.url.with_account(account), node.exec
    fixed_dict = {d.name: d for d, _ in templates}
    fixed = MappingProxyType(fixed_dict)
    attach = _placement_device(node, fixed)
    varying = [(d.name, d, d[2:], vary) for d, vary in templates if vary is not None]
    new, no_channels = tuple.__new__, ()
    shared_exec = spec.name and Exec(exec_url, spec.args, spec.env, spec.name)
    for name, found, captures in members:
        devices = fixed
        if varying:
            devices = fixed_dict.copy()
            for device_name, device, rest, vary in varying:
                url = found if vary == 'wild' else vary(
                    iter(captures) if captures is not None else repeat(name))
                devices[device_name] = new(Device, (device_name, url, *rest))
            devices = MappingProxyType(devices)
        yield new(Instance, (
            name, node.name, shared_exec or new(Exec, (exec_url, spec.args, spec.env, name)),
            devices, tuple(ins.get(name, no_channels)), tuple(outs.get(name, no_channels)),
            devices[attach].url if attach else None, attach, node.location, node.replicate))


def expand(job, *, account, list_objects, list_containers=None,
           max_instances=DEFAULT_MAX_INSTANCES, max_channels=DEFAULT_MAX_CHANNELS):
    """Expand ``job`` into a :class:`Plan`.

    :param account: the caller's account (replaces ``~`` and ``.``), or None to keep them.
    :param list_objects: ``list_objects(account, container, prefix)`` -> iterable of object
        names in listing order (all pages); ``prefix`` is None or the text before the first
        ``*``: a hint, names not matching are filtered here anyway.
    :param list_containers: ``list_containers(account, prefix)`` -> container names, needed
        only for wildcards in container names.
    :param max_instances: limit on instances x replicas of the whole job.
    :param max_channels: limit on the number of connect channels.
    :raises JobError: located problems (no objects found, too many instances, duplicate
        instance names, ambiguous zvm:// channels, captured text that makes an invalid
        output name).  Exceptions raised by the listing
        functions propagate unchanged.
    """
    problems, budget, listed = Problems(), max_instances, []
    for i, node in enumerate(job.nodes):
        count, groups = _read_listing(problems, f'[{i}]', node, account,
                                      (list_objects, list_containers), max(budget, 0))
        budget -= count * node.replicate
        listed.append((count, groups))
    problems.raise_if_any()
    with _gc_paused():
        names = {node.name: _instance_names(node, count)
                 for node, (count, _) in zip(job.nodes, listed)}
        _check_names(problems, job, names)
        problems.raise_if_any()
        ins, outs = build_channels(job, names, max_channels)
        instances = []
        for i, (node, (_, groups)) in enumerate(zip(job.nodes, listed)):
            members = _members(node, account, groups, names[node.name])
            instances.extend(_instances_of(f'[{i}]', node, account, members, ins, outs))
        return Plan(tuple(instances))


@contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector around the pure-CPU part of the expansion (after
    the listings are read: no I/O, no yielding to other green threads inside).  A big plan
    is made of many small acyclic immutable values, and the collections triggered while
    they accumulate would otherwise cost more than building them.  Restores the previous
    state, also on error."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _check_names(problems, job, names):
    owner = {}
    for i, node in enumerate(job.nodes):
        for name in names[node.name]:
            if name in owner and owner[name] != node.name:
                problems.add(f'[{i}].name', f'instance name {name} of {node.name} is also an '
                             f'instance of {owner[name]}: rename one of the nodes')
                break
            owner[name] = node.name
