"""``replicate`` (SPEC S2.6): N copies of an instance run and their outputs are compared.

Copy ``k`` (0-based) is offered to the object servers starting ``k`` places further down the
instance's candidate list (primaries then handoffs), so copies land on different servers
when there are enough of them.  Every copy must succeed and produce the same exit code and
the same bytes on every writable device; otherwise the instance fails with a reason naming
the copies and devices that disagree (a determinism check).  The first copy's outputs are
the ones published.  Copies of instances with network channels are not supported yet.
"""
import dataclasses

from zerocloud import green
from zerocloud.report import Report, STATUS_ERROR


def rotated(nodes, copy):
    """The candidate ``nodes`` (a tuple) started ``copy`` places further on."""
    if not nodes:
        return nodes
    shift = copy % len(nodes)
    return nodes[shift:] + nodes[:shift]


def run_copies(run_copy, copies):
    """Run ``run_copy(k)`` for every copy concurrently; one :class:`SessionResult`.

    :param run_copy: ``copy index -> SessionResult`` (dispatches one copy).
    """
    return compare(green.wait_all_or_kill(run_copy, range(copies)))


def compare(results):
    """The first copy's result, turned into a failure when the copies disagree (exit codes,
    or the size and MD5 of the bytes on each writable device)."""
    first = results[0]
    nodes = ' '.join(result.node for result in results)
    failed = [(k, result) for k, result in enumerate(results, 1) if not result.report.ok]
    if failed:
        k, result = failed[0]
        reason = 'replica %d of %d failed: %s' % (k, len(results), result.report.status_text)
        return dataclasses.replace(result, node=nodes, report=dataclasses.replace(
            result.report, reason=reason))
    problems = []
    for k, result in enumerate(results[1:], 2):
        if result.report.retcode != first.report.retcode:
            problems.append('replica %d exited with %s, replica 1 with %s'
                            % (k, result.report.retcode, first.report.retcode))
        for device in sorted(set(first.outputs) | set(result.outputs)):
            if _fingerprint(first.outputs.get(device)) != \
                    _fingerprint(result.outputs.get(device)):
                problems.append('replica %d wrote different bytes on %s than replica 1'
                                % (k, device))
    if not problems:
        return dataclasses.replace(first, node=nodes)
    report = Report(status=STATUS_ERROR, reason='replicas disagree: ' + '; '.join(problems),
                    retcode=first.report.retcode, validation=first.report.validation,
                    wall_seconds=first.report.wall_seconds, cdr=first.report.cdr)
    return dataclasses.replace(first, node=nodes, report=report)


def _fingerprint(spool):
    return (0, None) if spool is None or not spool.size else (spool.size, spool.digest())
