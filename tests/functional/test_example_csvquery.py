"""examples/csvquery on the cluster: deployed by its script, queried over real HTTP.

The service is public (``Zerovm-Suid: .r:*``) while its data stays private: anonymous
callers query the owner's CSV through the app (a router job chaining to a query job, both
running as the owner by setuid), never read it directly.
"""
import os
import subprocess
import sys
import uuid

import pytest
import requests

DEPLOY = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'examples', 'csvquery', 'deploy.py')
FRUIT = ('name,color,qty\napple,red,3\npear,green,5\ncherry,red,40\n'
         '"fig, dried",brown,7\nplum,red,11\n')


@pytest.fixture(scope='module')
def service(cluster, tmp_path_factory):
    path = tmp_path_factory.mktemp('csvq') / 'fruit.csv'
    path.write_text(FRUIT)
    container = 'csvq-' + uuid.uuid4().hex
    done = subprocess.run(
        [sys.executable, DEPLOY, '--auth', cluster.auth_url, '--user', 'test:tester',
         '--key', cluster.users['test:tester'], '--container', container, '--public',
         str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return container, done.stdout.strip()


def test_deploy_prints_the_services_url(cluster, service):
    container, url = service
    account = cluster.auth()[0].rsplit('/', 1)[1]
    assert url == '%s/api/%s/%s' % (cluster.proxy_url, account, container)


def test_anyone_queries_the_private_data_through_the_app(cluster, service):
    container, url = service
    assert requests.get('%s/%s/data/fruit.csv' % (cluster.auth()[0], container),
                        timeout=30).status_code == 401      # not directly
    resp = requests.get(url + '/fruit.csv', params=[
        ('columns', 'name,qty'), ('where', 'color:red'), ('limit', '2')], timeout=120)
    assert resp.status_code == 200, (resp.headers, resp.text)
    assert resp.headers['Content-Type'] == 'application/json'
    assert resp.headers['X-Chain-Length'] == '2'
    assert resp.json() == {'columns': ['name', 'qty'], 'rows': [['apple', '3'],
                                                                ['cherry', '40']],
                           'matched': 3}
    resp = requests.get(url + '/fruit.csv?where=name:fig,%20dried', timeout=120)
    assert resp.json()['rows'] == [['fig, dried', 'brown', '7']]


def test_mistakes_get_json_errors_with_their_status(cluster, service):
    _, url = service
    resp = requests.get(url + '/fruit.csv?columns=weight', timeout=120)
    assert resp.status_code == 400 and "no column 'weight'" in resp.json()['error']
    resp = requests.get(url + '/fruit.csv?limit=0', timeout=120)
    assert resp.status_code == 400 and resp.json()['error'].startswith('limit')
    resp = requests.get(url + '/notes.txt', timeout=120)
    assert resp.status_code == 404 and 'dataset' in resp.json()['error']
    resp = requests.post(url + '/fruit.csv', data=b'x', timeout=120)
    assert resp.status_code == 405 and 'GET and HEAD' in resp.json()['error']
    resp = requests.get(url + '/nothing.csv', timeout=120)
    assert resp.status_code == 404 and 'data/nothing.csv' in resp.text
