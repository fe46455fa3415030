"""A small fake Swift application for middleware unit tests.

It records every request that reaches it (method, path, headers, body) and answers from a
table of registered responses, so tests can assert both what the client got and what went
downstream.
"""
from swift.common import swob


class FakeSwift:
    """A WSGI app: ``register(method, path, status, headers, body)``; ``calls`` records."""

    def __init__(self):
        self.responses = {}
        self.handlers = {}
        self.calls = []

    def handle(self, method, path, handler):
        """Answer (method, path) with ``handler(req) -> (status, headers, body)``."""
        self.handlers[(method, path)] = handler

    def register(self, method, path, status=200, headers=None, body=b''):
        self.responses[(method, path)] = (status, headers or {}, body)

    def __call__(self, env, start_response):
        req = swob.Request(env)
        body = env['wsgi.input'].read() if env.get('wsgi.input') else b''
        self.calls.append(Call(req.method, req.path, dict(req.headers), body, env))
        handler = self.handlers.get((req.method, req.path))
        if handler is not None:
            status, headers, payload = handler(req)
        else:
            status, headers, payload = self.responses.get(
                (req.method, req.path), (404, {}, b'fake swift: not registered\n'))
        return swob.Response(status=status, headers=headers, body=payload)(env, start_response)


class Call:
    """One request as the fake Swift saw it."""

    def __init__(self, method, path, headers, body, env):
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.env = env


class FakeAuth:
    """A ``swift.authorize`` stand-in: allows the (method, path) pairs in ``allowed``
    (a path ending in ``*`` allows every path with that prefix)."""

    def __init__(self, allowed=()):
        self.allowed = set(allowed)
        self.asked = []

    def __call__(self, req):
        self.asked.append((req.method, req.path))
        for method, path in self.allowed:
            if method == req.method and (path == req.path or (
                    path.endswith('*') and req.path.startswith(path[:-1]))):
                return None
        return swob.HTTPForbidden(request=req)


def call_app(app, req):
    """Run ``req`` through ``app``; return (status int, headers dict, body bytes)."""
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured['status'] = int(status.split()[0])
        captured['headers'] = dict(headers)
    iterator = app(req.environ, start_response)
    try:
        body = b''.join(iterator)
    finally:
        if hasattr(iterator, 'close'):
            iterator.close()
    return captured['status'], captured['headers'], body
