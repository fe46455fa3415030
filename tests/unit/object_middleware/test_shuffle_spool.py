"""Spooled shuffles on the object server (:mod:`zerocloud.object_middleware.shuffle_spool`):
a producer's outputs appear only when it exited 0, a consumer reads its own server's spools
from disk and fetches the others over real HTTP from a server answering with ``serve``,
and every way a spool can be missing fails the session naming it."""
import os
import time

import eventlet
import pytest
from swift.common import swob

from tests.unit.loopback import serve
from zerocloud import shuffle as shufflelib
from zerocloud.object_middleware import shuffle_spool, shuffle_transfer
from zerocloud.report import Report, STATUS_ERROR, STATUS_OK

TOKEN = 'c0' * 16


@pytest.fixture
def dirs(tmp_path):
    shuffle_dir, work_dir = tmp_path / 'shuffle', tmp_path / 'work'
    shuffle_dir.mkdir()
    work_dir.mkdir()
    return str(shuffle_dir), str(work_dir)


@pytest.fixture
def spool_server(tmp_path):
    """Another object server's spools: a real eventlet WSGI server answering ``serve``."""
    shuffle_dir = tmp_path / 'other-shuffle'
    shuffle_dir.mkdir()

    def app(env, start_response):
        return shuffle_transfer.serve(swob.Request(env), str(shuffle_dir))(env,
                                                                           start_response)
    node, thread = serve(app)
    yield str(shuffle_dir), '%(ip)s:%(port)d' % node
    thread.kill()


def produce(shuffle_dir, work_dir, instance, data, report=Report(STATUS_OK, retcode=0)):
    """Run a producer's spool life: open, write ``{device: bytes}``, finish, close."""
    spools = shuffle_spool.SessionSpools(
        shufflelib.Shuffle(TOKEN, instance, outs=tuple(data)), shuffle_dir, work_dir,
        'here:1', 1 << 20)
    fds = spools.open()
    for device, payload in data.items():
        os.write(fds[device], payload)
    try:
        return spools.finish(report)
    finally:
        spools.close()


def consume(shuffle_dir, work_dir, ins, max_input=1 << 20):
    spools = shuffle_spool.SessionSpools(shufflelib.Shuffle(TOKEN, 'red-1', ins=tuple(ins)),
                                         shuffle_dir, work_dir, 'here:1', max_input)
    try:
        fds = spools.open()
        assert set(fds) == {'in'}, 'the inputs are one directory, shown at /dev/in'
        return read_directory(fds['in']), spools
    finally:
        spools.close()


def read_directory(dir_fd):
    """``{'in/<entry>': bytes}`` of a directory descriptor."""
    found = {}
    for entry in os.listdir(dir_fd):
        fd = os.open(entry, os.O_RDONLY, dir_fd=dir_fd)
        try:
            found['in/' + entry] = os.pread(fd, 1 << 20, 0)
        finally:
            os.close(fd)
    return found


def test_a_consumer_reads_local_spools_and_fetches_remote_ones(dirs, spool_server):
    shuffle_dir, work_dir = dirs
    other_dir, other = spool_server
    assert produce(shuffle_dir, work_dir, 'map-1', {'out/red-1': b'local bytes'}) == 11
    produce(other_dir, work_dir, 'map-2', {'out/red-1': b'x' * 300000})
    read, spools = consume(shuffle_dir, work_dir, [
        ('in/map-1', 'map-1', 'out/red-1', 'here:1'),
        ('in/map-2', 'map-2', 'out/red-1', other)])
    assert read == {'in/map-1': b'local bytes', 'in/map-2': b'x' * 300000}
    assert (spools.fetched_count, spools.fetched_bytes) == (1, 300000)
    assert os.listdir(work_dir) == [], 'the input directory is removed with the session'
    assert produce(shuffle_dir, work_dir, 'map-3', {'out/red-1': b''}) == 0
    read, _ = consume(shuffle_dir, work_dir, [('in/map-3', 'map-3', 'out/red-1', 'here:1')])
    assert read == {'in/map-3': b''}, 'an empty stream is an empty entry'


def test_an_input_entry_must_be_a_plain_name(dirs):
    shuffle_dir, work_dir = dirs
    produce(shuffle_dir, work_dir, '..', {'out/red-1': b'x'})
    with pytest.raises(shuffle_spool.SpoolError, match='in/..: not a name for an entry'):
        consume(shuffle_dir, work_dir, [('in/..', '..', 'out/red-1', 'here:1')])
    assert os.listdir(work_dir) == []


