"""The connect graph: ``connect`` lists and ``zvm://`` devices -> per-instance channels.

Rules (Servlets.md rule 6, Url.md "Zvm URL", SPEC S2.4):

* ``"connect": ["b"]`` on node ``a`` makes a one-way stream from every instance of ``a`` to
  every instance of ``b``: the source sees ``/dev/out/<b-instance>``, the destination sees
  ``/dev/in/<a-instance>``.
* A group connected to itself is a full mesh without self-loops (``map-1`` gets
  ``/dev/out/map-2`` ... but never ``/dev/out/map-1``).  A single node cannot connect to
  itself (checked by the parser).
* A writable device whose path is ``zvm://b:dev`` connects ``a`` to ``b`` (as if ``b`` were in
  ``connect``) and renames both ends: the source writes to its own ``/dev/<device name>``
  (e.g. ``/dev/stdout``), the destination reads ``/dev/<dev>`` (e.g. ``/dev/stdin``).  That is
  only meaningful one-to-one: an instance that would get two channels with the same device
  path is an error.
* Order: an instance's out-channels follow its ``connect`` order (then zvm:// targets), then
  the destination's instance order; its in-channels follow the sources' instance order.
"""
from zerocloud.job.errors import JobError
from zerocloud.job.model import Channel
from zerocloud.job.urls import ZvmUrl

DEFAULT_MAX_CHANNELS = 250_000


def _edges(node):
    """(target node name, source device or None, destination device or None, location)."""
    zvm = {}
    for j, device in enumerate(node.devices):
        if isinstance(device.url, ZvmUrl):
            zvm.setdefault(device.url.node, (device.name, device.url.device, j))
    edges = []
    for target in node.connect + tuple(t for t in zvm if t not in node.connect):
        source_dev, dest_dev, j = zvm.get(target, (None, None, None))
        edges.append((target, source_dev, dest_dev, j))
    return edges


def count_channels(job, members):
    """How many channels the graph has, computed without building it."""
    total = 0
    for node in job.nodes:
        sources = len(members[node.name])
        for target, *_ in _edges(node):
            targets = len(members[target])
            total += sources * targets - (sources if target == node.name else 0)
    return total


def build_channels(job, members, max_channels=DEFAULT_MAX_CHANNELS):
    """Return ``(in_channels, out_channels)``: dicts instance name -> list of Channel
    (instances without channels are absent).

    :param members: node name -> list of its instance names, in instance order.
    :raises JobError: when the graph is larger than ``max_channels`` or a zvm:// device would
        give one instance two channels with the same device path.
    """
    total = count_channels(job, members)
    if total > max_channels:
        raise JobError([('', f'the connect graph has {total} channels, more than the '
                         f'{max_channels} allowed')])
    ins, outs = {}, {}    # only instances that have channels
    for node in job.nodes:
        for target, source_dev, dest_dev, _ in _edges(node):
            for source in members[node.name]:
                out_list = outs.setdefault(source, [])
                for dest in members[target]:
                    if dest == source:
                        continue
                    out_list.append(Channel(f'/dev/{source_dev}' if source_dev
                                            else f'/dev/out/{dest}', dest))
                    ins.setdefault(dest, []).append(Channel(f'/dev/{dest_dev}' if dest_dev
                                                            else f'/dev/in/{source}', source))
    _check_unique(job, ins, outs)
    return ins, outs


def _check_unique(job, ins, outs):
    problems = []
    for index, node in enumerate(job.nodes):
        for j, device in enumerate(node.devices):
            if not isinstance(device.url, ZvmUrl):
                continue
            out_dev, in_dev = f'/dev/{device.name}', f'/dev/{device.url.device}'
            for name, channels in outs.items():
                if sum(c.device == out_dev for c in channels) > 1:
                    problems.append((f'[{index}].devices[{j}].path', f'{name} would write '
                                     f'{out_dev} to several instances of {device.url.node}'))
                    break
            for name, channels in ins.items():
                if sum(c.device == in_dev for c in channels) > 1:
                    problems.append((f'[{index}].devices[{j}].path', f'{name} would read '
                                     f'{in_dev} from several instances'))
                    break
    if problems:
        raise JobError(problems)
