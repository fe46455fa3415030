"""A job's independent sessions run in a bounded window of green threads, in order."""
import eventlet
from swift.common import swob

from zerocloud.proxy_middleware.cancel import JobThreads


class Logger:
    def __init__(self):
        self.lines = []

    def exception(self, *args):
        self.lines.append(args)


def cancelled(item, reason):
    return ('cancelled', item, reason)


def test_never_more_than_the_window_at_once_and_outcomes_in_order():
    jobs, now, most, started = JobThreads(Logger(), str), [0], [0], []

    def session(item):
        started.append(item)
        now[0] += 1
        most[0] = max(most[0], now[0])
        eventlet.sleep(0.001 * (item % 3))
        now[0] -= 1
        return item * 2
    outcomes = jobs.run_window(session, range(100), cancelled, 7)
    assert outcomes == [item * 2 for item in range(100)]
    assert most[0] == 7
    assert started[:7] == list(range(7)) and sorted(started) == list(range(100))
    assert len(jobs._threads) == 7   # one thread per window place, not per item


def test_a_failure_cancels_the_running_and_skips_the_rest():
    jobs, ran = JobThreads(Logger(), str), []

    def session(item):
        ran.append(item)
        if item == 3:
            jobs.cancel('3 failed: crashed')
            return 'failed'
        eventlet.sleep(30)   # a busy peer: must not run to its end
        return 'finished'
    outcomes = jobs.run_window(session, range(50), cancelled, 5)
    assert outcomes[3] == 'failed'
    assert outcomes[:3] == [('cancelled', item, '3 failed: crashed') for item in range(3)]
    assert outcomes[4:] == [('cancelled', item, '3 failed: crashed') for item in range(4, 50)]
    assert sorted(ran) == [0, 1, 2, 3]   # 4's thread was killed before it started, the
    # items after the window were never taken


def test_an_http_error_is_an_outcome_and_cancels():
    jobs = JobThreads(Logger(), str)

    def session(item):
        if item == 1:
            raise swob.HTTPNotFound(body=b'Error 404 Not Found while fetching /a/c/o\n')
        eventlet.sleep(30)
    outcomes = jobs.run_window(session, [0, 1, 2], cancelled, 2)
    assert isinstance(outcomes[1], swob.HTTPException) and outcomes[1].status_int == 404
    assert outcomes[0][0] == outcomes[2][0] == 'cancelled'
    assert jobs.reason.startswith('1 failed: 404 Not Found')


def test_a_cancel_before_the_start_runs_nothing():
    jobs, ran = JobThreads(Logger(), str), []
    jobs.cancel('the job did not end within zerovm_job_timeout (1 s)')
    outcomes = jobs.run_window(ran.append, range(4), cancelled, 2)
    assert ran == []
    assert outcomes == [('cancelled', item, jobs.reason) for item in range(4)]


def test_an_empty_job_has_no_outcome():
    assert JobThreads(Logger(), str).run_window(str, (), cancelled, 4) == []
