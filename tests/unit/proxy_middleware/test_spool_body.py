"""The response body streamed from spools closes them however the pipeline ends it."""
from swift.common.utils import close_if_possible, reiterate

from zerocloud.proxy_middleware.http_output import OutputPart
from zerocloud.proxy_middleware.results import SpoolBody
from zerocloud.proxy_middleware.spool import Spools


def body_of(*texts):
    spools = Spools(1 << 20)
    parts = []
    for number, text in enumerate(texts):
        spool = spools.new('out%d' % number)
        spool.write(text)
        parts.append(OutputPart.of(spool, 'text/plain'))
    files = [part.spool._file for part in parts]
    return SpoolBody(parts, spools), files


def test_swift_reiterate_then_close_closes_the_spools():
    """Swift's reiterate() keeps iter(app_iter) and closes that: it must be the body."""
    body, files = body_of(b'one', b'two')
    chained = reiterate(body)
    assert next(iter(chained)) == b'one'
    close_if_possible(chained)
    assert all(handle.closed for handle in files)


def test_reading_to_the_end_closes_the_spools():
    body, files = body_of(b'abc', b'')
    assert b''.join(iter(body)) == b'abc'
    assert all(handle.closed for handle in files)


def test_closed_before_it_is_read_closes_the_spools():
    body, files = body_of(b'abc')
    body.close()
    body.close()
    assert all(handle.closed for handle in files)
