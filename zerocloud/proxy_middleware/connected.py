"""Running a connected job: every session wired by the rendezvous, all or nothing.

A job whose instances have channels (``connect``, ``zvm://``) runs under one
:class:`~.rendezvous.JobRendezvous`: every session description gets a ``mesh`` entry (the
rendezvous address, the job token, its channels), every session is dispatched at once (one
green thread each: they must all be admitted together), and the first failure (a session that
cannot be placed, misses the registration deadline, or ends in failure) cancels all the
others (a non-zero exit counts as a failure: the streams it fed are incomplete).  The
response names the instance that failed first and why (``X-Nexe-Error``), and a job with a
failure publishes no output.
"""
from swift.common import swob

from zerocloud.channels import rendezvous as proto
from zerocloud import green
from zerocloud.proxy_middleware.rendezvous import JobRendezvous


def is_connected(plan):
    """True when some instance of the plan has network channels."""
    return any(instance.in_channels or instance.out_channels for instance in plan.instances)


def channel_pairs(channels):
    """``[[sandbox device, peer instance], ...]`` (``/dev/out/x`` -> ``out/x``)."""
    return [[channel.device[len('/dev/'):], channel.peer] for channel in channels]


def run_connected(job_run, prepared):
    """Dispatch every ``(instance, session, blobs)`` of a connected job; their results.

    :raises HTTPException: the placement error (404, 503, ...) of the instance that failed
        first, with ``X-Nexe-Error`` naming it.
    """
    config, logger = job_run.config, job_run.services.logger
    names = [instance.name for instance, _session, _blobs in prepared]
    with JobRendezvous(names, config.rendezvous_ip, config.rendezvous_timeout_seconds,
                       logger) as rendezvous:
        for instance, session, _blobs in prepared:
            session['mesh'] = rendezvous.session_fields(
                instance.name, channel_pairs(instance.in_channels),
                channel_pairs(instance.out_channels))

        def execute(args):
            instance = args[0]
            try:
                result = job_run.execute_session(*args)
            except swob.HTTPException as error:
                rendezvous.fail(instance.name, error_reason(error))
                return error
            except Exception as error:  # our fault: cancel the others, answer 500
                logger.exception('zerocloud: session %s failed', instance.name)
                rendezvous.fail(instance.name, 'internal error')
                return swob.HTTPInternalServerError(body='zerocloud: internal error (%s)\n'
                                                         % error, content_type='text/plain')
            reason = proto.failure_reason(result.report)
            if reason is not None:
                rendezvous.fail(instance.name, reason)
            return result
        outcomes = green.map_concurrently(execute, prepared, len(prepared))
        failure = rendezvous.failure
    return collect(names, outcomes, failure)


def error_reason(error):
    """A one-line reason from an HTTP error: status and the first line of its body."""
    body = (error.body or b'').decode('utf-8', 'replace').strip().split('\n')[0]
    return ('%s %s' % (error.status, body)).strip()


def collect(names, outcomes, failure):
    """Results in instance order; the first failure is named in ``X-Nexe-Error``.

    :raises HTTPException: when some session could not be placed: the failing instance's
        error (else the first one), its ``X-Nexe-Error`` naming the instance.
    """
    errors = {name: outcome for name, outcome in zip(names, outcomes)
              if isinstance(outcome, swob.HTTPException)}
    message = None if failure is None else '%s failed: %s' % failure
    if errors:
        name = failure[0] if failure and failure[0] in errors else next(iter(errors))
        error = errors[name]
        error.headers['X-Nexe-Error'] = (message or '%s failed: %s' % (
            name, error_reason(error))).replace('\n', ' ')[:4000]
        raise error
    if message is not None:
        by_name = dict(zip(names, outcomes))
        target = by_name.get(failure[0]) or outcomes[0]
        target.errors.insert(0, message)
    return outcomes
