"""The cluster's helper processes as pure logic: memcache commands and syslog parsing."""
from zerocloud.aio import logs, memcache


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_memcache_set_get_expire_and_incr():
    clock = Clock()
    store = memcache.Store(clock)
    assert memcache.execute(store, ['set', 'k', '5', '10', '3'], b'abc') == b'STORED'
    assert memcache.execute(store, ['get', 'k', 'missing']) == b'VALUE k 5 3\r\nabc\r\nEND'
    assert memcache.execute(store, ['add', 'k', '0', '0', '1'], b'x') == b'NOT_STORED'
    clock.now += 11
    assert memcache.execute(store, ['get', 'k']) == b'END'
    memcache.execute(store, ['set', 'n', '0', '0', '1'], b'7')
    assert memcache.execute(store, ['incr', 'n', '5']) == b'12'
    assert memcache.execute(store, ['decr', 'n', '20']) == b'0'
    assert memcache.execute(store, ['incr', 'absent', '1']) == b'NOT_FOUND'
    assert memcache.execute(store, ['delete', 'n']) == b'DELETED'
    assert memcache.execute(store, ['bogus']) == b'ERROR'


def test_memcache_touch_extends_life():
    clock = Clock()
    store = memcache.Store(clock)
    memcache.execute(store, ['set', 'k', '0', '5', '1'], b'v')
    assert memcache.execute(store, ['touch', 'k', '100']) == b'TOUCHED'
    clock.now += 50
    assert memcache.execute(store, ['get', 'k']).startswith(b'VALUE k')


def test_syslog_datagram_names_the_server_file():
    assert logs.parse_datagram(b'<134>object-server-2: PUT /d2/1/a/c/o 201\x00') == (
        'object-server-2', 'PUT /d2/1/a/c/o 201')
    assert logs.parse_datagram(b'<134>no tag here') == ('other', 'no tag here')
    assert logs.parse_datagram(b'<134>../evil: x')[0] == '.._evil'
