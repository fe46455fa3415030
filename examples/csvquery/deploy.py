"""Deploy csvquery into a Swift container served by zerocloud's /api/.

    python examples/csvquery/deploy.py --auth http://127.0.0.1:8080/auth/v1.0 \
        --user test:tester --key testing --container csvq --public fruit.csv

uploads ``router.py`` and ``query.py``, the endpoint job ``app.json`` and each CSV file given
as ``data/<file name>``, and sets the container's ``X-Container-Meta-Rest-Endpoint`` to the
job.  ``--public`` sets ``X-Container-Meta-Zerovm-Suid: .r:*`` (anyone may query, the
data stays private: only the app reads it, as the owner); ``--suid ACL`` sets another ACL.
Prints the service's URL.
"""
import argparse
import json
import os
from urllib.parse import quote

import swiftclient.client

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAMS = ('router.py', 'query.py')


def endpoint_job(account, container):
    """The /api/ app: router.py under the python system image, answering message/cgi."""
    home = 'swift://%s/%s/' % (quote(account, safe=''), quote(container, safe=''))
    return [{'name': 'router',
             'exec': {'path': 'file://python:python', 'args': '/dev/script',
                      'env': {'CSVQ_ACCOUNT': account, 'CSVQ_CONTAINER': container}},
             'devices': [{'name': 'python'},
                         {'name': 'script', 'path': home + 'router.py'},
                         {'name': 'stdout', 'content_type': 'message/cgi'}]}]


def deploy(conn, container, datasets, suid=None):
    """Create the service in ``container`` with ``datasets`` ({name: CSV bytes}) through the
    swiftclient Connection ``conn``; return its URL (``<proxy>/api/<account>/<container>``)."""
    storage_url = conn.get_auth()[0].rstrip('/')
    account = storage_url.rsplit('/', 1)[1]
    headers = {'X-Container-Meta-Rest-Endpoint': 'swift://%s/%s/app.json' % (
        quote(account, safe=''), quote(container, safe=''))}
    if suid:
        headers['X-Container-Meta-Zerovm-Suid'] = suid
    conn.put_container(container, headers=headers)
    for name in PROGRAMS:
        with open(os.path.join(HERE, name), 'rb') as handle:
            conn.put_object(container, name, handle.read(), content_type='text/x-python')
    conn.put_object(container, 'app.json', json.dumps(endpoint_job(account, container)),
                    content_type='application/json')
    for name, data in datasets.items():
        conn.put_object(container, 'data/' + name, data, content_type='text/csv')
    proxy = storage_url.rsplit('/', 2)[0]
    return '%s/api/%s/%s' % (proxy, quote(account, safe=''), quote(container, safe=''))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--auth', required=True, help='auth URL (tempauth v1)')
    parser.add_argument('--user', required=True)
    parser.add_argument('--key', required=True)
    parser.add_argument('--container', default='csvq')
    acl = parser.add_mutually_exclusive_group()
    acl.add_argument('--public', action='store_true', help='Zerovm-Suid: .r:*')
    acl.add_argument('--suid', help='Zerovm-Suid ACL (who may query)')
    parser.add_argument('csv', nargs='*', help='CSV files (first line: column names)')
    args = parser.parse_args(argv)
    datasets = {}
    for path in args.csv:
        with open(path, 'rb') as handle:
            datasets[os.path.basename(path)] = handle.read()
    conn = swiftclient.client.Connection(args.auth, args.user, args.key)
    print(deploy(conn, args.container, datasets, '.r:*' if args.public else args.suid))


if __name__ == '__main__':
    main()
