"""The two examples of ZeroCloud's Servlets.md on the cluster: a wildcard sort and a
map-reduce (mappers over ``*`` objects connected to each other and to 5 reducers, a manager).
The programs are small Python scripts with the same topology as the original nexes."""
import uuid

import pytest

from tests.functional.mapreduce_support import post_job, python_node

SORT = b'''import sys
sys.stdout.write("".join(sorted(sys.stdin.readlines())))
sys.stderr.write("chunk %s\\n" % sys.argv[1])
'''
MAPPER = b'''import os, sys
me = os.environ["SCRIPT_NAME"]
ins, outs = sorted(os.listdir("/dev/in")), sorted(os.listdir("/dev/out"))
numbers = [int(line) for line in sys.stdin]
for name in outs:
    with open("/dev/out/" + name, "w") as out:
        if name.startswith("mapper-"):
            out.write("hello from %s\\n" % me)
        else:
            k = int(name.split("-")[1]) - 1
            out.write("".join("%d\\n" % n for n in numbers if n % 5 == k))
            if k == 0:
                out.write("T %s in=%s out=%s\\n" % (me, ",".join(ins), ",".join(outs)))
# one line from every other mapper (a stream ends only when its writer's session ends, so a
# mapper must not wait for the end of another mapper's stream: they would wait for each other)
greetings = [open("/dev/in/" + name).readline().strip() for name in ins]
if greetings != ["hello from %s" % name for name in ins]:
    sys.exit("bad greetings: %r" % greetings)
'''
REDUCER = b'''import os
me = os.environ["SCRIPT_NAME"]
total, lines = 0, []
for name in sorted(os.listdir("/dev/in")):
    with open("/dev/in/" + name) as channel:
        for line in channel:
            if line.startswith("T "):
                lines.append(line)
            else:
                total += int(line)
with open("/dev/out/manager", "w") as out:
    out.write("S %s %d in=%s\\n" % (me, total, ",".join(sorted(os.listdir("/dev/in")))))
    out.writelines(lines)
'''
MANAGER = b'''import os, sys
for name in sorted(os.listdir("/dev/in")):
    with open("/dev/in/" + name) as channel:
        sys.stdout.write(channel.read())
'''
MAPPERS = 4


@pytest.fixture(scope='module')
def stage(cluster):
    conn = cluster.connection()
    container = 'zcserv-' + uuid.uuid4().hex
    conn.put_container(container)
    for name, body in (('sort.py', SORT), ('mapper.py', MAPPER), ('reducer.py', REDUCER),
                       ('manager.py', MANAGER)):
        conn.put_object(container, 'exec/' + name, body)
    for index in range(1, MAPPERS + 1):
        numbers = [(index * 37 + j * 11) % 1000 for j in range(50)]
        conn.put_object(container, 'data/binary_log_%d.data' % index,
                        ''.join('%d\n' % n for n in numbers).encode())
    return container


def test_sort_example_runs_one_instance_per_object_and_names_outputs(cluster, stage):
    job = [python_node('sort', stage, 'exec/sort.py', [
        {'name': 'stdin', 'path': 'swift://~/%s/data/binary*.data' % stage},
        {'name': 'stdout', 'path': 'swift://~/%s/data/sorted*.data' % stage},
        {'name': 'stderr'}], args='1048576')]
    resp = post_job(cluster, job)
    assert resp.status_code == 200, resp.text
    assert resp.headers['X-Nexe-System'] == ','.join('sort-%d' % i
                                                     for i in range(1, MAPPERS + 1))
    assert resp.headers['X-Nexe-Status'] == ','.join(['ok'] * MAPPERS)
    assert resp.text == 'chunk 1048576\n' * MAPPERS
    conn = cluster.connection()
    for index in range(1, MAPPERS + 1):
        source = conn.get_object(stage, 'data/binary_log_%d.data' % index)[1]
        result = conn.get_object(stage, 'data/sorted_log_%d.data' % index)[1]
        assert result.splitlines() == sorted(source.splitlines())


def test_map_reduce_example_wires_mappers_reducers_and_manager(cluster, stage):
    job = [python_node('mapper', stage, 'exec/mapper.py', [
               {'name': 'stdin', 'path': 'swift://~/%s/data/binary*.data' % stage},
               {'name': 'stderr'}], connect=['mapper', 'reducer']),
           python_node('reducer', stage, 'exec/reducer.py', connect=['manager'], count=5),
           python_node('manager', stage, 'exec/manager.py', [
               {'name': 'stdout', 'path': 'swift://~/%s/data/mapred_result.data' % stage},
               {'name': 'stderr'}])]
    resp = post_job(cluster, job)
    assert resp.status_code == 200, resp.text
    mappers = ['mapper-%d' % i for i in range(1, MAPPERS + 1)]
    reducers = ['reducer-%d' % i for i in range(1, 6)]
    names = mappers + reducers + ['manager']
    assert resp.headers['X-Nexe-System'] == ','.join(names)
    assert resp.headers['X-Nexe-Status'] == ','.join(['ok'] * len(names)), resp.headers
    assert resp.headers['X-Nexe-Retcode'] == ','.join(['0'] * len(names))
    conn = cluster.connection()
    result = conn.get_object(stage, 'data/mapred_result.data')[1].decode().splitlines()
    numbers = [int(line) for i in range(1, MAPPERS + 1) for line in
               conn.get_object(stage, 'data/binary_log_%d.data' % i)[1].split()]
    sums = {line.split()[1]: (int(line.split()[2]), line.split()[3])
            for line in result if line.startswith('S ')}
    assert sums == {reducer: (sum(n for n in numbers if n % 5 == k), 'in=' + ','.join(mappers))
                    for k, reducer in enumerate(reducers)}
    topology = sorted(line for line in result if line.startswith('T '))
    assert topology == sorted(
        'T %s in=%s out=%s' % (mapper, ','.join(m for m in mappers if m != mapper),
                               ','.join([m for m in mappers if m != mapper] + reducers))
        for mapper in mappers)


def test_replicated_copies_run_on_different_servers_and_are_compared(cluster, stage):
    conn = cluster.connection()
    conn.put_object(stage, 'exec/random.py', b'import os\nprint(os.urandom(8).hex())\n')
    source = 'swift://~/%s/data/binary_log_1.data' % stage
    same = [python_node('sort', stage, 'exec/sort.py', [
        {'name': 'stdin', 'path': source},
        {'name': 'stdout', 'path': 'swift://~/%s/replicated/same' % stage},
        {'name': 'stderr'}],
        args='1', replicate=2)]
    resp = post_job(cluster, same)
    assert resp.status_code == 200, resp.text
    assert resp.headers['X-Nexe-Status'] == 'ok', resp.headers
    nodes = resp.headers['X-Nexe-Node'].split(' ')
    assert len(nodes) == 2 and nodes[0] != nodes[1]
    assert conn.get_object(stage, 'replicated/same')[1] == b''.join(sorted(
        conn.get_object(stage, 'data/binary_log_1.data')[1].splitlines(True)))
    differ = [python_node('random', stage, 'exec/random.py', [
        {'name': 'stdin', 'path': source},
        {'name': 'stdout', 'path': 'swift://~/%s/replicated/random' % stage}], replicate=3)]
    resp = post_job(cluster, differ)
    assert resp.status_code == 200, resp.text
    assert resp.headers['X-Nexe-Status'].startswith('replicas disagree: replica 2 wrote '
                                                    'different bytes on stdout'), resp.headers
    assert len(set(resp.headers['X-Nexe-Node'].split(' '))) == 3
    _headers, listing = conn.get_container(stage, prefix='replicated/random')
    assert listing == []
