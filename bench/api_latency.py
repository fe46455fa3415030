"""Median latency of /api/ calls vs a plain GET of a small object, same proxy, same run.

Usage: python bench/api_latency.py [--runs 30] [--storage-url URL --token T]

Without ``--storage-url`` it starts its own all-in-one cluster (as ``bench/job_latency.py``,
whose helpers it uses).  It uploads a 1 KiB object and a static ``cat``
(tests/programs/sb_cat.c, compiled here) and makes two containers REST endpoints:

``object``  the app cats the 1 KiB object next to it to the response (REST over stored data)
``echo``    the app cats the request body (its path-less stdin) to the response

then warms the caches with one call each and times, in the same run, ``--runs`` plain GETs
of the object, GET /api/ calls of ``object`` and PUT /api/ calls of ``echo`` with a 1 KiB
body; prints the medians and their ratios to the GET.
"""
import argparse
import json
import os
import sys
import tempfile
import uuid

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from job_latency import PROGRAMS, cluster_credentials, compile_static, measure  # noqa: E402


def put(session, url, token, data=b'', **headers):
    headers['X-Auth-Token'] = token
    session.put(url, data=data, headers=headers).raise_for_status()


def endpoint(session, base, token, account, name, reads_object):
    """A container ``name-<uuid>`` whose /api/ app runs its ``cat`` on its object ``small``
    (``reads_object``) or on the request body."""
    container = '%s-%s' % (name, uuid.uuid4().hex)
    home = 'swift://%s/%s/' % (account, container)
    put(session, '%s/%s' % (base, container), token,
        **{'X-Container-Meta-Rest-Endpoint': home + 'app.json'})
    stdin = {'name': 'stdin', 'path': home + 'small'} if reads_object else {'name': 'stdin'}
    job = [{'name': name, 'exec': {'path': home + 'cat'},
            'devices': [stdin, {'name': 'stdout'}]}]
    put(session, '%s/%s/app.json' % (base, container), token, json.dumps(job).encode(),
        **{'Content-Type': 'application/json'})
    return container


def checked(resp, expected):
    if resp.status_code != 200 or resp.content != expected:
        sys.exit('call failed: %s %s %r' % (resp.status_code, resp.headers, resp.text[:500]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--runs', type=int, default=30)
    parser.add_argument('--storage-url')
    parser.add_argument('--token')
    args = parser.parse_args()
    small = os.urandom(1024)
    with tempfile.TemporaryDirectory() as build, cluster_credentials(args) as (url, token):
        with open(compile_static(os.path.join(PROGRAMS, 'sb_cat.c'), build), 'rb') as handle:
            exe = handle.read()
        session, base = requests.Session(), url.rstrip('/')
        account = base.rsplit('/', 1)[1]
        proxy = base.rsplit('/', 2)[0]
        objects = endpoint(session, base, token, account, 'object', True)
        echo = endpoint(session, base, token, account, 'echo', False)
        for container in (objects, echo):
            put(session, '%s/%s/cat' % (base, container), token, exe)
        put(session, '%s/%s/small' % (base, objects), token, small)
        auth = {'X-Auth-Token': token}

        def get():
            checked(session.get('%s/%s/small' % (base, objects), headers=auth), small)

        def api_object():
            checked(session.get('%s/api/%s/%s/small' % (proxy, account, objects),
                                headers=auth), small)

        def api_echo():
            checked(session.put('%s/api/%s/%s/echo' % (proxy, account, echo), data=small,
                                headers=auth), small)
        for call in (get, api_object, api_echo):   # warm: executables cached, caches full
            call()
        get_median = measure(get, args.runs)
        object_median = measure(api_object, args.runs)
        echo_median = measure(api_echo, args.runs)
    print('plain GET of a 1 KiB object     %.2f ms' % (get_median * 1000))
    print('GET /api/ (app cats the object) %.2f ms  (%.2f x GET)'
          % (object_median * 1000, object_median / get_median))
    print('PUT /api/ (app echoes 1 KiB)    %.2f ms  (%.2f x GET)'
          % (echo_median * 1000, echo_median / get_median))


if __name__ == '__main__':
    main()
