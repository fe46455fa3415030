"""A job keeping 1% of the lines of a large object vs downloading it and filtering locally.

Usage: python bench/filter.py [--mib 1024] [--storage-url URL --token T]

Without ``--storage-url`` it starts its own all-in-one cluster (stopped at the end).  It
uploads ``--mib`` MiB of 100-byte lines (1 in 100 holds ``KEEP``) and a static grep-like C
program (compiled here), then times, in the same run: the job (runs next to the object,
kept lines in the response) and a python-swiftclient download filtered in Python.  Prints
both times and the ratio (goal: job / download <= 0.5).  Both results must agree.
"""
import argparse
import os
import sys
import tempfile
import time
import uuid

import requests
import swiftclient.client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from job_latency import cluster_credentials, compile_static, job_request  # noqa: E402

GREP_SOURCE = r'''
#define _GNU_SOURCE
#include <string.h>
#include <unistd.h>
static char in[1 << 20], out[1 << 20], line[4096];
int main(void) {
    size_t used = 0, pending = 0; ssize_t got;
    while ((got = read(0, in, sizeof in)) > 0) {
        for (ssize_t i = 0; i < got; i++) {
            if (used < sizeof line) line[used++] = in[i];
            if (in[i] != '\n') continue;
            if (used >= 4 && memmem(line, used, "KEEP", 4)) {
                if (pending + used > sizeof out) { write(1, out, pending); pending = 0; }
                memcpy(out + pending, line, used); pending += used;
            }
            used = 0;
        }
    }
    if (pending) write(1, out, pending);
    return got < 0 ? 2 : 0;
}
'''


def lines(total_bytes):
    written, index = 0, 0
    while written + 100 <= total_bytes:
        text = b'%-99s\n' % (b'KEEP %d' % index if index % 100 == 0 else b'drop %d' % index)
        written += len(text)
        index += 1
        yield text


def chunks(total_bytes, size=1 << 20):
    buffer = []
    for line in lines(total_bytes):
        buffer.append(line)
        if len(buffer) * 100 >= size:
            yield b''.join(buffer)
            buffer = []
    if buffer:
        yield b''.join(buffer)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--mib', type=int, default=1024)
    parser.add_argument('--storage-url')
    parser.add_argument('--token')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as build, cluster_credentials(args) as (url, token):
        source = os.path.join(build, 'keep.c')
        with open(source, 'w') as handle:
            handle.write(GREP_SOURCE)
        exe = compile_static(source, build)
        conn = swiftclient.client.Connection(preauthurl=url, preauthtoken=token)
        container = 'bench-' + uuid.uuid4().hex
        conn.put_container(container)
        conn.put_object(container, 'big', contents=chunks(args.mib * 1024 * 1024))
        with open(exe, 'rb') as handle:
            conn.put_object(container, 'keep', handle.read())
        job = [{'name': 'keep', 'exec': {'path': 'swift://~/%s/keep' % container},
                'devices': [{'name': 'stdin', 'path': 'swift://~/%s/big' % container},
                            {'name': 'stdout'}]}]
        start = time.perf_counter()
        resp = job_request(requests.Session(), url.rstrip('/'), token, job)
        job_seconds = time.perf_counter() - start
        start = time.perf_counter()
        _, body = conn.get_object(container, 'big', resp_chunk_size=1 << 20)
        kept, rest = 0, b''
        for chunk in body:
            rest += chunk
            complete, _, rest = rest.rpartition(b'\n')
            kept += sum(1 for line in complete.split(b'\n') if b'KEEP' in line)
        local_seconds = time.perf_counter() - start
    if resp.content.count(b'KEEP') != kept:
        sys.exit('job and local filter disagree: %d vs %d lines'
                 % (resp.content.count(b'KEEP'), kept))
    print('object size             %d MiB, kept lines %d' % (args.mib, kept))
    print('job (co-located)        %.2f s  (CDR: %s)' % (job_seconds,
                                                     resp.headers.get('X-Nexe-Cdr-Line')))
    print('download + local filter %.2f s' % local_seconds)
    print('ratio job/download      %.2f (goal <= 0.5)' % (job_seconds / local_seconds))


if __name__ == '__main__':
    main()
