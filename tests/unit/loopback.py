"""WSGI apps served by real eventlet servers on loopback ports, for unit tests that cross
HTTP (proxy filter -> object filter, object server -> object server)."""
import eventlet
import eventlet.wsgi


class _Silent:
    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def serve(app, sock=None):
    """Serve ``app`` on ``sock`` (default: a new loopback listener); ``(node, server
    thread)``, ``node`` as a ring names it (``ip``, ``port``, ``device``)."""
    sock = sock or eventlet.listen(('127.0.0.1', 0))
    thread = eventlet.spawn(eventlet.wsgi.server, sock, app, log=_Silent(), log_output=False)
    return {'ip': '127.0.0.1', 'port': sock.getsockname()[1], 'device': 'sdb1'}, thread
