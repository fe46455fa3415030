"""Distributed sort: the map-reduce of ZeroCloud's Servlets.md, mappers in a mesh.

One script, three roles, chosen by the first argument (``job.json`` runs it three ways)::

    mapper-1..M   sort.py map [EVERY]   one per input object, the object on stdin
    reducer-1..R  sort.py reduce        R = the reducer node's ``count`` (5 in job.json)
    manager       sort.py manage

A **record** is one line of an input object: UTF-8 text ending in LF (a missing final LF is
added).  Records are sorted byte-wise, which for UTF-8 is Unicode code-point order.

1. **Sample.** A mapper reads its object, sorts it and takes every EVERY-th record of it
   (the 1st, the EVERY+1-th, ...; EVERY defaults to 100) as its sample.
2. **Exchange.** It sends its sample to every other mapper (``/dev/out/mapper-*``) and reads
   theirs to end-of-file (``/dev/in/mapper-*``).  Every mapper then holds the same samples,
   so all compute the same **splitters**: the sorted samples cut into R equal parts, the
   first record of parts 2..R.  Reducer k (in instance-number order) gets the range of the
   records ``r`` with ``splitter[k-1] <= r < splitter[k]`` (no lower bound for the first, no
   upper bound for the last), so equal records always meet in one range, and the ranges are
   about equally large.  EVERY=1 exchanges every record: exact quantiles, but each mapper
   then receives all the data.
3. **Map.** Each mapper sends reducer k its sorted records of range k.
4. **Reduce.** Reducer k merges its M sorted streams (one sort: Timsort finds the sorted
   runs), writes range k to standard output (the job publishes it as an object) and sends
   the manager a one-line JSON summary ``{"reducer", "records", "bytes", "first", "last"}``
   (first/last are null when the range is empty).
5. **Manage.** The manager gathers the summaries, in reducer order, into a JSON report
   ``{"records", "bytes", "ordered", "ranges": [summaries]}`` (``ordered``: every non-empty
   range starts at or after the end of the one before), written to standard output and, when
   the job gives one, to ``/dev/output``.

A program learns its place from the listings only: a mapper's peers are the entries of
``/dev/in`` (only mappers send to a mapper) and its reducers the other entries of ``/dev/out``.
Its own name comes from ``$SCRIPT_NAME`` (SPEC S6).

**No deadlock.**  All channel I/O goes through :func:`exchange`, which writes and reads all
of a program's channels at once with ``poll()`` (the sandbox allows no threads).  Writing
everything before reading would hang as soon as the data exceeds what the channels buffer
(several MiB per stream): every mapper would wait for a peer that is itself waiting.
Each outgoing channel is closed as soon as it is written, which gives its reader EOF.

An input line that is not UTF-8 stops the mapper with exit status 1 and a message naming the
line (``mapper-2: stdin line 7 is not UTF-8 text``).  The script is self-contained (stdlib
only) because it is uploaded and run as a single object.
"""
import bisect
import fcntl
import json
import os
import re
import select
import sys

CHUNK_BYTES = 1 << 20
DEFAULT_EVERY = 100


class SortError(Exception):
    """Bad input or a broken topology; the message says what and where."""


def channel(kind, name):
    """Path of ``/dev/<kind>/<name>`` (kind is ``in`` or ``out``)."""
    return '/dev/%s/%s' % (kind, name)


def list_channels(kind):
    """Names of the entries of ``/dev/<kind>``, in instance-number order (empty if none)."""
    try:
        names = os.listdir('/dev/' + kind)
    except FileNotFoundError:
        return []
    return sorted(names, key=instance_order)


def instance_order(name):
    """Sort key putting ``reducer-2`` before ``reducer-10``."""
    stem, number = re.fullmatch(r'(.*?)(\d*)', name).groups()
    return stem, int(number or 0)


def exchange(sends, receives):
    """Write every ``{path: bytes}`` of ``sends`` and read every path of ``receives`` to EOF,
    all at the same time; return ``{path: bytes read}``.

    Inputs are opened first and without blocking, outputs then (blocking until their reader
    is there, then made non-blocking with ``fcntl``: ``os.set_blocking`` uses an ioctl, which
    the sandbox refuses), so programs that open channels to each other
    never wait on one another.  Each output is closed as soon as it is written.
    """
    poller, received, readers, writers = select.poll(), {}, {}, {}
    for path in receives:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        readers[fd] = received.setdefault(path, [])
        poller.register(fd, select.POLLIN)
    for path, data in sends.items():
        fd = os.open(path, os.O_WRONLY)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
        writers[fd] = memoryview(data)
        poller.register(fd, select.POLLOUT)
    while readers or writers:
        for fd, _events in poller.poll():
            finished = _write_some(fd, writers) if fd in writers else _read_some(fd, readers)
            if finished:
                poller.unregister(fd)
                os.close(fd)
    return {path: b''.join(chunks) for path, chunks in received.items()}


