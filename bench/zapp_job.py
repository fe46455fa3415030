"""Benchmark: a job shipped as a zapp against the same job with a plain program object.

Starts its own all-in-one cluster, stores a small Python program (``main.py``) and a data
file, then times, ``--runs`` times each (default 20), interleaved:

    get       a plain GET of the program object (the baseline of a request's cost)
    plain     a JSON job running the stored program on the python image
    zapp      the same program and data POSTed as a zapp (the tar travels to the object
              server; each server process unpacks an image once, then uses its cache)
    source    the same zapp stored as an object, run by ``X-Zerovm-Source``

Prints the medians (ms) and the ratios to ``plain`` and to ``get``.  The zapp's first run on
each server pays its unpack (see ``bench/zapp_cache.py`` for hit and miss alone); the
medians show the steady state.

    .venv/bin/python bench/zapp_job.py [--runs N]
"""
import argparse
import io
import json
import os
import statistics
import sys
import tarfile
import tempfile
import time

import requests

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from zerocloud.aio import cluster as aio  # noqa: E402

MAIN = b'''import sys
words = open(sys.argv[1]).read().split()
print(len(words), sorted(words)[0])
'''
WORDS = b'pear apple fig ' * 100
JOB_HEADERS = {'X-Zerovm-Execute': '1.0', 'Content-Type': 'application/json'}


def python_job(program, data):
    return [{'name': 'py', 'exec': {'path': 'file://python:python', 'args': [program, data]},
             'devices': [{'name': 'python'}, {'name': 'stdout'}]}]


def zapp_bytes():
    """A zapp whose map runs /main.py on /words.txt, both inside it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w') as tar:
        for name, data in (('boot/system.map',
                            json.dumps(python_job('/main.py', '/words.txt')).encode()),
                           ('main.py', MAIN), ('words.txt', WORDS)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def timed(call):
    started = time.perf_counter()
    resp = call()
    elapsed = (time.perf_counter() - started) * 1000
    if resp.status_code != 200 or (resp.request.method == 'POST'
                                   and not resp.content.startswith(b'300 apple')):
        sys.exit('failed: %s %s %r' % (resp.status_code, resp.headers, resp.content[:300]))
    return elapsed


def cases(session, url, container, zapp):
    """name -> callable doing one request."""
    stored = {'name': 'py', 'exec': {'path': 'file://python:python',
                                     'args': ['/dev/script', '/dev/stdin']},
              'devices': [{'name': 'python'}, {'name': 'stdout'},
                          {'name': 'script', 'path': 'swift://~/%s/main.py' % container},
                          {'name': 'stdin', 'path': 'swift://~/%s/words.txt' % container}]}
    plain_body = json.dumps([stored]).encode()
    source = {'X-Zerovm-Execute': '1.0', 'Content-Type': 'application/json',
              'X-Zerovm-Source': 'swift://~/%s/app.zapp' % container}
    return {
        'get': lambda: session.get('%s/%s/main.py' % (url, container)),
        'plain': lambda: session.post(url, data=plain_body, headers=JOB_HEADERS),
        'zapp': lambda: session.post(url, data=zapp, headers={
            'X-Zerovm-Execute': '1.0', 'Content-Type': 'application/x-tar'}),
        'source': lambda: session.post(url, data=b'', headers=source),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--runs', type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix='zc-bench-') as root:
        spec = aio.start_with_free_ports(root, owner_pid=os.getpid())
        try:
            url, token = aio.get_token(spec, 'test', 'tester', 'testing')
            session = requests.Session()
            session.headers['X-Auth-Token'] = token
            container = 'bench-zapp'
            zapp = zapp_bytes()
            session.put('%s/%s' % (url, container))
            for name, data in (('main.py', MAIN), ('words.txt', WORDS), ('app.zapp', zapp)):
                session.put('%s/%s/%s' % (url, container, name), data=data,
                            headers={'Content-Type': 'application/x-tar'
                                     if name.endswith('.zapp') else 'text/plain'})
            calls = cases(session, url, container, zapp)
            for call in calls.values():       # warm: supervisors up, caches filled
                for _ in range(4):
                    timed(call)
            times = {name: [] for name in calls}
            for _ in range(args.runs):
                for name, call in calls.items():
                    times[name].append(timed(call))
        finally:
            aio.stop(spec)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print('load average %.2f %.2f %.2f; %d runs each, interleaved' % (os.getloadavg()
                                                                     + (args.runs,)))
    for name, median in medians.items():
        print('%-7s %8.2f ms   x%.2f of plain   x%.2f of get'
              % (name, median, median / medians['plain'], median / medians['get']))


if __name__ == '__main__':
    main()
