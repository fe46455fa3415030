"""Resource limits: every kind of abuse ends with the right status, in time, leaving nothing;
channel limits are exact (the limit itself is ok, one byte more is refused and never lands).

Each run is bounded by the CLI subprocess timeout ``timeout + LIMIT_MARGIN`` (a generous
bound, not a timing measurement): a session the sandbox fails to stop fails the test with
``SandboxHung``.  Every abusive program carries a unique token in its arguments so the test can
scan ``/proc`` for processes that outlived their session.
"""
import contextlib
import os
import resource
import threading

import pytest

from tests.sandbox.checks import assert_ran_ok, assert_status, processes_with

LIBCS = ('glibc', 'musl')
#: seconds the CLI may take beyond the session's own wall-clock limit
LIMIT_MARGIN = 5.0
MEMORY_LIMIT = 64 << 20
OUTPUT_LIMIT = 1 << 20
INPUT_LIMIT = 100000
EXIT_NOT_RUN = 125
TIMEOUT = 2.0


def assert_no_leftovers(result, token):
    leftovers = processes_with(token.encode())
    assert not leftovers, 'processes survived the session: %s\n%s' % (leftovers,
                                                                      result.describe())


def touched_mib(stdout):
    return [int(line.split()[1]) for line in stdout.splitlines() if line.startswith(b'touched ')]


@pytest.mark.parametrize('libc', LIBCS)
def test_memory_bomb_ends_with_memory_limit(sb, run_sandboxed, token, libc):
    result = run_sandboxed(sb('sb_limits', libc), ('membomb', token), memory=MEMORY_LIMIT,
                           timeout=10, margin=LIMIT_MARGIN)
    assert_status(result, 'memory-limit')
    assert result.report.get('reason'), result.describe()
    assert touched_mib(result.stdout), 'the bomb never ran\n' + result.describe()
    assert max(touched_mib(result.stdout)) << 20 <= MEMORY_LIMIT
    assert_no_leftovers(result, token)


def test_python_memory_bomb_ends_with_memory_limit(run_python):
    result = run_python("""
        blocks = []
        while True:
            blocks.append(bytearray(1 << 20))
            if len(blocks) % 8 == 0:
                print('touched', len(blocks), 'MiB', flush=True)
        """, memory=4 * MEMORY_LIMIT, timeout=20, margin=LIMIT_MARGIN)
    assert_status(result, 'memory-limit')
    assert touched_mib(result.stdout), 'the bomb never ran\n' + result.describe()
    assert max(touched_mib(result.stdout)) << 20 <= 4 * MEMORY_LIMIT


def test_fork_bomb_is_contained(sb, run_sandboxed, token):
    result = run_sandboxed(sb('sb_limits'), ('forkbomb', token), timeout=TIMEOUT,
                           margin=LIMIT_MARGIN)
    assert_status(result, 'timeout', 'cpu-limit', 'seccomp')
    assert_no_leftovers(result, token)


@pytest.mark.parametrize('libc', LIBCS)
def test_cpu_loop_is_stopped(sb, run_sandboxed, token, libc):
    result = run_sandboxed(sb('sb_limits', libc), ('cpu', token), timeout=TIMEOUT,
                           margin=LIMIT_MARGIN)
    assert_status(result, 'timeout', 'cpu-limit')
    assert result.exit_code != 0, 'a stopped session must not look like success'
    assert_no_leftovers(result, token)


def test_sleep_forever_times_out(sb, run_sandboxed, token):
    result = run_sandboxed(sb('sb_limits', 'musl'), ('sleep', token), timeout=TIMEOUT,
                           margin=LIMIT_MARGIN)
    assert_status(result, 'timeout')
    assert result.report['wall_seconds'] >= TIMEOUT * 0.9, result.describe()
    assert result.exit_code != 0
    assert_no_leftovers(result, token)


@pytest.mark.parametrize('channel', ['/dev/stdout', '/dev/output', '/dev/out/flood'])
def test_output_flood_stops_at_the_limit(sb, run_sandboxed, tmp_path, token, channel):
    result = run_sandboxed(sb('sb_limits'), ('flood', channel, token), output=True,
                           outs=('flood',), max_output=OUTPUT_LIMIT, timeout=10,
                           margin=LIMIT_MARGIN)
    assert_status(result, 'output-limit')
    written = {'/dev/stdout': result.stdout, '/dev/output': result.output,
               '/dev/out/flood': result.outs['flood']}[channel] or b''
    assert len(written) == OUTPUT_LIMIT, 'channel not filled to exactly its limit'
    assert set(written) <= {ord('F')}
    assert_no_leftovers(result, token)


