"""Responses of any size: per-instance headers for small jobs, a summary and a stored report
object beyond (issue 16.3)."""
import http.client
import io
import json

from swift.common import swob

from tests.unit.fake_swift import FakeSwift
from zerocloud import job as joblib
from zerocloud.proxy_middleware import report_object
from zerocloud.proxy_middleware.results import (
    SessionResult, counted, nexe_headers, summary_headers)
from zerocloud.proxy_middleware.swift_access import SwiftAccess
from zerocloud.report import Accounting, Report

JOBS = '/v1/AUTH_test/.zerocloud-jobs'


def results_of(count, failing=()):
    job = joblib.parse_job([{'name': 'wc', 'exec': {'path': 'file://python:python'},
                             'count': count, 'devices': [{'name': 'python'}]}])
    instances = joblib.expand(job, account='AUTH_test', list_objects=None).instances
    results = []
    for index, instance in enumerate(instances):
        if index in failing:
            report = Report(status='signal', reason='killed by signal SIGSEGV',
                            wall_seconds=0.5)
        else:
            report = Report(status='ok', retcode=0, wall_seconds=0.25,
                            cdr=Accounting(sys=0.01, reads=2, rbytes=10))
        results.append(SessionResult(instance, 'obj%d:6010' % (index % 4), report, {},
                                     local_object=True))
    return results


def swift_with(app):
    app.register('HEAD', '/v1/AUTH_test', 204)
    req = swob.Request.blank('/v1/AUTH_test', method='POST')
    return SwiftAccess(app, req)


def header_block(headers):
    return ''.join('%s: %s\r\n' % item for item in headers.items()).encode('latin-1')


def parse_with_http_client(headers):
    """Parse a response head the way requests and swiftclient do (http.client)."""
    raw = b'HTTP/1.1 200 OK\r\n' + header_block(headers) + b'\r\n'

    class Sock:
        def makefile(self, *args):
            return io.BytesIO(raw)
    resp = http.client.HTTPResponse(Sock())
    resp.begin()
    return dict(resp.getheaders())


def test_a_job_of_100_instances_keeps_the_per_instance_headers():
    results = results_of(100)
    headers = nexe_headers(results)
    assert headers['X-Nexe-System'].split(',') == ['wc-%d' % n for n in range(1, 101)]
    assert headers['X-Nexe-Status'] == ','.join(['ok'] * 100)
    assert len(headers['X-Nexe-Cdr-Line'].split(',')) == 101
    assert 'X-Nexe-Summary' not in headers and 'X-Nexe-Report' not in headers


def test_a_larger_job_answers_summaries_that_http_client_parses():
    results = results_of(100_000, failing={5, 7})
    app = FakeSwift()
    app.register('HEAD', JOBS, 204)
    app.register('PUT', JOBS + '/job1.report', 201)
    headers = nexe_headers(results, store_report=report_object.ReportStore(
        swift_with(app), 'AUTH_test', 'job1'))
    assert sum(len(name) + len(value) for name, value in headers.items()) < 4096
    parsed = parse_with_http_client(headers)
    assert parsed['X-Nexe-Summary'] == '100000'
    assert parsed['X-Nexe-System'] == 'wc-1..wc-100000'
    assert parsed['X-Nexe-Status'] == 'ok*99998,killed by signal SIGSEGV*2'
    assert parsed['X-Nexe-Retcode'] == '0*99998,*2'
    assert parsed['X-Nexe-Colocated'] == '1*100000'
    assert parsed['X-Nexe-Node'] == ','.join('obj%d:6010*25000' % n for n in range(4))
    assert parsed['X-Nexe-Error'] == 'wc-6 failed: killed by signal SIGSEGV'
    assert parsed['X-Nexe-Report'] == 'swift://AUTH_test/.zerocloud-jobs/job1.report'
    total, summed = parsed['X-Nexe-Cdr-Line'].split(', ')
    assert total == '25000.500' and summed.split()[:4] == ['25000.500', '999.98', '0.00',
                                                           '199996']
    put = app.calls[-1]
    assert put.headers['Content-Type'] == 'application/json'
    report = json.loads(put.body)
    assert report['error'] == 'wc-6 failed: killed by signal SIGSEGV'
    assert len(report['instances']) == 100_000
    assert report['instances'][5] == {
        'name': 'wc-6', 'server': 'obj1:6010', 'status': 'killed by signal SIGSEGV',
        'retcode': None, 'validation': 2, 'colocated': True,
        'cdr': dict({'seconds': 0.5}, **{name: 0 for name in (
            'reads', 'rbytes', 'writes', 'wbytes', 'nreads', 'nrbytes', 'nwrites',
            'nwbytes')}, sys=0.0, user=0.0)}


def test_a_missing_jobs_container_is_created_as_the_caller():
    app = FakeSwift()
    app.register('PUT', JOBS, 201)
    app.register('PUT', JOBS + '/j.report', 201)
    headers = nexe_headers(results_of(101), store_report=report_object.ReportStore(
        swift_with(app), 'AUTH_test', 'j'))
    assert [(c.method, c.path) for c in app.calls if c.method == 'PUT'] == [
        ('PUT', JOBS), ('PUT', JOBS + '/j.report')]
    assert headers['X-Nexe-Report'] == 'swift://AUTH_test/.zerocloud-jobs/j.report'


def test_a_caller_who_cannot_write_gets_the_summary_and_says_why():
    app = FakeSwift()
    app.register('PUT', JOBS, 403)   # Swift's auth refuses the caller
    headers = nexe_headers(results_of(101), store_report=report_object.ReportStore(
        swift_with(app), 'AUTH_test', 'j'))
    assert headers['X-Nexe-Summary'] == '101' and 'X-Nexe-Report' not in headers
    assert headers['X-Nexe-Report-Error'].startswith(
        'report not stored: PUT /AUTH_test/.zerocloud-jobs: 403')


def test_a_huge_status_in_a_small_job_switches_to_the_summary():
    results = results_of(3, failing={0, 1, 2})
    long_reason = Report(status='error', reason='x' * 5000)
    results = [SessionResult(r.instance, 'n', long_reason, {}) for r in results]
    headers = summary_headers(results)
    assert headers['X-Nexe-Status'] == 'x' * 256 + '*3'
    assert 'X-Nexe-Summary' in nexe_headers(results)


def test_counted_lists_ten_values_then_the_rest():
    values = ['v%d' % (n % 12) for n in range(120)]
    assert counted(values).split(',')[-1] == 'other*20'
    assert counted(values).split(',')[0] == 'v0*10'
    assert counted([]) == ''


def test_cdr_line_starts_with_the_jobs_wall_time_not_the_sum_of_sessions():
    """S5: the first figure is the job's total time; 4 sessions of 0.25 s in parallel took
    0.3 s, not 1.0 s.  Each instance keeps its own node time."""
    results = results_of(4)
    line = nexe_headers(results, job_seconds=0.3)['X-Nexe-Cdr-Line']
    assert line.startswith('0.300, 0.250 ') and line.count(', ') == 4
    assert nexe_headers(results)['X-Nexe-Cdr-Line'].startswith('1.000, ')
    summary = summary_headers(results_of(300), job_seconds=2.5)['X-Nexe-Cdr-Line']
    assert summary.startswith('2.500, 75.000 ')
