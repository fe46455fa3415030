"""A zapp object as a web app: ``/open/`` of a zapp runs its ``boot/system.map`` with the
zapp as its image (SPEC S1.5), and so does an ``/api/`` endpoint that is a zapp (S1.6)."""
import json
import uuid

import pytest
import requests

from tests.functional.test_open import open_url
from tests.functional.test_zapps import zapp
from tests.functional.webapp_support import APP, account_of, api_url, call

WORDS_PY = b'''import os
print("opened", *sorted(open("/data/words.txt").read().split()), os.environ["PATH_INFO"])
'''


def python_job(name, devices):
    return [{'name': name, 'exec': {'path': 'file://python:python', 'args': '/main.py'},
             'devices': [{'name': 'python'}] + devices}]


@pytest.fixture(scope='module')
def container(cluster):
    name = 'zcwz-' + uuid.uuid4().hex
    cluster.connection().put_container(name)
    return name


def test_open_of_a_zapp_runs_its_system_map_from_its_image(cluster, container):
    conn = cluster.connection()
    conn.put_object(container, 'words.zapp', zapp(
        python_job('words', [{'name': 'stdout'}]),
        [('main.py', WORDS_PY), ('data/words.txt', b'pear apple fig')]),
        content_type='application/x-tar')
    resp = requests.get(open_url(cluster, container, 'words.zapp'),
                        headers={'X-Auth-Token': cluster.auth()[1]}, timeout=120)
    assert resp.status_code == 200, resp.text
    assert resp.headers['X-Nexe-System'] == 'words' and resp.headers['X-Nexe-Status'] == 'ok'
    assert resp.text.split()[:4] == ['opened', 'apple', 'fig', 'pear']


def test_open_of_a_broken_zapp_is_a_400_naming_it(cluster, container):
    cluster.connection().put_object(container, 'broken.tar', b'x' * 512,
                                    content_type='application/x-tar')
    resp = requests.get(open_url(cluster, container, 'broken.tar'),
                        headers={'X-Auth-Token': cluster.auth()[1]}, timeout=120)
    assert resp.status_code == 400 and 'broken.tar' in resp.text, resp.text


def test_an_api_endpoint_that_is_a_zapp_runs_with_the_request(cluster):
    conn = cluster.connection()
    name = 'zcwz-api-' + uuid.uuid4().hex
    job = python_job('app', [{'name': 'stdin'},
                             {'name': 'stdout', 'content_type': 'message/cgi'}])
    conn.put_container(name, headers={'X-Container-Meta-Rest-Endpoint': 'swift://%s/%s/%s' % (
        account_of(cluster), name, 'app.zapp')})
    conn.put_object(name, 'app.zapp', zapp(job, [('main.py', APP)]),
                    content_type='application/x-tar')
    for _ in range(2):  # the second call finds the endpoint's type in memcache
        resp = call(cluster, 'POST', api_url(cluster, name, '/items/1'), data=b'hello')
        assert resp.status_code == 200, (resp.headers, resp.text)
        seen = json.loads(resp.text)
        assert seen['REQUEST_METHOD'] == 'POST' and seen['PATH_INFO'] == '/items/1'
        assert seen['body_length'] == 5


def test_a_pathless_image_device_is_this_zapp_and_refused_in_a_plain_job(cluster, container):
    job = python_job('words', [{'name': 'image'}, {'name': 'stdout'}])
    body = zapp(job, [('main.py', WORDS_PY), ('data/words.txt', b'kiwi')])
    url, token = cluster.auth()
    headers = {'X-Auth-Token': token, 'X-Zerovm-Execute': '1.0'}
    resp = requests.post(url, data=body, timeout=120,
                         headers=dict(headers, **{'Content-Type': 'application/x-tar'}))
    assert resp.status_code == 200 and resp.text.split()[:2] == ['opened', 'kiwi'], resp.text
    resp = requests.post(url, data=json.dumps(job), timeout=120,
                         headers=dict(headers, **{'Content-Type': 'application/json'}))
    assert resp.status_code == 400 and '[0].devices[1].path' in resp.text, resp.text