@pytest.mark.parametrize('channel', ['/dev/stdout', '/dev/output', '/dev/out/big'])
def test_output_cant_grow_sparse_past_the_limit(sb, run_sandboxed, tmp_path, channel):
    """ftruncate to 1 TiB and pwrite at 2 TiB: no host file may end up larger than the limit
    (a sparse terabyte would still be uploaded as a terabyte)."""
    result = run_sandboxed(sb('sb_escape_fs'), ('grow', channel), output=True, outs=('big',),
                           max_output=OUTPUT_LIMIT, margin=LIMIT_MARGIN)
    assert_status(result, 'ok', 'output-limit', 'seccomp')
    for name in ('out-stdout', 'out-output', 'out-big'):
        size = os.stat(tmp_path / name).st_size
        assert size <= OUTPUT_LIMIT, '%s grew to %d bytes\n%s' % (name, size,
                                                                  result.describe())


def test_python_output_flood_stops_at_the_limit(run_python):
    result = run_python("""
        import sys
        while True:
            sys.stdout.write('F' * 65536)
        """, max_output=OUTPUT_LIMIT, timeout=20, margin=LIMIT_MARGIN)
    assert_status(result, 'output-limit')
    assert len(result.stdout) == OUTPUT_LIMIT


@pytest.mark.parametrize('channel', ['/dev/stdout', '/dev/output', '/dev/out/exact'])
@pytest.mark.parametrize('chunk', [65536, 4099, OUTPUT_LIMIT])
def test_file_channel_takes_exactly_its_limit(sb, run_sandboxed, channel, chunk):
    """--max-output 1048576: writing 1,048,576 bytes is ok and all of them land."""
    result = run_sandboxed(sb('sb_write', 'musl'), (channel, str(OUTPUT_LIMIT), str(chunk)),
                           output=True, outs=('exact',), max_output=OUTPUT_LIMIT)
    assert_ran_ok(result)
    assert written_to(result, channel) == b'w' * OUTPUT_LIMIT


@pytest.mark.parametrize('channel', ['/dev/stdout', '/dev/output', '/dev/out/exact'])
@pytest.mark.parametrize('chunk', [65536, 4099, OUTPUT_LIMIT + 1])
def test_file_channel_never_holds_a_byte_more_than_its_limit(sb, run_sandboxed, channel,
                                                             chunk):
    """One byte more: the file holds exactly the limit (the crossing write is cut short, the
    next fails with EFBIG) and the session is output-limit, keeping the program's exit code."""
    result = run_sandboxed(sb('sb_write', 'musl'), (channel, str(OUTPUT_LIMIT + 1), str(chunk)),
                           output=True, outs=('exact',), max_output=OUTPUT_LIMIT)
    assert_status(result, 'output-limit')
    assert written_to(result, channel) == b'w' * OUTPUT_LIMIT
    assert result.stderr == b'failed after %d bytes errno 27\n' % OUTPUT_LIMIT  # EFBIG
    assert result.retcode == 1 and result.exit_code == EXIT_NOT_RUN, result.describe()
    assert 'a write beyond the limit of 1048576 bytes per channel was refused' in \
        result.report['reason'] and channel in result.report['reason']


@pytest.mark.parametrize('libc', LIBCS)
def test_a_program_ignoring_efbig_is_stopped_at_the_limit(sb, run_sandboxed, token, libc):
    result = run_sandboxed(sb('sb_write', libc), ('/dev/stdout', str(2 * OUTPUT_LIMIT), '1000',
                                                  'ignore', token),
                           max_output=OUTPUT_LIMIT, timeout=10, margin=LIMIT_MARGIN)
    assert_status(result, 'output-limit')   # the monitor stopped it, not the 10 s timeout
    assert result.stdout == b'w' * OUTPUT_LIMIT
    assert_no_leftovers(result, token)