def test_a_producer_that_failed_publishes_no_spool(dirs):
    shuffle_dir, work_dir = dirs
    assert produce(shuffle_dir, work_dir, 'map-1', {'out/red-1': b'half'},
                   Report(STATUS_OK, retcode=3)) == 0
    produce(shuffle_dir, work_dir, 'map-2', {'out/red-1': b'half'}, Report(STATUS_ERROR))
    assert os.listdir(os.path.join(shuffle_dir, TOKEN)) == []
    with pytest.raises(shuffle_spool.SpoolError, match='the spool of map-1 for in/map-1 is '
                                                        'not on this server'):
        consume(shuffle_dir, work_dir, [('in/map-1', 'map-1', 'out/red-1', 'here:1')])


def test_missing_unreachable_and_oversized_remote_spools_fail_naming_them(dirs, spool_server):
    shuffle_dir, work_dir = dirs
    other_dir, other = spool_server
    produce(other_dir, work_dir, 'map-1', {'out/red-1': b'there'})
    missing = shufflelib.spool_name('map-9', 'out/red-1')
    with pytest.raises(shuffle_spool.SpoolError, match='input: %s answered 404: no spool %s '
                                                        'here' % (other, missing)):
        consume(shuffle_dir, work_dir, [('in/map-1', 'map-1', 'out/red-1', other),
                                        ('in/map-9', 'map-9', 'out/red-1', other)])
    listener = eventlet.listen(('127.0.0.1', 0))
    closed = '127.0.0.1:%d' % listener.getsockname()[1]
    listener.close()
    with pytest.raises(shuffle_spool.SpoolError, match='spools from %s could not be '
                                                        'fetched' % closed):
        consume(shuffle_dir, work_dir, [('in/map-9', 'map-9', 'out/red-1', closed)])
    produce(other_dir, work_dir, 'map-3', {'out/red-1': b'y' * 5000})
    with pytest.raises(shuffle_spool.SpoolError, match='more than zerovm_maxinput'):
        consume(shuffle_dir, work_dir, [('in/map-3', 'map-3', 'out/red-1', other)], 4096)
    assert os.listdir(work_dir) == []


def test_one_request_per_server_brings_many_spools(dirs, spool_server, monkeypatch):
    """300 spools on another server come in batches of MAX_NAMES names (here 128: three
    requests), every one whole and named right."""
    shuffle_dir, work_dir = dirs
    other_dir, other = spool_server
    monkeypatch.setattr(shuffle_transfer, 'MAX_NAMES', 128)
    calls = []
    real_fetch = shuffle_transfer.fetch
    monkeypatch.setattr(shuffle_transfer, 'fetch',
                        lambda *args: calls.append(len(args[2])) or real_fetch(*args))
    for index in range(300):
        produce(other_dir, work_dir, 'map-%d' % index, {'out/red-1': b'%d\n' % index * index})
    read, spools = consume(shuffle_dir, work_dir, [
        ('in/map-%d' % index, 'map-%d' % index, 'out/red-1', other) for index in range(300)])
    assert read == {'in/map-%d' % index: b'%d\n' % index * index for index in range(300)}
    assert sorted(calls) == [44, 128, 128] and spools.fetched_count == 300


def test_spools_removed_while_a_producer_runs_fail_it(dirs):
    shuffle_dir, work_dir = dirs
    spools = shuffle_spool.SessionSpools(shufflelib.Shuffle(TOKEN, 'map-1', outs=('out/a',)),
                                         shuffle_dir, work_dir, 'here:1', 1 << 20)
    spools.open()
    app_delete(shuffle_dir)
    with pytest.raises(shuffle_spool.SpoolError, match="out/a: the job's spools were removed"):
        spools.finish(Report(STATUS_OK, retcode=0))
    spools.close()


def app_delete(shuffle_dir):
    req = swob.Request.blank('/shuffle/%s' % TOKEN, method='DELETE')
    assert shuffle_transfer.serve(req, shuffle_dir).status_int == 204
    deadline = time.monotonic() + 10
    while os.path.exists(os.path.join(shuffle_dir, TOKEN)) and time.monotonic() < deadline:
        eventlet.sleep(0.01)
    assert not os.path.exists(os.path.join(shuffle_dir, TOKEN))


