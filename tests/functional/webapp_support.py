"""Helpers for the /api/ and setuid functional tests: a Python app that reports what it saw.

``APP`` answers ``message/cgi`` JSON: the CGI variables, the length and MD5 of its stdin (the
request body), the text of ``/dev/input`` when the job gives it one, and whether it wrote
``/dev/output``.  ``CHAIN`` answers with the job in its ``CHAIN_JOB`` environment variable
(a chained job, SPEC S1.7).
"""
import json
import uuid

import requests

from tests.functional.mapreduce_support import python_node

APP = b'''import hashlib, json, os, sys
body = sys.stdin.buffer.read()
seen = {name: os.environ.get(name) for name in (
    "REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "HTTP_X_ZC_TEST", "REMOTE_USER")}
seen["body_length"] = len(body)
seen["body_md5"] = hashlib.md5(body).hexdigest()
if os.path.exists("/dev/input"):
    seen["input"] = open("/dev/input").read()
if os.path.exists("/dev/output"):
    open("/dev/output", "w").write("written by the app")
    seen["wrote"] = True
sys.stdout.write("Status: 200 OK\\r\\nContent-Type: application/json\\r\\n\\r\\n")
sys.stdout.write(json.dumps(seen))
'''
CHAIN = b'''import os, sys
sys.stdout.write("Content-Type: application/json\\r\\nX-Zerovm-Execute: 1.0\\r\\n\\r\\n")
sys.stdout.write(os.environ["CHAIN_JOB"])
'''


def account_of(cluster, user='test:tester'):
    return cluster.auth(user)[0].rsplit('/', 1)[1]


def app_job(account, container, script='app.py', input_path=None, output_path=None,
            stdin=True):
    """The app's job: ``script`` from ``container``, path-less stdin (the body), optional
    input/output objects, message/cgi stdout."""
    devices = [{'name': 'stdin'}] if stdin else []
    if input_path:
        devices.append({'name': 'input', 'path': input_path})
    if output_path:
        devices.append({'name': 'output', 'path': output_path})
    devices.append({'name': 'stdout', 'content_type': 'message/cgi'})
    node = python_node('app', container, script, devices)
    node['devices'][1]['path'] = 'swift://%s/%s/%s' % (account, container, script)
    return [node]


def deploy(cluster, job, suid=None, container=None, endpoint='app.json', read_acl=None):
    """A container of test:tester serving ``job`` (stored as ``endpoint`` in it) at
    /api/; ``suid`` sets its Zerovm-Suid ACL.  Returns the container name."""
    conn = cluster.connection()
    container = container or 'zcapi-' + uuid.uuid4().hex
    headers = {'X-Container-Meta-Rest-Endpoint': 'swift://%s/%s/%s' % (
        account_of(cluster), container, endpoint)}
    if suid:
        headers['X-Container-Meta-Zerovm-Suid'] = suid
    if read_acl:
        headers['X-Container-Read'] = read_acl
    conn.put_container(container, headers=headers)
    conn.put_object(container, 'app.py', APP)
    conn.put_object(container, 'chain.py', CHAIN)
    conn.put_object(container, endpoint, json.dumps(job).encode(),
                    content_type='application/json')
    return container


def api_url(cluster, container, rest='', account=None):
    return '%s/api/%s/%s%s' % (cluster.proxy_url, account or account_of(cluster),
                               container, rest)


def call(cluster, method, url, user='test:tester', **kwargs):
    """``method url`` as ``user`` (None: anonymous)."""
    headers = dict(kwargs.pop('headers', {}))
    if user is not None:
        headers['X-Auth-Token'] = cluster.auth(user)[1]
    return requests.request(method, url, headers=headers, timeout=120,
                            allow_redirects=False, **kwargs)
