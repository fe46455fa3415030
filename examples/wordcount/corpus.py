"""Generate a deterministic sample text corpus for the word-count examples.

Every object is English-looking text made of pseudo-words drawn with a Zipf-like law
(weight of the word of rank r is 1/r**1.1) from a vocabulary built from syllables by a seeded
random generator, so the same arguments always give the same bytes on any machine (CPython's
``random.Random`` with a string seed is stable).  The vocabulary also holds what exercises the
tokeniser: Capitalised and UPPER-case forms, words with inner apostrophes (``o'neil``),
'quoted' words, numbers and non-ASCII UTF-8 words (``café``); separators mix spaces, commas,
full stops and line breaks.

    python3 corpus.py DIR [--objects 8] [--size 1M] [--seed 0] [--vocabulary 20000]

writes ``DIR/part-0001.txt`` ... .  From Python: ``write_corpus(directory, objects,
size_bytes, seed=0, vocabulary_size=20000) -> [paths]`` and ``generate_text(size_bytes,
index, seed=0, vocabulary_size=20000) -> bytes``.
"""
import argparse
import itertools
import os
import random
import sys

SYLLABLES = ('ba be bi bo bu ka ke ki ko ku la le li lo lu ma me mi mo mu na ne ni no nu '
             'ra re ri ro ru sa se si so su ta te ti to tu an en in on er ar or th st ch '
             'sh qu ex al el il ol').split()
SEPARATORS = (' ', ', ', '. ', '\n', ' - ', '; ', '! ', '? ', ' (', ') ', ' "', '" ')
SEPARATOR_WEIGHTS = (70, 8, 6, 8, 1, 1, 1, 1, 1, 1, 1, 1)
ZIPF_EXPONENT = 1.1
BATCH_WORDS = 65536


def _base_word(rng):
    """One lower-case pseudo-word of 1 to 4 syllables."""
    return ''.join(rng.choice(SYLLABLES) for _ in range(rng.choice((1, 2, 2, 3, 3, 4))))


def _surface_form(rng, word):
    """The word as it appears in text: mostly plain, sometimes decorated."""
    roll = rng.random()
    if roll < 0.06:
        return word.capitalize()
    if roll < 0.08:
        return word.upper()
    if roll < 0.10:
        return word[:1] + "'" + word[1:]
    if roll < 0.12:
        return "'" + word + "'"
    if roll < 0.13:
        return word + 'é'
    if roll < 0.14:
        return str(rng.randrange(100000))
    return word


def vocabulary(size, seed=0):
    """``size`` distinct surface forms, most frequent first (deterministic for ``seed``)."""
    rng = random.Random('vocabulary:%s' % seed)
    words, seen = [], set()
    while len(words) < size:
        form = _surface_form(rng, _base_word(rng))
        if form not in seen:
            seen.add(form)
            words.append(form)
    return words


def zipf_weights(count):
    """Cumulative Zipf weights of ranks 1..``count`` (for ``random.choices``)."""
    return list(itertools.accumulate(1.0 / rank ** ZIPF_EXPONENT
                                     for rank in range(1, count + 1)))


def generate_text(size_bytes, index, seed=0, vocabulary_size=20000, words=None,
                  cum_weights=None):
    """About ``size_bytes`` bytes of UTF-8 text for object number ``index`` (deterministic;
    ``words`` and their ``cum_weights`` are made once by a caller writing many objects)."""
    words = words or vocabulary(vocabulary_size, seed)
    cum_weights = cum_weights or zipf_weights(len(words))
    rng = random.Random('object:%s:%d' % (seed, index))
    batch = min(BATCH_WORDS, max(16, size_bytes // 4))   # small objects: small batches
    chunks, total = [], 0
    while total < size_bytes:
        picked = rng.choices(words, cum_weights=cum_weights, k=batch)
        seps = rng.choices(SEPARATORS, weights=SEPARATOR_WEIGHTS, k=batch)
        chunk = ''.join(map(str.__add__, picked, seps)).encode('utf-8')
        chunks.append(chunk)
        total += len(chunk)
    text = b''.join(chunks)
    cut = text.rfind(b' ', 0, size_bytes)  # end between words, close to the asked size
    return text[:cut + 1] if cut > 0 else text[:size_bytes]


def write_corpus(directory, objects, size_bytes, seed=0, vocabulary_size=20000):
    """Write ``objects`` files ``part-NNNN.txt`` into ``directory``; return their paths."""
    os.makedirs(directory, exist_ok=True)
    words = vocabulary(vocabulary_size, seed)
    cum_weights = zipf_weights(len(words))
    paths = []
    for index in range(1, objects + 1):
        path = os.path.join(directory, 'part-%04d.txt' % index)
        with open(path, 'wb') as f:
            f.write(generate_text(size_bytes, index, seed, words=words,
                                  cum_weights=cum_weights))
        paths.append(path)
    return paths


def parse_size(text):
    """``'16M'`` -> 16777216; accepts a plain number of bytes or a K/M/G suffix."""
    units = {'K': 1 << 10, 'M': 1 << 20, 'G': 1 << 30}
    number, unit = (text[:-1], units[text[-1].upper()]) if text[-1:].upper() in units \
        else (text, 1)
    if not number.isdigit() or int(number) == 0:
        raise argparse.ArgumentTypeError('size must be a positive number of bytes with an '
                                         'optional K/M/G suffix, got %r' % text)
    return int(number) * unit


def positive_int(text):
    """argparse type: a positive integer."""
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError('expected a positive integer, got %r' % text)
    return int(text)


def main(argv=None):
    """Command line: write the corpus and print the paths."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('directory', help='where to write part-NNNN.txt files')
    parser.add_argument('--objects', type=positive_int, default=8, help='how many (8)')
    parser.add_argument('--size', type=parse_size, default=1 << 20,
                        help='approximate bytes per object, K/M/G suffix allowed (1M)')
    parser.add_argument('--seed', type=int, default=0, help='random seed (0)')
    parser.add_argument('--vocabulary', type=positive_int, default=20000,
                        help='distinct surface forms (20000)')
    args = parser.parse_args(argv)
    for path in write_corpus(args.directory, args.objects, args.size, args.seed,
                             args.vocabulary):
        print(path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
