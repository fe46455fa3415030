"""A job keeping 1% of the lines of a large object vs downloading it and filtering locally.

Usage: python bench/filter.py --storage-url URL --token T --exe PATH [--mib 1024]
``--exe`` is a static program that copies to stdout the lines of stdin that contain
``KEEP`` (e.g. a grep-like C program).  Uploads ``--mib`` MiB of lines (1 in 100 holds
``KEEP``), then times, in the same run: the job (co-located, output in the response) and a
python-swiftclient download filtered in Python.  Prints both times and the ratio
(goal: job / download <= 0.5).
"""
import argparse
import json
import time
import uuid

import requests
import swiftclient.client


def lines(total_bytes):
    line = b'%-99s\n'
    written, index = 0, 0
    while written < total_bytes:
        text = line % (b'KEEP %d' % index if index % 100 == 0 else b'drop %d' % index)
        written += len(text)
        index += 1
        yield text


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--storage-url', required=True)
    parser.add_argument('--token', required=True)
    parser.add_argument('--exe', required=True)
    parser.add_argument('--mib', type=int, default=1024)
    args = parser.parse_args()
    base = args.storage_url.rstrip('/')
    container = 'bench-' + uuid.uuid4().hex
    conn = swiftclient.client.Connection(preauthurl=base, preauthtoken=args.token)
    conn.put_container(container)
    conn.put_object(container, 'big', contents=lines(args.mib * 1024 * 1024))
    with open(args.exe, 'rb') as handle:
        conn.put_object(container, 'filter', handle.read())
    job = json.dumps([{'name': 'filter', 'exec': {'path': 'swift://~/%s/filter' % container},
                       'devices': [{'name': 'stdin', 'path': 'swift://~/%s/big' % container},
                                   {'name': 'stdout'}]}])
    start = time.perf_counter()
    resp = requests.post(base, data=job, headers={
        'X-Auth-Token': args.token, 'X-Zerovm-Execute': '1.0',
        'Content-Type': 'application/json'}, timeout=600)
    job_seconds = time.perf_counter() - start
    if resp.status_code != 200 or resp.headers.get('X-Nexe-Status') != 'ok':
        raise SystemExit('job failed: %s %s' % (resp.status_code, resp.headers))
    start = time.perf_counter()
    _, body = conn.get_object(container, 'big', resp_chunk_size=1 << 20)
    kept, rest = [], b''
    for chunk in body:
        rest += chunk
        *complete, rest = rest.split(b'\n')
        kept.extend(line for line in complete if b'KEEP' in line)
    local_seconds = time.perf_counter() - start
    assert resp.content.count(b'KEEP') == len(kept), 'job and local filter disagree'
    print('job (co-located)        %.2f s' % job_seconds)
    print('download + local filter %.2f s' % local_seconds)
    print('ratio job/download      %.2f (goal <= 0.5)' % (job_seconds / local_seconds))


if __name__ == '__main__':
    main()
