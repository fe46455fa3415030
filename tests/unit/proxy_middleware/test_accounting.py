"""Accounting records: one per job, batched into objects of the stats account."""
import json

from swift.common.utils import get_logger

from tests.unit.fake_swift import FakeSwift
from tests.unit.proxy_middleware.test_report_object import results_of
from zerocloud.proxy_middleware import accounting

LOGGER = get_logger({}, log_route='test-accounting')


class StoringSwift(FakeSwift):
    """Answers every PUT 201 (the object names carry times: they cannot be registered)."""

    def __call__(self, env, start_response):
        if env['REQUEST_METHOD'] == 'PUT':
            self.register('PUT', env['PATH_INFO'], 201)
        return super().__call__(env, start_response)


def test_a_job_record_sums_its_sessions():
    record = accounting.job_record('AUTH_test', 'tx1', 200, 0.75, results_of(3, failing=(1,)))
    assert record['account'] == 'AUTH_test' and record['job'] == 'tx1'
    assert record['instances'] == 3 and record['sessions'] == {'ok': 2, 'signal': 1}
    assert record['cpu_seconds'] == 0.02 and record['bytes_read'] == 20
    assert record['wall_seconds'] == 0.75 and record['status'] == 200


def test_records_are_batched_into_one_object_per_account():
    app = StoringSwift()
    accountant = accounting.Accountant(app, 'userstats', LOGGER, clock=lambda: 1000.0)
    for account in ('AUTH_a', 'AUTH_a', 'AUTH_b'):
        accountant.record({'swift.cache': None}, accounting.job_record(
            account, 'tx', 200, 0.1, results_of(1)))
    assert app.calls == [], 'nothing is written on the job\'s path'
    assert accountant.flush() == 3 and accountant.pending == []
    puts = [c for c in app.calls if c.method == 'PUT']
    assert [c.path for c in puts if c.path.count('/') == 3] == [
        '/v1/userstats/AUTH_a', '/v1/userstats/AUTH_b']
    objects = [c for c in puts if c.path.endswith('.jsonl')]
    assert len(objects) == 2 and objects[0].path.startswith('/v1/userstats/AUTH_a/')
    lines = objects[0].body.decode().splitlines()
    assert [json.loads(line)['account'] for line in lines] == ['AUTH_a', 'AUTH_a']
    assert all(c.env.get('swift.authorize_override') for c in puts), 'pre-authorized'


def test_a_failing_stats_account_drops_the_batch_and_says_so():
    app = FakeSwift()
    app.register('PUT', '/v1/userstats/AUTH_a', 404)
    accountant = accounting.Accountant(app, 'userstats', LOGGER)
    accountant.record({}, accounting.job_record('AUTH_a', 'tx', 200, 0.1, results_of(1)))
    assert accountant.flush() == 0 and accountant.pending == []


def test_pending_records_are_bounded(monkeypatch):
    monkeypatch.setattr(accounting, 'MAX_PENDING', 2)
    monkeypatch.setattr(accounting, 'FLUSH_RECORDS', 10)
    accountant = accounting.Accountant(FakeSwift(), 'userstats', LOGGER)
    for _ in range(5):
        accountant.record({}, {'account': 'a', 'time': 0})
    assert len(accountant.pending) == 2