def _write_some(fd, writers):
    """Write what the channel takes now; True once everything is written."""
    try:
        written = os.write(fd, writers[fd][:CHUNK_BYTES])
    except BlockingIOError:
        return False
    writers[fd] = writers[fd][written:]
    if writers[fd]:
        return False
    del writers[fd]
    return True


def _read_some(fd, readers):
    """Read what the channel holds now; True at end-of-file."""
    try:
        data = os.read(fd, CHUNK_BYTES)
    except BlockingIOError:
        return False
    if data:
        readers[fd].append(data)
        return False
    del readers[fd]
    return True


def split_records(data):
    """The records (lines, without their LF) of ``data``."""
    records = data.split(b'\n')
    if records[-1] == b'':
        records.pop()
    return records


def join_records(records):
    """The bytes of ``records``, each ending in LF."""
    return b''.join(record + b'\n' for record in records)


def check_utf8(data, label):
    """Raise SortError naming the first line of ``data`` that is not UTF-8 text."""
    try:
        data.decode('utf-8')
    except UnicodeDecodeError as exc:
        line = data.count(b'\n', 0, exc.start) + 1
        raise SortError('%s line %d is not UTF-8 text' % (label, line))


def splitters(samples, ranges):
    """The ``ranges - 1`` records that cut the sorted ``samples`` into equal parts."""
    ordered = sorted(samples)
    if not ordered:
        return []
    return [ordered[len(ordered) * k // ranges] for k in range(1, ranges)]


def cut(records, bounds):
    """Slices of the sorted ``records``: slice k holds ``bounds[k-1] <= r < bounds[k]``."""
    edges = [0] + [bisect.bisect_left(records, bound) for bound in bounds] + [len(records)]
    return [records[start:end] for start, end in zip(edges, edges[1:])]


def run_mapper(every):
    """Sort this object, agree on the splitters with the peers, feed every reducer."""
    data = sys.stdin.buffer.read()
    check_utf8(data, 'stdin')
    records = sorted(split_records(data))
    peers = list_channels('in')
    reducers = [name for name in list_channels('out') if name not in peers]
    if not reducers:
        raise SortError('no reducer in /dev/out (expected a "connect" to the reducers)')
    sample = records[::every]
    received = exchange({channel('out', peer): join_records(sample) for peer in peers},
                        [channel('in', peer) for peer in peers])
    for data in received.values():
        sample += split_records(data)
    parts = cut(records, splitters(sample, len(reducers)))
    exchange({channel('out', name): join_records(part)
              for name, part in zip(reducers, parts)}, [])


def run_reducer():
    """Merge this range from every mapper, publish it, tell the manager what it holds."""
    outputs = list_channels('out')
    if len(outputs) != 1:
        raise SortError('expected one /dev/out channel (the manager), found %d' % len(outputs))
    received = exchange({}, [channel('in', name) for name in list_channels('in')])
    merged = sorted(record for data in received.values() for record in split_records(data))
    sys.stdout.buffer.write(join_records(merged))
    sys.stdout.buffer.flush()
    summary = {'reducer': os.environ.get('SCRIPT_NAME', ''), 'records': len(merged),
               'bytes': sum(len(record) + 1 for record in merged),
               'first': merged[0].decode() if merged else None,
               'last': merged[-1].decode() if merged else None}
    exchange({channel('out', outputs[0]): json.dumps(summary).encode() + b'\n'}, [])


def run_manager():
    """Gather the reducers' summaries into the report."""
    names = list_channels('in')
    received = exchange({}, [channel('in', name) for name in names])
    ranges = [json.loads(received[channel('in', name)]) for name in names]
    bounds = [(part['first'], part['last']) for part in ranges if part['records']]
    report = {'records': sum(part['records'] for part in ranges),
              'bytes': sum(part['bytes'] for part in ranges),
              'ordered': all(last <= first for (_, last), (first, _) in zip(bounds, bounds[1:])),
              'ranges': ranges}
    text = (json.dumps(report, indent=1, ensure_ascii=False) + '\n').encode()
    sys.stdout.buffer.write(text)
    sys.stdout.buffer.flush()
    if os.path.exists('/dev/output'):
        with open('/dev/output', 'wb') as output:
            output.write(text)


def main(argv):
    """Run the role named by ``argv[1]``; return the exit status."""
    role, extra = (argv[1] if len(argv) > 1 else ''), argv[2:]
    if role == 'map' and len(extra) <= 1 and all(arg.isdigit() and int(arg) > 0
                                                 for arg in extra):
        run_mapper(int(extra[0]) if extra else DEFAULT_EVERY)
    elif role in ('reduce', 'manage') and not extra:
        (run_reducer if role == 'reduce' else run_manager)()
    else:
        raise SortError('usage: sort.py map [EVERY] | sort.py reduce | sort.py manage')
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv))
    except (OSError, SortError, ValueError) as exc:
        sys.stderr.write('%s: %s\n' % (os.environ.get('SCRIPT_NAME', 'sort.py'), exc))
        sys.exit(1)
