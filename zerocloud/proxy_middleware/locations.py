"""Instances that share a ``location`` (SPEC S2.5) run on the same object server when they can."""
import dataclasses

from zerocloud.proxy_middleware import dispatch


class SharedLocations:
    """Instances with the same ``location`` (SPEC S2.5) are offered first to the server the
    first of them prefers, when that server is among their own candidates (it holds their
    object; an instance without one has every server as a candidate): they then share it
    unless it is full or down.  "First" is the first one :meth:`apply` sees."""

    def __init__(self):
        self._first_choice = {}

    def apply(self, item):
        """``item`` (a :class:`Prepared`) with its candidates reordered for its location."""
        location, nodes = item.instance.location, item.target.nodes
        if location is None or not nodes:
            return item
        chosen = self._first_choice.setdefault(location, nodes[0])
        key = dispatch.node_key(chosen)
        rest = tuple(node for node in nodes if dispatch.node_key(node) != key)
        if len(rest) < len(nodes):
            nodes = (chosen,) + rest
        return dataclasses.replace(item, target=dataclasses.replace(item.target, nodes=nodes))
