"""Word-count mapper: count the words of one object and send each reducer its share.

Runs as one instance per stored object (``map-1``, ``map-2``, ... from a ``*`` path).

Input: ``/dev/input`` if the job gives one, otherwise standard input (the object).
Words: the text is lower-cased (ASCII only); a word is a maximal run of the bytes
``[a-z0-9']`` with its leading and trailing apostrophes removed (empty runs are dropped);
every other byte, including non-ASCII bytes, separates words.
Output: the entries of ``/dev/out`` sorted byte-wise are the partitions 0..R-1; word ``w``
goes to partition ``crc32(w) % R`` (zlib's CRC-32: stable across runs, machines and languages,
unlike Python's salted ``hash()``).  Each partition is written as lines ``word<TAB>count<LF>``
sorted byte-wise by word, then its channel is closed.  With no ``/dev/out`` channel the whole
table goes to standard output in the same format (handy for trying the mapper alone).

Outside the sandbox, ``ZEROCLOUD_DEV_ROOT=<dir>`` makes the program read ``<dir>/input`` and
``<dir>/out/*`` instead of ``/dev/...`` (see ``local.py --direct``).  The script is
self-contained (stdlib only) because it is uploaded and run as a single object.
"""
import collections
import os
import re
import sys
import zlib

CHUNK_BYTES = 1 << 20
WORD = re.compile(rb"[a-z0-9]+(?:'+[a-z0-9]+)*")
WORD_BYTES = b"abcdefghijklmnopqrstuvwxyz0123456789'"


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


def count_words(stream):
    """Return a Counter of the words (bytes) read from the binary ``stream``."""
    counts = collections.Counter()
    tail = b''
    while True:
        chunk = stream.read(CHUNK_BYTES)
        if not chunk:
            break
        text = tail + chunk.lower()
        cut = len(text.rstrip(WORD_BYTES))  # keep a word that may continue in the next chunk
        counts.update(WORD.findall(text, 0, cut))
        tail = text[cut:]
    counts.update(WORD.findall(tail))
    return counts


def partition(counts, partitions):
    """Split ``counts`` into ``partitions`` dicts by ``crc32(word) % partitions``."""
    parts = [{} for _ in range(partitions)]
    for word, count in counts.items():
        parts[zlib.crc32(word) % partitions][word] = count
    return parts


def format_table(counts):
    """Encode ``{word: count}`` as ``word<TAB>count<LF>`` lines sorted by word."""
    return b''.join(b'%s\t%d\n' % (word, counts[word]) for word in sorted(counts))


def open_input():
    """Open the object to count: ``/dev/input`` when present, else standard input."""
    path = dev_path('input')
    if os.path.exists(path):
        return open(path, 'rb')
    if os.environ.get('ZEROCLOUD_DEV_ROOT') and os.path.exists(dev_path('stdin')):
        return open(dev_path('stdin'), 'rb')
    return open(sys.stdin.fileno(), 'rb', closefd=False)


def write_channel(path, data):
    """Write ``data`` to the existing channel ``path`` and close it (EOF for the reader)."""
    with open(os.open(path, os.O_WRONLY), 'wb') as channel:
        channel.write(data)


def main():
    """Count, partition, send; return the exit status."""
    with open_input() as stream:
        counts = count_words(stream)
    reducers = list_channels('out')
    if not reducers:
        sys.stdout.buffer.write(format_table(counts))
        sys.stdout.buffer.flush()
        return 0
    parts = partition(counts, len(reducers))
    for name, part in zip(reducers, parts):
        write_channel(os.path.join(dev_path('out'), name), format_table(part))
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except OSError as exc:
        sys.stderr.write('%s: %s\n' % (instance_name(), exc))
        sys.exit(1)
