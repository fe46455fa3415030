"""Run a job, zapp or script on a zerocloud cluster and report each instance.

    zerocloud submit JOB.json|APP.zapp|SCRIPT [--object CONTAINER/OBJECT] [--json]
                     [-o FILE] [--content-type TYPE] [swift auth flags]
    zerocloud submit --source swift://ACCOUNT/CONTAINER/OBJECT [--data FILE|-] ...
    zerocloud submit ... --deferred [--wait]
    zerocloud submit --cancel swift://ACCOUNT/.zerocloud-jobs/JOB_ID

What is POSTed (SPEC S1) depends on the file's bytes: a tar or gzip file is a zapp
(``application/x-tar``, or ``application/x-gzip`` when compressed), a file starting with
``#!`` a script (``text/plain``), anything else a JSON job (``application/json``);
``--content-type`` overrides.  The request goes to the account, or with ``--object`` to
that object (a script then runs next to it with the object as stdin).  ``--source`` runs
the job, zapp or script stored in that object (``X-Zerovm-Source``) and sends ``--data``
(a file, ``-`` for stdin) as the request body, which the program reads as its path-less
stdin.  Nothing is read whole: the file is streamed up and the response body down.

The report, on standard error (standard output is exactly the response body, or ``-o
FILE`` gets it): the HTTP status, then one line per instance with its name, the object
server that ran it, its status (``ok`` or the reason), exit code, validation (valid,
rejected, not checked), wall seconds, CPU seconds and its CDR counters (reads and bytes
read, writes and bytes written, network reads and writes), then ``X-Nexe-Error``.
``--json`` prints instead one JSON object on standard output: ``{"http_status",
"reason", "error", "total_seconds", "instances": [{"name", "server", "status", "retcode",
"validation", "colocated", "cdr": {...}}], "body"}`` (``body`` as text, left out with
``-o``; with ``--json`` the body is held in memory).

``--deferred`` sends ``X-Zerovm-Deferred: always``: the job is answered at once and runs
on in the proxy; its ``swift://`` URL is printed on standard output.  With ``--wait`` the
command then polls the job's status object (``<url>.status``) every second, shows a
progress line on standard error (instances done/total, failed, elapsed seconds) and, when
the job has ended, reports it like a normal submit from its stored headers and body
(``<url>.headers``, ``<url>``).  ``--cancel URL`` writes the job's cancel mark
(``<url>.cancel``): the job stops and publishes nothing.

Credentials as for the ``swift`` command: ``ST_AUTH``/``ST_USER``/``ST_KEY`` or ``OS_*``
in the environment, or ``-A -U -K`` / ``--os-*`` flags (``zerocloud aio env`` prints the
local cluster's).

Exit status: 0 every session ran and exited 0; 1 the job failed (an HTTP error, or a
session that did not end ``ok``: killed, timed out, rejected...); 2 unusable input,
credentials or connection; 3 every session ran but a program exited non-zero.
"""
import json
import sys
import urllib.parse

from zerocloud.cli import swift_auth

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NONZERO = 3
CHUNK_BYTES = 1 << 16
JSON_TYPE, SCRIPT_TYPE = 'application/json', 'text/plain'
TAR_TYPE, GZIP_TYPE = 'application/x-tar', 'application/x-gzip'
VALIDATION = {'0': 'valid', '1': 'rejected', '2': 'not checked'}
CDR_FIELDS = ('sys', 'user', 'reads', 'rbytes', 'writes', 'wbytes',
              'nreads', 'nrbytes', 'nwrites', 'nwbytes')


class UsageError(Exception):
    """The command line or its files cannot be used; the message says why."""


def add_arguments(parser):
    parser.add_argument('program', nargs='?', metavar='JOB.json|APP.zapp|SCRIPT',
                        help='what to run (a JSON job, a zapp or a #! script)')
    parser.add_argument('--object', metavar='CONTAINER/OBJECT',
                        help='POST to this object instead of the account')
    parser.add_argument('--source', metavar='swift://ACCOUNT/CONTAINER/OBJECT',
                        help='run the job, zapp or script stored there (X-Zerovm-Source)')
    parser.add_argument('--data', metavar='FILE',
                        help='with --source: the request body (- for stdin)')
    parser.add_argument('--content-type', help='override the Content-Type sent')
    parser.add_argument('--json', action='store_true', help='print the report as JSON')
    parser.add_argument('-o', '--output', metavar='FILE', help='write the body to FILE')
    parser.add_argument('--deferred', action='store_true',
                        help='answer at once with the job URL (X-Zerovm-Deferred: always)')
    parser.add_argument('--wait', action='store_true',
                        help='with --deferred: show progress, then report the result')
    parser.add_argument('--cancel', metavar='swift://ACCOUNT/.zerocloud-jobs/JOB_ID',
                        help='cancel a deferred job')
    swift_auth.add_arguments(parser)


