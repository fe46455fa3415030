"""An executable new to the cluster, run by many jobs at once: each object server stores it
once and validates it once, and none of the jobs is told that it "changed while it was
validated" because another job stored or used the same bytes meanwhile (the throughput
bench's 8 clients found that: the cache re-linked and touched the file on every job)."""
import concurrent.futures
import uuid

from tests.functional.test_head_cache import cat_job
from tests.functional.test_jobs_checks import post_job

JOBS = 8
ROUNDS = 3


def test_many_first_jobs_of_a_new_executable_all_run(cluster, c_program):
    conn = cluster.connection()
    container = 'zcexe-' + uuid.uuid4().hex
    conn.put_container(container)
    conn.put_object(container, 'in.txt', b'x' * 1024)
    with concurrent.futures.ThreadPoolExecutor(JOBS) as pool:
        for _ in range(ROUNDS):
            # the same program with its own build id: bytes no server has seen
            unique = c_program('sb_cat', extra_flags=('-Wl,--build-id=0x' + uuid.uuid4().hex,))
            with open(unique, 'rb') as handle:
                conn.put_object(container, 'prog', handle.read())
            answers = list(pool.map(lambda _: post_job(cluster, cat_job('~', container)),
                                    range(JOBS)))
            statuses = [(resp.status_code, resp.headers.get('X-Nexe-Status')) for resp in answers]
            assert statuses == [(200, 'ok')] * JOBS, [resp.headers for resp in answers]
            assert all(resp.content == b'x' * 1024 for resp in answers)
