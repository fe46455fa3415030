"""Word-count merge (the "manager"): combine the reducers' tables and print the top words.

Usage: ``merge.py [TOP]`` (default 10).  Reads every ``/dev/in/<reducer>`` stream at the same
time with ``poll`` (standard input when there is no ``/dev/in`` channel), each a sequence of
lines ``word<TAB>count<LF>``, adds the counts, and prints the ``TOP`` most frequent words as
``word<TAB>count`` lines, by decreasing count then byte-wise word order.  When the job gives
a ``/dev/output`` device, the whole table, sorted by word, is written there as well.

A malformed line or argument is reported on standard error and the exit status is 1 (2 for a
bad argument).  ``ZEROCLOUD_DEV_ROOT=<dir>`` replaces ``/dev`` outside the sandbox.  The
script is self-contained (stdlib only) because it is uploaded and run as a single object.
"""
import collections
import os
import select
import sys

READ_BYTES = 1 << 16
DEFAULT_TOP = 10


class BadRecord(Exception):
    """An input line that is not ``word<TAB>count``."""


def dev_path(name):
    """Path of channel ``name`` (``/dev/<name>``, or under ``$ZEROCLOUD_DEV_ROOT``)."""
    root = os.environ.get('ZEROCLOUD_DEV_ROOT')
    return os.path.join(root, name) if root else '/dev/' + name


def instance_name():
    """This instance's name: ``$ZEROCLOUD_INSTANCE``, else argv[0] (the job's ``exec.name``).

    When argv[0] is the interpreter itself (a run by hand), the script's name is used.
    """
    argv0 = os.path.basename(sys.orig_argv[0]) if sys.orig_argv else ''
    if not argv0 or argv0.startswith('python'):
        argv0 = os.path.basename(sys.argv[0])
    return os.environ.get('ZEROCLOUD_INSTANCE') or argv0


def list_channels(kind):
    """Sorted names of the entries of ``/dev/<kind>`` (empty when it does not exist)."""
    try:
        return sorted(os.listdir(dev_path(kind)))
    except FileNotFoundError:
        return []


def open_inputs():
    """Open every ``/dev/in`` channel non-blocking; ``{fd: label}`` (stdin when none)."""
    names = list_channels('in')
    if not names:
        return {sys.stdin.fileno(): 'stdin'}
    return {os.open(os.path.join(dev_path('in'), name), os.O_RDONLY | os.O_NONBLOCK):
            '/dev/in/' + name for name in names}


def add_lines(counts, label, lines, first_number):
    """Add ``word<TAB>count`` ``lines`` into ``counts``; raise BadRecord naming the line."""
    for number, line in enumerate(lines, first_number):
        word, tab, count = line.partition(b'\t')
        if not word or not tab or not count.isdigit():
            raise BadRecord('%s line %d: expected "word<TAB>count", got %r'
                            % (label, number, line[:80]))
        counts[word] += int(count)


def read_concurrently(inputs, counts):
    """Read all ``{fd: label}`` streams to EOF at once (poll), adding their records."""
    poller = select.poll()
    state = {}
    for fd, label in inputs.items():
        poller.register(fd, select.POLLIN)
        state[fd] = [b'', 1]  # partial last line, number of the next line
    while state:
        for fd, _events in poller.poll():
            try:
                data = os.read(fd, READ_BYTES)
            except BlockingIOError:
                continue
            pending, number = state[fd]
            if data:
                lines = (pending + data).split(b'\n')
                add_lines(counts, inputs[fd], lines[:-1], number)
                state[fd] = [lines[-1], number + len(lines) - 1]
                continue
            if pending:
                raise BadRecord('%s line %d: missing final newline' % (inputs[fd], number))
            poller.unregister(fd)
            del state[fd]
            if fd != sys.stdin.fileno():
                os.close(fd)


def parse_top(argv):
    """The TOP argument (a positive integer); raise ValueError with a clear message."""
    if len(argv) > 1:
        raise ValueError('usage: merge.py [TOP]')
    if not argv:
        return DEFAULT_TOP
    if not argv[0].isdigit() or int(argv[0]) < 1:
        raise ValueError('TOP must be a positive integer, got %r' % argv[0])
    return int(argv[0])


def main(argv):
    """Merge, print the top words, store the table; return the exit status."""
    try:
        top = parse_top(argv)
    except ValueError as exc:
        sys.stderr.write('%s: %s\n' % (instance_name(), exc))
        return 2
    counts = collections.Counter()
    read_concurrently(open_inputs(), counts)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]
    sys.stdout.buffer.write(b''.join(b'%s\t%d\n' % item for item in ranked))
    sys.stdout.buffer.flush()
    if os.path.exists(dev_path('output')):
        with open(os.open(dev_path('output'), os.O_WRONLY), 'wb') as output:
            output.write(b''.join(b'%s\t%d\n' % (w, counts[w]) for w in sorted(counts)))
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv[1:]))
    except (OSError, BadRecord) as exc:
        sys.stderr.write('%s: %s\n' % (instance_name(), exc))
        sys.exit(1)
