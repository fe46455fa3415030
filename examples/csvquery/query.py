"""csvquery's query job: filter and project a CSV dataset, answer JSON rows.

Runs in the zerocloud sandbox with the dataset on stdin (a CSV file whose first line names
the columns) and the request's query string in ``CSVQ_QUERY``:

``columns=a,b``   the columns to return (default: all, in file order)
``where=col:val`` keep rows whose ``col`` equals ``val`` (repeatable: all must hold)
``limit=N``       at most N rows (default 1000)

Answers ``message/cgi``: 200 with ``{"columns": [...], "rows": [[...], ...],
"matched": N}``, or 400 with ``{"error": ...}`` naming the bad parameter.
"""
import csv
import io
import json
import os
import sys
from urllib.parse import parse_qsl

MAX_LIMIT = 100000


class BadQuery(ValueError):
    pass


def parse_query(text, header):
    """``(column indexes, [(index, value)], limit)`` of a query string for ``header``."""
    params = parse_qsl(text, keep_blank_values=True)
    names = [value for key, value in params if key == 'columns']
    columns = names[-1].split(',') if names else list(header)
    for name in columns:
        if name not in header:
            raise BadQuery('columns: no column %r (the dataset has %s)'
                           % (name, ', '.join(header)))
    wheres = []
    for key, value in params:
        if key != 'where':
            continue
        name, sep, wanted = value.partition(':')
        if not sep or name not in header:
            raise BadQuery('where: expected <column>:<value> with a column of %s, got %r'
                           % (', '.join(header), value))
        wheres.append((header.index(name), wanted))
    limits = [value for key, value in params if key == 'limit']
    if limits and not (limits[-1].isdigit() and 0 < int(limits[-1]) <= MAX_LIMIT):
        raise BadQuery('limit: expected 1 to %d, got %r' % (MAX_LIMIT, limits[-1]))
    limit = int(limits[-1]) if limits else 1000
    return [header.index(name) for name in columns], wheres, limit, columns


def run(stdin, query):
    """``(status, body dict)`` of the query on the CSV text ``stdin``."""
    reader = csv.reader(stdin)
    header = next(reader, [])
    try:
        indexes, wheres, limit, columns = parse_query(query, header)
    except BadQuery as err:
        return '400 Bad Request', {'error': str(err)}
    rows, matched = [], 0
    for row in reader:
        if all(index < len(row) and row[index] == wanted for index, wanted in wheres):
            matched += 1
            if len(rows) < limit:
                rows.append([row[index] if index < len(row) else '' for index in indexes])
    return '200 OK', {'columns': columns, 'rows': rows, 'matched': matched}


def main():
    stdin = io.TextIOWrapper(sys.stdin.buffer, encoding='utf-8', newline='')
    status, body = run(stdin, os.environ.get('CSVQ_QUERY', ''))
    sys.stdout.write('Status: %s\r\nContent-Type: application/json\r\n\r\n' % status)
    sys.stdout.write(json.dumps(body) + '\n')


if __name__ == '__main__':
    main()
