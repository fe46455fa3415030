"""Connected jobs run in waves (:mod:`zerocloud.proxy_middleware.waves`): the proxy filter
over a fake Swift dispatches to two real object filters on loopback ports (a fake sandbox
runner that plays the programs), so spools are written on one server and fetched by the
other over HTTP, exactly as on a cluster."""
import json
import os

import eventlet
import pytest
from swift.common.utils import get_logger

from tests.unit.object_middleware.test_object_filter import FakeLocalObjects
from tests.unit.object_middleware.test_shuffle_spool import read_directory
from tests.unit.fake_swift import FakeSwift
from tests.unit.loopback import serve
from tests.unit.proxy_middleware.test_back_pressure import proxy, send
from zerocloud import job as joblib
from zerocloud import object_middleware
from zerocloud.object_middleware.config import ObjectConfig
from zerocloud.proxy_middleware import waves
from zerocloud.report import Report


class PlayedPrograms:
    """A sandbox runner playing map/reduce programs: each session writes
    ``<name> to <device>`` to every ``/dev/out/*`` and copies every entry of the ``/dev/in``
    directory (in name order) to stdout.  ``failing`` names sessions that exit 1 after writing."""

    def __init__(self, failing=()):
        self.ran = []
        self.failing = failing

    def __call__(self, session, executable_path, fds, config):
        self.ran.append(session.name)
        shuffle = session.shuffle
        for device in (shuffle.outs if shuffle else ()):
            os.write(fds[device], ('%s to %s\n' % (session.name, device)).encode())
        inputs = read_directory(fds['in']) if shuffle and shuffle.ins else {}
        for device in sorted(inputs):
            os.write(fds['stdout'], inputs[device])
        return Report(status='ok', retcode=1 if session.name in self.failing else 0)


@pytest.fixture
def servers(tmp_path):
    """Two object servers (their own work directories, so their own spools)."""
    runner, found, threads = PlayedPrograms(), [], []
    for index in range(2):
        sock = eventlet.listen(('127.0.0.1', 0))
        port = sock.getsockname()[1]
        config = ObjectConfig.from_conf({'zerovm_work_dir': str(tmp_path / str(index))})
        app = object_middleware.ZerocloudObject(
            FakeSwift(), config, get_logger({}), {'bind_ip': '127.0.0.1', 'bind_port': port},
            runner=runner, local_objects=FakeLocalObjects(b''))
        threads.append(serve(app, sock)[1])
        found.append(({'ip': '127.0.0.1', 'port': port, 'device': 'sdb1'},
                      str(tmp_path / str(index) / 'shuffle')))
    yield found, runner
    for thread in threads:
        thread.kill()


def node(name, count=1, **extra):
    node = {'name': name, 'exec': {'path': 'swift://~/bin/exe'}, 'count': count,
            'devices': [{'name': 'stdout'}, {'name': 'stderr'}]}
    node.update(extra)
    return node


MAP_REDUCE = json.dumps([node('map', 3, connect=['red']), node('red', 2)]).encode()


def spools_left(found):
    return [name for _, shuffle_dir in found if os.path.isdir(shuffle_dir)
            for name in os.listdir(shuffle_dir)]


def test_a_map_reduce_runs_in_waves_with_spools_fetched_across_servers(servers):
    found, runner = servers
    status, headers, body = send(proxy([n for n, _ in found], zerovm_shuffle_spool='always',
                                       zerovm_server_slots='1'), MAP_REDUCE)
    assert status == 200, body
    assert headers['X-Nexe-System'] == 'map-1,map-2,map-3,red-1,red-2'
    assert headers['X-Nexe-Status'] == 'ok,ok,ok,ok,ok'
    assert body == b''.join(b'map-%d to out/red-%d\n' % (m, r)
                            for r in (1, 2) for m in (1, 2, 3))
    assert sorted(runner.ran[:3]) == ['map-1', 'map-2', 'map-3'], 'producers first'
    assert len(set(headers['X-Nexe-Node'].split(','))) == 2, 'both servers ran sessions'
    assert spools_left(found) == [], "the job's spools are removed from every server"


def test_auto_runs_in_waves_only_when_the_slots_are_not_free(servers):
    found, runner = servers
    nodes = [n for n, _ in found]
    status, headers, body = send(proxy(nodes, zerovm_server_slots='2'), MAP_REDUCE)
    assert status == 200 and headers['X-Nexe-Status'] == 'ok,ok,ok,ok,ok', body
    assert len(body.splitlines()) == 6
    # 4 free slots for 5 sessions: in waves, every mapper before any reducer
    assert sorted(runner.ran[:3]) == ['map-1', 'map-2', 'map-3']
    assert sorted(runner.ran[3:]) == ['red-1', 'red-2']
    status, _, body = send(proxy(nodes, zerovm_server_slots='2',
                                 zerovm_shuffle_spool='never'), MAP_REDUCE)
    assert status == 503 and b'a connected job needs 5 session slots at once' in body
    before = len(runner.ran)
    status, headers, _ = send(proxy(nodes, zerovm_server_slots='5'), MAP_REDUCE)
    assert status == 200 and headers['X-Nexe-Status'] == 'ok,ok,ok,ok,ok'
    assert len(runner.ran) == before + 5
    assert spools_left(found) == []


def test_a_failed_producer_stops_the_job_before_its_consumers(servers):
    found, runner = servers
    runner.failing = ('map-2',)
    status, headers, body = send(proxy([n for n, _ in found], zerovm_shuffle_spool='always'),
                                 MAP_REDUCE)
    assert status == 200, body
    assert headers['X-Nexe-Error'] == 'map-2 failed: exited with status 1'
    assert 'red-1' not in runner.ran and 'red-2' not in runner.ran
    statuses = headers['X-Nexe-Status'].split(',')
    assert statuses[3:] == ['cancelled: map-2 failed: exited with status 1'] * 2
    assert spools_left(found) == []


def plan_of(nodes):
    job = joblib.parse_job(json.dumps(nodes).encode())
    return joblib.expand(job, account='AUTH_test', list_objects=None)


def names(stages):
    return [[instance.name for instance in stage] for stage in stages]


def test_stages_follow_the_channels_and_refuse_cycles_and_zvm_devices():
    chain = plan_of([node('merge'), node('red', 2, connect=['merge']),
                     node('map', 2, connect=['red'])])
    assert names(waves.stages(chain)) == [['map-1', 'map-2'], ['red-1', 'red-2'], ['merge']]
    assert waves.stages(plan_of([node('a', 2, connect=['a'])])) is None
    assert waves.stages(plan_of([node('a', connect=['b']), node('b', connect=['a'])])) is None
    piped = [{'name': 'say', 'exec': {'path': 'swift://~/bin/exe'},
              'devices': [{'name': 'stdout', 'path': 'zvm://upper:stdin'}]},
             node('upper')]
    assert waves.stages(plan_of(piped)) is None


def test_the_shuffle_option_is_checked_and_advertised():
    from zerocloud.proxy_middleware.config import ProxyConfig
    assert ProxyConfig.from_conf({}).shuffle_spool == 'auto'
    assert ProxyConfig.from_conf({'zerovm_shuffle_spool': 'Always'}).info()[
        'shuffle_spool'] == 'always'
    with pytest.raises(ValueError, match='zerovm_shuffle_spool: must be one of auto, always, '
                                         'never'):
        ProxyConfig.from_conf({'zerovm_shuffle_spool': 'sometimes'})