@pytest.mark.parametrize('method, path, body, status', [
    ('POST', '/shuffle/%s' % TOKEN, 'f' * 64, 404),
    ('POST', '/shuffle/%s' % TOKEN, '../../etc/passwd', 400),
    ('POST', '/shuffle/%s' % TOKEN, 'f' * 64 + '\n..', 400),
    ('POST', '/shuffle/notatoken', 'f' * 64, 400),
    ('POST', '/other/%s' % TOKEN, 'f' * 64, 400),
    ('GET', '/shuffle/%s/%s' % (TOKEN, 'f' * 64), '', 400),
    ('PUT', '/shuffle/%s' % TOKEN, 'f' * 64, 400),
    ('DELETE', '/shuffle/%s' % TOKEN, '', 204),
])
def test_the_endpoint_answers_only_well_formed_requests(dirs, method, path, body, status):
    req = swob.Request.blank(path, method=method, body=body.encode())
    assert shuffle_transfer.serve(req, dirs[0]).status_int == status


def test_stale_job_directories_are_swept(dirs, monkeypatch):
    shuffle_dir, _ = dirs
    old, new = os.path.join(shuffle_dir, 'a' * 32), os.path.join(shuffle_dir, 'b' * 32)
    os.mkdir(old)
    os.mkdir(new)
    past = time.time() - shufflelib.SPOOL_TTL_SECONDS - 10
    os.utime(old, (past, past))
    monkeypatch.setattr(shuffle_spool, '_last_sweep', [0.0])
    assert shuffle_spool.sweep_stale(shuffle_dir) == ['a' * 32]
    assert shuffle_spool.sweep_stale(shuffle_dir) == [], 'at most every few minutes'
    assert os.path.isdir(new)


def test_the_spools_of_a_server_are_bounded_by_an_option(dirs):
    """``zerovm_shuffle_max_bytes``: a producer that would take this server's spools over it
    fails naming the option and leaves nothing; one started when they already are over it
    fails before its program runs."""
    shuffle_dir, work_dir = dirs
    usage = shuffle_spool.SpoolUsage(1000)

    def producer(instance):
        return shuffle_spool.SessionSpools(
            shufflelib.Shuffle(TOKEN, instance, outs=('out/red-1',)), shuffle_dir, work_dir,
            'here:1', 1 << 20, usage)
    first = producer('map-1')
    os.write(first.open()['out/red-1'], b'x' * 600)
    assert first.finish(Report(STATUS_OK, retcode=0)) == 600
    first.close()
    second = producer('map-2')
    os.write(second.open()['out/red-1'], b'y' * 600)
    usage._counted = (-1e9, 0)   # count again now
    with pytest.raises(shuffle_spool.SpoolError, match='more than zerovm_shuffle_max_bytes '
                                                        r'\(1000\)'):
        second.finish(Report(STATUS_OK, retcode=0))
    second.close()
    assert os.listdir(os.path.join(shuffle_dir, TOKEN)) == [
        shufflelib.spool_name('map-1', 'out/red-1')]
    with open(os.path.join(shuffle_dir, TOKEN, 'extra'), 'wb') as extra:
        extra.write(b'z' * 500)
    usage._counted = (-1e9, 0)
    with pytest.raises(shuffle_spool.SpoolError, match='hold 1100 bytes'):
        producer('map-3').open()


def test_the_object_option_is_parsed():
    from zerocloud.object_middleware.config import ObjectConfig
    assert ObjectConfig.from_conf({}).shuffle_max_bytes == 0
    assert ObjectConfig.from_conf({'zerovm_shuffle_max_bytes': '10'}).shuffle_max_bytes == 10
    with pytest.raises(ValueError, match='zerovm_shuffle_max_bytes'):
        ObjectConfig.from_conf({'zerovm_shuffle_max_bytes': '-1'})


def test_the_object_filter_bounds_its_spools_by_the_option(tmp_path):
    from swift.common.utils import get_logger
    from tests.unit.fake_swift import FakeSwift
    from zerocloud import object_middleware
    from zerocloud.object_middleware.config import ObjectConfig
    config = ObjectConfig.from_conf({'zerovm_work_dir': str(tmp_path),
                                     'zerovm_shuffle_max_bytes': '4096'})
    middleware = object_middleware.ZerocloudObject(FakeSwift(), config, get_logger({}), {})
    assert middleware.spool_usage.max_bytes == 4096
