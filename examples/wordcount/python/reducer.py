"""Word-count reducer: merge the partial counts every mapper sent to this instance.

Runs as ``reduce-1..R``; ``/dev/in/<mapper>`` holds one stream per mapper, each a sequence of
lines ``word<TAB>count<LF>`` (see mapper.py).  All input streams are read at the same time
with ``poll`` (one stalled mapper never blocks the others, no threads needed), counts of equal
words are added, and the result is written in the same format, sorted by word, to the single
``/dev/out`` channel (the merge instance) or, when there is none, to standard output.  With
no ``/dev/in`` channel at all it reduces standard input.

A malformed line is reported on standard error with its channel and line number, and the exit
status is 1.  ``ZEROCLOUD_DEV_ROOT=<dir>`` replaces ``/dev`` outside the sandbox.  The script
is self-contained (stdlib only) because it is uploaded and run as a single object.
"""
import collections
import os
import select
import sys

READ_BYTES = 1 << 16


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


def format_table(counts):
    """Encode ``{word: count}`` as ``word<TAB>count<LF>`` lines sorted by word."""
    return b''.join(b'%s\t%d\n' % (word, counts[word]) for word in sorted(counts))


def main():
    """Reduce every input into one table and send it on; return the exit status."""
    counts = collections.Counter()
    read_concurrently(open_inputs(), counts)
    outputs = list_channels('out')
    if len(outputs) > 1:
        raise BadRecord('expected at most one /dev/out channel, found %d: %s'
                        % (len(outputs), ', '.join(outputs)))
    table = format_table(counts)
    if outputs:
        path = os.path.join(dev_path('out'), outputs[0])
        with open(os.open(path, os.O_WRONLY), 'wb') as channel:
            channel.write(table)
    else:
        sys.stdout.buffer.write(table)
        sys.stdout.buffer.flush()
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except (OSError, BadRecord) as exc:
        sys.stderr.write('%s: %s\n' % (instance_name(), exc))
        sys.exit(1)
