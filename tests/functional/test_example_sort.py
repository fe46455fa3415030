"""The distributed sort of examples/sort on the cluster: the full map-reduce shape of
ZeroCloud's Servlets.md (mappers in a mesh exchanging to end-of-file, 5 reducers, a manager).

The mappers sample every record (EVERY=1), so each mapper-to-mapper stream carries a whole
object of 12 MiB: more than a channel buffers (a FIFO at each end, loopback TCP with
autotuned buffers between).  Measured on this cluster: the same job with an exchange that
writes everything before it reads hung until the timeout at 12 MiB per stream (it still
passed at 8 MiB).  The published ranges and the manager's report are checked against a sort
done here in plain Python.
"""
import importlib.util
import json
import os
import uuid

import pytest

from tests.functional.mapreduce_support import post_job

SORT_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'examples', 'sort')
OBJECT_BYTES = 12 << 20
REDUCERS = 5
# The last object: an empty record, ties with the generated records, no final LF.
ODD_OBJECT = 'zoo 0001\tred\n\nZürich 0042\tgrün\n東京 9999\t黄色\na\nZürich 0042\tgrün'.encode()


def load_records_module():
    """examples/sort/records.py (the sample inputs and the job)."""
    spec = importlib.util.spec_from_file_location('sort_records',
                                                  os.path.join(SORT_DIR, 'records.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


records_module = load_records_module()


def lines(data):
    """The records of an object: its lines without LF (a missing final LF is tolerated)."""
    return data.split(b'\n')[:-1] if data.endswith(b'\n') else data.split(b'\n')


def expected_ranges(objects, every, ranges):
    """The sorted records of every object, cut into ``ranges`` ranges the way the example's
    README says: the sorted samples (every ``every``-th sorted record of each object) are
    cut into equal parts; range k holds the records from part k's first sample on."""
    samples = sorted(sample for data in objects for sample in sorted(lines(data))[::every])
    bounds = [samples[len(samples) * k // ranges] for k in range(1, ranges)]
    everything = sorted(record for data in objects for record in lines(data))
    lows, highs = [None] + bounds, bounds + [None]
    return [[r for r in everything if (low is None or low <= r) and (high is None or r < high)]
            for low, high in zip(lows, highs)]


def summary(name, part):
    """What reducer ``name`` should report for its records ``part``."""
    return {'reducer': name, 'records': len(part), 'bytes': sum(len(r) + 1 for r in part),
            'first': part[0].decode() if part else None,
            'last': part[-1].decode() if part else None}


def network_bytes_read(resp, instance):
    """``nrbytes`` of the ``instance``-th instance in ``X-Nexe-Cdr-Line`` (SPEC S5)."""
    return int(resp.headers['X-Nexe-Cdr-Line'].split(',')[instance].split()[8])


@pytest.fixture(scope='module')
def apps(cluster):
    """A container holding the example's program at ``sort/sort.py``."""
    container = 'zcsortapps-' + uuid.uuid4().hex
    conn = cluster.connection()
    conn.put_container(container)
    with open(os.path.join(SORT_DIR, 'sort.py'), 'rb') as handle:
        conn.put_object(container, 'sort/sort.py', handle.read(), content_type='text/x-python')
    return container


def stage_inputs(cluster, objects):
    """Upload ``{name: bytes}`` into a new container; return ``(records, sorted)`` names."""
    tag = uuid.uuid4().hex
    conn = cluster.connection()
    records, results = 'zcsortin-' + tag, 'zcsortout-' + tag
    conn.put_container(records)
    conn.put_container(results)
    for name, data in objects.items():
        conn.put_object(records, name, data, content_type='text/plain; charset=utf-8')
    return records, results


def test_the_mesh_sort_publishes_the_sorted_ranges_and_the_report(cluster, apps):
    objects = {'part-%d.txt' % index: records_module.generate(OBJECT_BYTES, index, seed=11)
               for index in (1, 2)}
    objects['part-3.txt'] = ODD_OBJECT
    records, results = stage_inputs(cluster, objects)
    resp = post_job(cluster, records_module.job(records, apps, results, every=1))
    assert resp.status_code == 200, resp.text
    names = (['mapper-%d' % i for i in range(1, 4)] +
             ['reducer-%d' % i for i in range(1, REDUCERS + 1)] + ['manager'])
    assert resp.headers['X-Nexe-System'] == ','.join(names)
    assert resp.headers['X-Nexe-Status'] == ','.join(['ok'] * len(names)), resp.text
    assert resp.headers['X-Nexe-Retcode'] == ','.join(['0'] * len(names))
    for mapper in (1, 2):   # bytes read from the network: the other big mapper's whole object
        assert network_bytes_read(resp, mapper) > OBJECT_BYTES, resp.headers['X-Nexe-Cdr-Line']
    parts = expected_ranges(list(objects.values()), 1, REDUCERS)
    everything = sorted(r for data in objects.values() for r in lines(data))
    assert sum(parts, []) == everything and all(parts)
    conn = cluster.connection()
    for index, part in enumerate(parts, 1):
        published = conn.get_object(results, 'reducer-%d.txt' % index)[1]
        assert published == b''.join(r + b'\n' for r in part), 'reducer-%d' % index
    report = json.loads(resp.content)
    assert report == {'records': len(everything),
                      'bytes': sum(len(r) + 1 for r in everything), 'ordered': True,
                      'ranges': [summary('reducer-%d' % index, part)
                                 for index, part in enumerate(parts, 1)]}
    assert json.loads(conn.get_object(results, 'report.json')[1]) == report


def test_a_mapper_with_bad_input_fails_the_job_and_nothing_is_published(cluster, apps):
    objects = {'a.txt': records_module.generate(64 << 10, 1),
               'b.txt': b'fine\nstill fine\nnot \xff UTF-8\n',
               'c.txt': records_module.generate(64 << 10, 3)}
    records, results = stage_inputs(cluster, objects)
    resp = post_job(cluster, records_module.job(records, apps, results))
    assert resp.status_code == 200, resp.text
    assert resp.headers['X-Nexe-Error'] == 'mapper-2 failed: exited with status 1'
    assert resp.headers['X-Nexe-Retcode'].split(',')[1] == '1', resp.headers
    assert 'mapper-2: stdin line 3 is not UTF-8 text' in resp.text
    assert cluster.connection().get_container(results)[1] == []
