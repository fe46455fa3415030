"""Running a connected job in waves: stages of independent sessions, shuffles spooled.

A connected job normally starts every session at once (:mod:`.connected`: they stream to
each other), so it needs a slot for each of them together.  When its channels form no cycle
(map -> reduce -> merge), it can also run **in waves** (``zerovm_shuffle_spool``):

* ``auto`` (the default): when the slots it needs are not free (more instances than the
  cluster has slots, or a busy cluster), instead of a 503;
* ``always``: every acyclic connected job (no gang start at all);
* ``never``: never (a job that does not fit is a 503 saying how many slots it needs).

:func:`stages` orders the instances: stage 0 has no producers, each later stage only
producers in earlier ones.  Each stage runs like an independent job's sessions (a window of
green threads, back-pressure, fairness: :mod:`.schedule`); its sessions carry a
:class:`zerocloud.shuffle.Shuffle`: their ``/dev/out/*`` are spooled on the server that runs
them and their ``/dev/in/*`` read from the spools of their producers (where each ran is
recorded here), so the same programs work either way.  A failure (a session not ``ok``, or
a non-zero exit: its spools are incomplete) cancels the job; later stages do not run and
nothing is published.  When the job ends, its spools are removed from every server that
may hold some (:func:`remove_spools`).

A job with a cycle (a mapper mesh), a pair of instances joined by more than one channel,
or a channel on another device than ``/dev/in/<peer>`` and ``/dev/out/<peer>`` (``zvm://``
devices) cannot run in waves: it still needs all its slots at once.
"""
import dataclasses
import secrets

from zerocloud import green, shuffle as shufflelib
from zerocloud.channels import rendezvous as proto
from zerocloud.proxy_middleware import schedule
from zerocloud.proxy_middleware.connected import channel_pairs
from zerocloud.proxy_middleware.results import SessionResult

MODES = ('auto', 'always', 'never')
DELETE_SECONDS = 5.0


def stages(plan):
    """The instances of ``plan`` in stages (lists in plan order), or None when the job
    cannot run in waves (see the module docstring)."""
    producers = {instance.name: set() for instance in plan.instances}
    for instance in plan.instances:
        pairs = channel_pairs(instance.in_channels) + channel_pairs(instance.out_channels)
        peers = [peer for _device, peer in pairs]
        if len(set(peers)) != len(peers) or instance.name in peers or not all(
                device in ('in/' + peer, 'out/' + peer) for device, peer in pairs):
            return None
        producers[instance.name].update(peer for _device, peer in
                                        channel_pairs(instance.in_channels))
    result, placed = [], set()
    while len(placed) < len(producers):
        stage = [instance for instance in plan.instances if instance.name not in placed
                 and producers[instance.name] <= placed]
        if not stage:
            return None   # a cycle
        placed.update(instance.name for instance in stage)
        result.append(stage)
    return result


class Waves:
    """One connected job run in waves (see the module docstring).

    :param job: the :class:`~.execution.JobRun` (its ``prepare``, ``execute``, ``threads``).
    :param prepared: ``{instance name: Prepared}`` already described (used and dropped).
    """

    def __init__(self, job, plan, prepared=None, window=256):
        self.job = job
        self.plan = plan
        self.prepared = dict(prepared or {})
        self.window = window
        self.token = secrets.token_hex(16)
        self.ran_on = {}      # producer name -> 'ip:port' of the server holding its spools
        self.servers = {}     # 'ip:port' -> ring node, every server offered a producer

    def run(self, ordered):
        """Run the ``ordered`` stages; outcomes in plan order."""
        outcomes = {}
        try:
            for stage in ordered:
                results = self.job.threads.run_window(self._run, stage,
                                                      SessionResult.cancelled, self.window)
                outcomes.update(zip((instance.name for instance in stage), results))
        finally:
            remove_spools(self.token, self.servers.values(), self.job.logger)
        return [outcomes[instance.name] for instance in self.plan.instances]

    def _run(self, instance):
        item = self.prepared.pop(instance.name, None) or self.job.prepare(instance)
        if instance.out_channels:
            nodes = item.target.nodes
            for node in nodes[:schedule.offered_count(nodes)]:
                self.servers[schedule.server_key(node)] = node
        session = dataclasses.replace(item.session, shuffle=self.shuffle(instance))
        result = self.job.execute(item, session)
        reason = proto.failure_reason(result.report)
        if reason is not None:
            self.job.threads.cancel('%s failed: %s' % (instance.name, reason))
        elif instance.out_channels:
            server = result.node.split('/')[0]
            self.ran_on[instance.name] = server
            self.servers.setdefault(server, _node(server))
        return result

    def shuffle(self, instance):
        """The :class:`zerocloud.shuffle.Shuffle` of ``instance`` (its producers ran)."""
        return shufflelib.Shuffle.of(
            self.token, instance.name,
            consumers=[channel.peer for channel in instance.out_channels],
            producers=[(channel.peer, self.ran_on[channel.peer])
                       for channel in instance.in_channels])


def remove_spools(token, nodes, logger):
    """Ask every server in ``nodes`` to remove the job's spools (never raises)."""
    from swift.common.bufferedhttp import http_connect_raw

    def remove(node):
        try:
            with green.Timeout(DELETE_SECONDS):
                conn = http_connect_raw(node['ip'], node['port'], 'DELETE',
                                        shufflelib.job_path(token),
                                        headers={shufflelib.FETCH_HEADER: '1'})
                response = conn.getresponse()
                response.read()
                response.close()
            if response.status != 204:
                logger.warning('zerocloud: shuffle spools %s on %s:%s: %d', token,
                               node['ip'], node['port'], response.status)
        except (Exception, green.Timeout) as err:
            logger.warning('zerocloud: shuffle spools %s on %s:%s not removed: %s', token,
                           node['ip'], node['port'], err)
    green.wait_all_or_kill(remove, list(nodes))


def _node(server):
    host, port = server.rsplit(':', 1)
    return {'ip': host, 'port': int(port)}