def content_type_of(first_bytes):
    """The Content-Type of a program file by its first 512 bytes (see the docstring)."""
    if first_bytes.startswith(b'\x1f\x8b'):
        return GZIP_TYPE
    if first_bytes[257:262] == b'ustar':
        return TAR_TYPE
    if first_bytes.startswith(b'#!'):
        return SCRIPT_TYPE
    return JSON_TYPE


def parse_report(http_status, reason, headers):
    """The report of a job response: a dict as printed by ``--json`` (without ``body``).

    ``headers`` is case-insensitive (a ``requests`` response's headers).
    """
    def values(name):
        text = headers.get(name)
        return [value.strip() for value in text.split(',')] if text else []
    names = values('X-Nexe-System')
    cdr = values('X-Nexe-Cdr-Line')
    instances = []
    for index, name in enumerate(names):
        instances.append({
            'name': name,
            'server': _at(values('X-Nexe-Node'), index),
            'status': _at(values('X-Nexe-Status'), index),
            'retcode': _integer(_at(values('X-Nexe-Retcode'), index)),
            'validation': VALIDATION.get(_at(values('X-Nexe-Validation'), index), None),
            'colocated': _at(values('X-Nexe-Colocated'), index) == '1',
            'cdr': _cdr(_at(cdr, index + 1)),
        })
    return {'http_status': http_status, 'reason': reason,
            'error': headers.get('X-Nexe-Error'),
            'total_seconds': _number(_at(cdr, 0)), 'instances': instances}


def _at(items, index):
    return items[index] if index < len(items) else None


