"""Sample inputs for the distributed sort, and its job pointed at your containers.

Every object is text records of about 100 bytes, ``<word> <number><TAB><colour><TAB><payload>``
drawn by a seeded random generator (the same arguments give the same bytes on any machine):
words and colours mix ASCII and non-ASCII UTF-8 (``Zürich``, ``東京``, ``ωmega``, an emoji),
numbers run from 0000 to 9999, payloads are one of 64 strings of 72 hex digits.

    python3 records.py DIR [--objects 4] [--mib 2] [--seed 0]

writes ``DIR/part-NNNN.txt``.  From Python: ``generate(size_bytes, index, seed=0) -> bytes``,
``write_objects(directory, objects, size_bytes, seed=0) -> [paths]`` and
``job(records='records', apps='apps', sorted_='sorted', every=None) -> list`` (``job.json``
with those containers, ``sort.py`` expected at ``<apps>/sort/sort.py``, and the mappers'
sampling interval replaced when ``every`` is given).
"""
import argparse
import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
WORDS = ('apple', 'Apple', 'banana', 'cherry', 'delta', 'echo', 'zebra', 'Zürich', 'zoo',
         'éclair', 'eclair', 'naïve', 'straße', 'strasse', 'mañana', 'ångström', 'ωmega',
         'Ωmega', '東京', '大阪', '😀smile', 'smile', 'a', 'ab')
COLOURS = ('red', 'green', 'blue', 'grün', 'rouge', 'синий', '黄色', 'white')
BATCH = 4096
PAYLOADS = 64


def generate(size_bytes, index, seed=0):
    """About ``size_bytes`` bytes of records for object number ``index``, whole lines."""
    rng = random.Random('sort:%s:%d' % (seed, index))
    payloads = ['%072x' % rng.getrandbits(288) for _ in range(PAYLOADS)]
    chunks, total = [], 0
    while total < size_bytes:
        words, colours = rng.choices(WORDS, k=BATCH), rng.choices(COLOURS, k=BATCH)
        numbers = (rng.randrange(10000) for _ in range(BATCH))
        chunk = ''.join('%s %04d\t%s\t%s\n' % record for record in zip(
            words, numbers, colours, rng.choices(payloads, k=BATCH))).encode()
        chunks.append(chunk)
        total += len(chunk)
    data = b''.join(chunks)
    return data[:data.index(b'\n', min(size_bytes, len(data)) - 1) + 1]


def write_objects(directory, objects, size_bytes, seed=0):
    """Write ``objects`` files ``part-NNNN.txt`` into ``directory``; return their paths."""
    os.makedirs(directory, exist_ok=True)
    paths = []
    for index in range(1, objects + 1):
        path = os.path.join(directory, 'part-%04d.txt' % index)
        with open(path, 'wb') as handle:
            handle.write(generate(size_bytes, index, seed))
        paths.append(path)
    return paths


def job(records='records', apps='apps', sorted_='sorted', every=None):
    """The example's ``job.json`` reading ``<records>/*`` and writing into ``<sorted_>/``."""
    with open(os.path.join(HERE, 'job.json')) as handle:
        text = handle.read()
    for default, mine in (('records', records), ('apps', apps), ('sorted', sorted_)):
        text = text.replace('swift://~/%s/' % default, 'swift://~/%s/' % mine)
    nodes = json.loads(text)
    if every is not None:
        nodes[0]['exec']['args'] = '/dev/script map %d' % every
    return nodes


def main(argv=None):
    """Command line: write the objects and print their paths."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('directory', help='where to write part-NNNN.txt')
    parser.add_argument('--objects', type=int, default=4, help='how many (4)')
    parser.add_argument('--mib', type=float, default=2, help='MiB per object (2)')
    parser.add_argument('--seed', type=int, default=0, help='random seed (0)')
    args = parser.parse_args(argv)
    for path in write_objects(args.directory, args.objects, int(args.mib * (1 << 20)),
                              args.seed):
        print(path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
