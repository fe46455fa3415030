"""A direct, obviously correct word count, the yardstick the map-reduce is checked against.

Same words as the samples: the ASCII-lower-cased text is cut into maximal runs of
``[a-z0-9']``, leading and trailing apostrophes are removed, empty runs are dropped.

    python3 reference.py [--top N] FILE...     prints the top words as ``word<TAB>count``

From Python: ``count_words(paths) -> Counter`` (bytes words), ``top_words(counts, n)``,
``format_pairs(pairs)`` and its inverse ``parse_table(data)``.
"""
import argparse
import collections
import re
import sys

RUN = re.compile(rb"[a-z0-9']+")


def count_words(paths):
    """Return a Counter ``{word (bytes): count}`` over every file in ``paths``."""
    counts = collections.Counter()
    for path in paths:
        with open(path, 'rb') as f:
            text = f.read().lower()
        words = (run.strip(b"'") for run in RUN.findall(text))
        counts.update(word for word in words if word)
    return counts


def top_words(counts, n):
    """The ``n`` most frequent ``(word, count)`` pairs: by decreasing count, then by word."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:n]


def format_pairs(pairs):
    """Encode ``(word, count)`` pairs as ``word<TAB>count<LF>`` lines (bytes)."""
    return b''.join(b'%s\t%d\n' % pair for pair in pairs)


def parse_table(data):
    """Decode ``word<TAB>count<LF>`` lines (bytes) into ``{word (bytes): count}``."""
    table = {}
    for line in data.splitlines():
        word, _tab, count = line.partition(b'\t')
        table[word] = int(count)
    return table


def main(argv=None):
    """Command line: print the top words of the given files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--top', type=int, default=10, help='how many words (default 10)')
    parser.add_argument('files', nargs='+', help='text files to count')
    args = parser.parse_args(argv)
    try:
        counts = count_words(args.files)
    except OSError as exc:
        parser.exit(1, 'reference.py: %s\n' % exc)
    sys.stdout.buffer.write(format_pairs(top_words(counts, args.top)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