def _integer(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def _number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _cdr(text):
    """``'wall sys user reads ...'`` -> ``{'seconds': wall, 'sys': ..., ...}`` (or {})."""
    fields = (text or '').split()
    if len(fields) != 1 + len(CDR_FIELDS):
        return {}
    values = [_number(field) for field in fields]
    cdr = {'seconds': values[0]}
    for name, value in zip(CDR_FIELDS, values[1:]):
        cdr[name] = value if name in ('sys', 'user') else int(value or 0)
    return cdr


def exit_status(report):
    """The command's exit status for a report (see the module docstring)."""
    if not 200 <= report['http_status'] < 300:
        return EXIT_FAILED
    if any(instance['status'] != 'ok' for instance in report['instances']):
        return EXIT_FAILED
    if any(instance['retcode'] not in (0, None) for instance in report['instances']):
        return EXIT_NONZERO
    return 0


def format_report(report):
    """The human-readable report (the lines printed on standard error)."""
    lines = ['HTTP %d %s' % (report['http_status'], report['reason'] or '')
             + ('   total %.3f s' % report['total_seconds']
                if report['total_seconds'] is not None else '')]
    rows = [('instance', 'server', 'status', 'exit', 'validation', 'seconds', 'cpu',
             'read n/bytes', 'written n/bytes', 'net in', 'net out')]
    for instance in report['instances']:
        cdr = instance['cdr']
        rows.append((instance['name'], instance['server'] or '-', instance['status'] or '-',
                     '-' if instance['retcode'] is None else str(instance['retcode']),
                     instance['validation'] or '-') + _cdr_columns(cdr))
    if report['instances']:
        widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
        lines.extend('  '.join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
                     for row in rows)
    if report['error']:
        lines.append('error: %s' % report['error'])
    return '\n'.join(lines)


def _cdr_columns(cdr):
    if not cdr:
        return ('-',) * 6
    return ('%.3f' % cdr['seconds'], '%.2f' % (cdr['sys'] + cdr['user']),
            '%d/%d' % (cdr['reads'], cdr['rbytes']), '%d/%d' % (cdr['writes'], cdr['wbytes']),
            '%d/%d' % (cdr['nreads'], cdr['nrbytes']),
            '%d/%d' % (cdr['nwrites'], cdr['nwbytes']))


def request_parts(args):
    """``(path suffix, headers, body file or None)`` of the POST.

    :raises UsageError: a bad combination of arguments or an unreadable file.
    """
    if (args.program is None) == (args.source is None):
        raise UsageError('give either a program file or --source, not both or neither')
    if args.data is not None and args.source is None:
        raise UsageError('--data is the request body of a --source run: give --source too')
    headers = {'X-Zerovm-Execute': '1.0'}
    if args.source is not None:
        if not args.source.startswith('swift://'):
            raise UsageError('--source %s: expected swift://ACCOUNT/CONTAINER/OBJECT'
                             % args.source)
        headers['X-Zerovm-Source'] = args.source
        body = _open(args.data) if args.data is not None else None
    else:
        body = _open(args.program)
    if args.content_type or body is not None and args.source is None:
        headers['Content-Type'] = args.content_type or content_type_of(body.peek(512)[:512])
    suffix = ''
    if args.object:
        container, _slash, obj = args.object.strip('/').partition('/')
        if not container or not obj:
            raise UsageError('--object %s: expected CONTAINER/OBJECT' % args.object)
        suffix = '/' + urllib.parse.quote(container + '/' + obj)
    return suffix, headers, body


def _open(path):
    if path == '-':
        return sys.stdin.buffer
    try:
        return open(path, 'rb')
    except OSError as err:
        raise UsageError('cannot read %s: %s' % (path, err.strerror)) from None


def object_url(storage_url, swift_url):
    """The HTTP URL of ``swift://ACCOUNT/CONTAINER/OBJECT`` under ``storage_url``'s proxy.

    :raises UsageError: not a swift:// object URL.
    """
    path = swift_url[len('swift://'):] if swift_url.startswith('swift://') else ''
    if path.count('/') < 2:
        raise UsageError('%s: expected swift://ACCOUNT/CONTAINER/OBJECT' % swift_url)
    return storage_url.rstrip('/').rsplit('/', 1)[0] + '/' + urllib.parse.quote(path)


def main(args):
    import requests
    try:
        if args.wait and not args.deferred:
            raise UsageError('--wait follows a --deferred job: give --deferred too')
        if args.cancel is None:
            suffix, headers, body = request_parts(args)
        storage_url, token = swift_auth.authenticate(swift_auth.connection(args))
        if args.cancel is not None:
            return cancel(requests, object_url(storage_url, args.cancel), token, args)
    except (UsageError, swift_auth.AuthError) as err:
        print('zerocloud submit: %s' % err, file=sys.stderr)
        return EXIT_USAGE
    except (requests.RequestException, OSError) as err:
        print('zerocloud submit: %s' % err, file=sys.stderr)
        return EXIT_USAGE
    headers['X-Auth-Token'] = token
    if args.deferred:
        headers['X-Zerovm-Deferred'] = 'always'
    session = dict(timeout=args.timeout, verify=swift_auth.tls_verify(args))
    try:
        with requests.post(storage_url + suffix, data=body, headers=headers, stream=True,
                           **session) as resp:
            if args.deferred and resp.status_code == 202:
                url = resp.text.strip()
                print(url, flush=True)
                if not args.wait:
                    return 0
                return wait_for(requests, object_url(storage_url, url), token, args, session)
            report = parse_report(resp.status_code, resp.reason, resp.headers)
            output_body(resp, report, args)
    except (requests.RequestException, OSError) as err:
        print('zerocloud submit: %s' % err, file=sys.stderr)
        return EXIT_USAGE
    finally:
        if body is not None and body is not sys.stdin.buffer:
            body.close()
    return exit_status(report)


def output_body(resp, report, args):
    """Write the body (``-o`` file, stdout, or into the JSON) and the report."""
    chunks = resp.iter_content(CHUNK_BYTES)
    if args.output:
        with open(args.output, 'wb') as out:
            for chunk in chunks:
                out.write(chunk)
    elif args.json:
        report['body'] = b''.join(chunks).decode('utf-8', 'replace')
    else:
        failed = not 200 <= report['http_status'] < 300
        out = sys.stderr.buffer if failed else sys.stdout.buffer
        sys.stderr.flush()
        for chunk in chunks:
            out.write(chunk)
        out.flush()
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        print(format_report(report), file=sys.stderr)


def cancel(requests, url, token, args):
    """Write the cancel mark of the deferred job at ``url``."""
    resp = requests.put(url + '.cancel', data=b'', headers={'X-Auth-Token': token},
                        timeout=args.timeout, verify=swift_auth.tls_verify(args))
    print('HTTP %d %s' % (resp.status_code, resp.reason), file=sys.stderr)
    return 0 if 200 <= resp.status_code < 300 else EXIT_FAILED


def progress_line(status):
    """``'1200/2500 instances done, 0 failed, 4.2 s (running)'``."""
    counts = status.get('instances') or {}
    return '%d/%d instances done, %d failed, %.1f s (%s)' % (
        counts.get('done', 0), counts.get('total', 0), counts.get('failed', 0),
        status.get('elapsed_seconds') or 0, status.get('state'))


def wait_for(requests, url, token, args, session, interval=1.0):
    """Poll a deferred job's status until it ends, then report it as a normal submit."""
    import time
    auth = {'X-Auth-Token': token}
    while True:
        resp = requests.get(url + '.status', headers=auth, **session)
        status = resp.json() if resp.status_code == 200 else {'state': 'unknown'}
        print('\r' + progress_line(status), end='', file=sys.stderr, flush=True)
        if status.get('state') in ('done', 'failed', 'cancelled'):
            print(file=sys.stderr)
            break
        time.sleep(interval)
    headers = requests.structures.CaseInsensitiveDict(
        requests.get(url + '.headers', headers=auth, **session).json())
    report = parse_report(status.get('http_status') or 0, status['state'], headers)
    with requests.get(url, headers=auth, stream=True, **session) as body:
        output_body(body, report, args)
    return exit_status(report)
