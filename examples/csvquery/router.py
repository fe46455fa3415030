"""csvquery's /api/ app: route a request to the query job of the dataset it names.

Runs in the zerocloud sandbox (python system image) for every call of
``/api/<account>/<container>/<dataset>.csv?<query>``.  It reads the CGI environment only,
and answers with ``message/cgi``: either an error (JSON, with its status) or the next job
(``X-Zerovm-Execute``), which the ``job_chain`` filter runs: ``query.py`` with the dataset
object ``data/<dataset>.csv`` of this container on its stdin.
"""
import json
import os
import re
import sys
from urllib.parse import quote, unquote

DATASET = re.compile(r'[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.csv\Z')


def answer(status, fields, body):
    head = ''.join('%s: %s\r\n' % item for item in fields)
    sys.stdout.write('Status: %s\r\n%s\r\n%s' % (status, head, body))


def error(status, message):
    answer(status, [('Content-Type', 'application/json')],
           json.dumps({'error': message}) + '\n')


def query_job(dataset):
    """The job that answers the query on ``data/<dataset>``."""
    home = 'swift://%s/%s/' % (quote(os.environ['CSVQ_ACCOUNT'], safe=''),
                               quote(os.environ['CSVQ_CONTAINER'], safe=''))
    return [{'name': 'query',
             'exec': {'path': 'file://python:python', 'args': '/dev/script',
                      'env': {'CSVQ_QUERY': os.environ.get('QUERY_STRING', '')}},
             'devices': [{'name': 'python'},
                         {'name': 'script', 'path': home + 'query.py'},
                         {'name': 'stdin', 'path': home + 'data/' + dataset},
                         {'name': 'stdout', 'content_type': 'message/cgi'}]}]


def main():
    method = os.environ.get('REQUEST_METHOD')
    if method not in ('GET', 'HEAD'):
        error('405 Method Not Allowed', 'csvquery answers GET and HEAD')
        return
    dataset = unquote(os.environ.get('PATH_INFO', '/')[1:])
    if not DATASET.match(dataset):
        error('404 Not Found', 'ask for /<dataset>.csv (letters, digits, . _ -)')
        return
    answer('200 OK', [('Content-Type', 'application/json'), ('X-Zerovm-Execute', '1.0')],
           json.dumps(query_job(dataset)))


if __name__ == '__main__':
    main()
