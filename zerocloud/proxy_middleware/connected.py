"""Running a connected job: every session wired by the rendezvous, all or nothing.

A job whose instances have channels (``connect``, ``zvm://``) runs under one
:class:`~.rendezvous.JobRendezvous`: every session description gets a
:class:`zerocloud.wire.Mesh` (the rendezvous address, the job token, its channels), every
session is dispatched at once (one green thread each: they must all be admitted together),
and the first failure (a session that cannot be placed, misses the registration deadline, or
ends in failure; a non-zero exit counts: the streams it fed are incomplete) cancels all the
others, through the rendezvous and by closing their connections.  The response names the
instance that failed first and why (``X-Nexe-Error``), and a job with a failure publishes
no output.
"""
import dataclasses

from swift.common import swob

from zerocloud.channels import rendezvous as proto
from zerocloud.proxy_middleware.cancel import error_reason
from zerocloud.proxy_middleware.results import SessionResult
from zerocloud.proxy_middleware.rendezvous import JobRendezvous


def is_connected(plan):
    """True when some instance of the plan has network channels."""
    return any(instance.in_channels or instance.out_channels for instance in plan.instances)


def channel_pairs(channels):
    """``((sandbox device, peer instance), ...)`` (``/dev/out/x`` -> ``out/x``)."""
    return tuple((channel.device[len('/dev/'):], channel.peer) for channel in channels)


def run_connected(prepared, execute_session, threads, config, logger):
    """Dispatch every :class:`~.execution.Prepared` session of a connected job at once.

    :param execute_session: ``(prepared, wire session) -> SessionResult`` (dispatches one).
    :param threads: the job's :class:`~.cancel.JobThreads` (cancels the others at the first
        failure; its ``reason`` names that failure afterwards).
    :returns: the outcomes in instance order (results, or the HTTP error of a session that
        could not be placed).
    """
    names = [item.instance.name for item in prepared]
    with JobRendezvous(names, config.rendezvous_ip, config.rendezvous_timeout_seconds,
                       logger) as rendezvous:
        sessions = {item.instance.name: dataclasses.replace(item.session, mesh=rendezvous.mesh(
            item.instance.name, channel_pairs(item.instance.in_channels),
            channel_pairs(item.instance.out_channels))) for item in prepared}

        def execute(item):
            name = item.instance.name
            try:
                result = execute_session(item, sessions[name])
            except swob.HTTPException as error:
                rendezvous.fail(name, error_reason(error))
                raise
            except Exception:
                rendezvous.fail(name, 'internal error')
                raise
            reason = proto.failure_reason(result.report)
            if reason is not None:
                rendezvous.fail(name, reason)
                threads.cancel(_named(rendezvous.failure) or '%s failed: %s' % (name, reason))
            return result
        outcomes = threads.run_all(execute, prepared, cancelled_result)
        if rendezvous.failure is not None:
            threads.reason = _named(rendezvous.failure)
    return outcomes


def cancelled_result(item, reason):
    """The result of a (prepared) session its job cancelled."""
    return SessionResult.cancelled(item.instance, reason)


def _named(failure):
    return None if failure is None else '%s failed: %s' % failure