@pytest.mark.parametrize('extra', [0, 1])
def test_pipe_channel_passes_exactly_its_limit(sb, run_sandboxed, extra):
    """stdout as a pipe (the CLI's own stdout): the reader gets at most the limit; the limit
    itself is ok, one byte more is output-limit."""
    with drained_pipe() as (write_end, received):
        result = run_sandboxed(sb('sb_write', 'musl'), ('/dev/stdout', str(OUTPUT_LIMIT + extra)),
                               max_output=OUTPUT_LIMIT, cli_stdout=write_end)
    assert_status(result, 'output-limit' if extra else 'ok')
    assert bytes(received) == b'w' * OUTPUT_LIMIT, result.describe()


@pytest.mark.parametrize('extra', [0, 1])
def test_file_input_may_hold_exactly_its_limit(sb, run_sandboxed, extra):
    data = os.urandom(INPUT_LIMIT + extra)
    result = run_sandboxed(sb('sb_cat', 'musl'), (), stdin=data,
                           extra_options=('--max-input', str(INPUT_LIMIT)))
    if extra:
        assert_status(result, 'input-limit')
        assert result.stdout == b'', 'the program ran on an input over its limit'
    else:
        assert_ran_ok(result)
        assert result.stdout == data


@pytest.mark.parametrize('extra', [0, 1])
def test_pipe_input_passes_exactly_its_limit(sb, run_sandboxed, tmp_path, extra):
    """stdin from a FIFO (pumped): the program reads at most the limit; the limit and then
    end of file is ok, one byte more is input-limit."""
    fifo = tmp_path / 'feed'
    os.mkfifo(fifo)
    data = os.urandom(INPUT_LIMIT + extra)
    writer = threading.Thread(target=fifo.write_bytes, args=(data,), daemon=True)
    writer.start()
    result = run_sandboxed(sb('sb_cat', 'musl'), (), stdin=fifo,
                           extra_options=('--max-input', str(INPUT_LIMIT)))
    writer.join(timeout=30)
    if extra:
        assert_status(result, 'input-limit')
        assert data.startswith(result.stdout) and len(result.stdout) <= INPUT_LIMIT
    else:
        assert_ran_ok(result)
        assert result.stdout == data


def written_to(result, channel):
    return {'/dev/stdout': result.stdout, '/dev/output': result.output,
            '/dev/out/exact': result.outs.get('exact')}[channel]


@contextlib.contextmanager
def drained_pipe():
    """``(write end, bytearray)``: a thread reads the pipe into the bytearray until EOF."""
    read_end, write_end = os.pipe()
    received = bytearray()

    def drain():
        while True:
            chunk = os.read(read_end, 1 << 16)
            if not chunk:
                return
            received.extend(chunk)
    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        yield write_end, received
    finally:
        os.close(write_end)
        reader.join(timeout=30)
        os.close(read_end)


def test_python_cpu_loop_is_stopped(run_python):
    result = run_python('while True:\n    pass\n', timeout=TIMEOUT, margin=LIMIT_MARGIN)
    assert_status(result, 'timeout', 'cpu-limit')


def raise_open_files_limit():
    """Run in the CLI process: lift its own soft RLIMIT_NOFILE to the hard limit, so a jail
    that forgets to set its own limit shows it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@pytest.mark.parametrize('libc', LIBCS)
def test_fd_exhaustion_is_bounded(sb, run_sandboxed, token, libc):
    result = run_sandboxed(sb('sb_limits', libc), ('fds', token), timeout=10,
                           margin=LIMIT_MARGIN, popen_kwargs={'preexec_fn': raise_open_files_limit})
    assert_ran_ok(result)
    count, err = result.stdout.split()[1], result.stdout.split()[3]
    assert int(err) == 24, 'expected EMFILE\n' + result.describe()
    assert int(count) <= 4096, 'open files not limited by the jail\n' + result.describe()
    assert_no_leftovers(result, token)


def test_sandbox_still_healthy_after_abuse(sb, run_sandboxed, token):
    for libc in LIBCS:
        result = run_sandboxed(sb('sb_cat', libc), (), stdin=b'still alive\n')
        assert_ran_ok(result)
        assert result.stdout == b'still alive\n'
    assert processes_with(b'sb_limits-') == [], 'an abusive session is still running'
