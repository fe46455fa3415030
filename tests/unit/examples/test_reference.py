"""reference.parse_table is the inverse of format_pairs (the demo and tests read tables with it)."""
from tests.unit.examples.wordcount_support import load_example


def test_parse_table_inverts_format_pairs():
    reference = load_example('reference')
    pairs = [(b"don't", 3), (b'\xc3\xa9t\xc3\xa9', 12), (b'a', 1)]
    assert reference.parse_table(reference.format_pairs(pairs)) == dict(pairs)
    assert reference.parse_table(b'') == {}
