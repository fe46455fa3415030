"""A minimal memcache server for the all-in-one cluster (tempauth keeps its tokens there).

Speaks the memcache text protocol commands Swift's ``MemcacheRing`` uses: ``get``/``gets``
(several keys), ``set``/``add``/``replace``, ``incr``/``decr``, ``delete``, ``touch``,
``flush_all``, ``version``, ``quit`` (``noreply`` honoured).  Data lives in one process's
memory; expiry follows memcache's rule (0 = never, up to 30 days = relative, else absolute).

Run: ``python -m zerocloud.aio.memcache PORT`` (listens on 127.0.0.1).
"""
import asyncio
import sys
import time

THIRTY_DAYS = 30 * 24 * 3600
STORE_COMMANDS = ('set', 'add', 'replace')


class Store:
    """Keys -> (flags, expires_at or 0, bytes)."""

    def __init__(self, clock=time.time):
        self.items = {}
        self.clock = clock

    def _deadline(self, exptime):
        exptime = int(exptime)
        if exptime == 0:
            return 0
        if exptime < 0:
            return -1
        return exptime if exptime > THIRTY_DAYS else self.clock() + exptime

    def get(self, key):
        item = self.items.get(key)
        if item and item[1] and item[1] <= self.clock():
            del self.items[key]
            return None
        return item

    def store(self, command, key, flags, exptime, data):
        exists = self.get(key) is not None
        if (command == 'add' and exists) or (command == 'replace' and not exists):
            return b'NOT_STORED'
        self.items[key] = (int(flags), self._deadline(exptime), data)
        return b'STORED'

    def incr(self, key, delta, sign):
        item = self.get(key)
        if item is None:
            return b'NOT_FOUND'
        try:
            value = max(0, int(item[2]) + sign * int(delta))
        except ValueError:
            return b'CLIENT_ERROR cannot increment or decrement non-numeric value'
        self.items[key] = (item[0], item[1], str(value).encode())
        return str(value).encode()

    def touch(self, key, exptime):
        item = self.get(key)
        if item is None:
            return b'NOT_FOUND'
        self.items[key] = (item[0], self._deadline(exptime), item[2])
        return b'TOUCHED'

    def delete(self, key):
        return b'DELETED' if self.items.pop(key, None) is not None else b'NOT_FOUND'


def execute(store, words, data=None):
    """Run one command (``words`` of its line, ``data`` of a storage command); -> reply bytes."""
    command = words[0]
    if command in ('get', 'gets'):
        out = []
        for key in words[1:]:
            item = store.get(key)
            if item is not None:
                out.append(b'VALUE %s %d %d\r\n%s' % (key.encode(), item[0], len(item[2]),
                                                       item[2]))
        return b'\r\n'.join(out + [b'END'])
    if command in STORE_COMMANDS:
        return store.store(command, words[1], words[2], words[3], data)
    if command in ('incr', 'decr'):
        return store.incr(words[1], words[2], 1 if command == 'incr' else -1)
    if command == 'delete':
        return store.delete(words[1])
    if command == 'touch':
        return store.touch(words[1], words[2])
    if command == 'flush_all':
        store.items.clear()
        return b'OK'
    if command == 'version':
        return b'VERSION zerocloud-aio-1'
    return b'ERROR'


async def serve_client(store, reader, writer):
    """Serve one connection until ``quit`` or EOF."""
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            words = line.decode('utf-8', 'replace').split()
            if not words or words[0] == 'quit':
                break
            data = None
            if words[0] in STORE_COMMANDS:
                data = (await reader.readexactly(int(words[4]) + 2))[:-2]
            try:
                reply = execute(store, words, data)
            except (IndexError, ValueError):
                reply = b'CLIENT_ERROR bad command line format'
            if words[-1] != 'noreply':
                writer.write(reply + b'\r\n')
                await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def serve(port):
    store = Store()
    server = await asyncio.start_server(
        lambda r, w: serve_client(store, r, w), '127.0.0.1', port)
    async with server:
        await server.serve_forever()


def main(argv=None):
    """``python -m zerocloud.aio.memcache PORT``."""
    argv = sys.argv[1:] if argv is None else argv
    asyncio.run(serve(int(argv[0])))


if __name__ == '__main__':
    main()
