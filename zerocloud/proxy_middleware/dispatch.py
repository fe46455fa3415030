"""Placing a session on an object server (object rings) and sending it there (bufferedhttp).

A session goes to the primary nodes of its object in ring order, then to handoffs; a node that
answers 404, 503 or 507, or cannot be reached, is skipped.  The proxy remembers which (node,
ETag) pairs it sent an executable or a remote input to, and leaves those out next time; a node
that answers 409 with ``X-Backend-Zerocloud-Need`` (it lost its cache) gets the request again
with everything.
"""
import itertools
import random
from typing import NamedTuple

from swift.common import swob
from swift.common.bufferedhttp import http_connect
from swift.common.exceptions import ConnectionTimeout
from swift.common.ring import Ring
from swift.common.storage_policy import POLICIES
from swift.common.utils import Timeout

from zerocloud import wire

RETRY_STATUSES = (404, 503, 507)
RESPONSE_MARGIN_BYTES = 1 << 20
READ_CHUNK_BYTES = 65536


class Limits(NamedTuple):
    """Seconds to connect, seconds for the whole exchange, largest response body."""
    conn_timeout: float
    node_timeout: float
    max_response_bytes: int


class ResponseTooLarge(Exception):
    """An object server answered with more bytes than the session may produce."""


class Rings:
    """Object rings by policy index, loaded on first use (one per proxy process)."""

    def __init__(self, swift_dir):
        self.swift_dir = swift_dir
        self._rings = {}

    def get(self, policy_index):
        if policy_index not in self._rings:
            policy = POLICIES.get_by_index(policy_index)
            if policy is None:
                raise swob.HTTPServiceUnavailable(body='unknown storage policy %s\n'
                                                       % policy_index)
            self._rings[policy_index] = Ring(self.swift_dir, ring_name=policy.ring_name)
        return self._rings[policy_index]

    def candidates(self, policy_index, account, container=None, obj=None):
        """``(partition, nodes iterator)`` for an object, or any nodes for account-only."""
        ring = self.get(policy_index)
        if obj is None:
            devices = [dev for dev in ring.devs if dev]
            random.shuffle(devices)
            return 0, iter(devices)
        partition, primaries = ring.get_nodes(account, container, obj)
        handoffs = itertools.islice(ring.get_more_nodes(partition), len(primaries))
        return partition, itertools.chain(primaries, handoffs)


class SentExecutables:
    """The (node, ETag) pairs that already hold an executable (bounded, per process)."""

    def __init__(self, max_entries=4096):
        self.max_entries = max_entries
        self._known = {}

    def known(self, node, etag):
        return bool(etag) and (node, etag) in self._known

    def remember(self, node, etag):
        if etag:
            if len(self._known) >= self.max_entries:
                self._known.pop(next(iter(self._known)))
            self._known[(node, etag)] = True


def node_key(node):
    return '%s:%s/%s' % (node['ip'], node['port'], node['device'])


def send_session(node, partition, path, policy_index, body, etag, limits, connected=False):
    """One backend ``EXECUTE``; returns ``(status, headers dict, body bytes)``.

    :raises IOError: (or ``Timeout``) when the node cannot be reached or stops answering.
    :raises ResponseTooLarge: when the answer exceeds ``limits.max_response_bytes``.
    """
    headers = {wire.VERSION_HEADER: wire.WIRE_VERSION, wire.EXECUTABLE_ETAG_HEADER: etag or '',
               'X-Backend-Storage-Policy-Index': str(policy_index),
               'Content-Length': str(len(body))}
    if connected:
        headers[wire.CONNECTED_HEADER] = '1'
    with ConnectionTimeout(limits.conn_timeout):
        conn = http_connect(node['ip'], node['port'], node['device'], partition,
                            wire.EXECUTE_METHOD, path, headers=headers)
    with Timeout(limits.node_timeout):
        conn.send(body)
        response = conn.getresponse()
        payload = _read_bounded(response, limits.max_response_bytes, node)
    return response.status, {k.lower(): v for k, v in response.getheaders()}, payload


def _read_bounded(response, max_bytes, node):
    """The whole response body, in 64 KiB reads, refusing more than ``max_bytes``."""
    pieces, total = [], 0
    while True:
        piece = response.read(READ_CHUNK_BYTES)
        if not piece:
            return b''.join(pieces)
        total += len(piece)
        if total > max_bytes:
            response.close()
            raise ResponseTooLarge('%s answered more than %d bytes' % (node_key(node), max_bytes))
        pieces.append(piece)


def dispatch(candidates, swift_path, policy_index, blobs, session, sent, limits, logger):
    """Run one session on the first node that takes it.

    :param candidates: ``(partition, nodes iterator)`` from :meth:`Rings.candidates`.
    :param swift_path: ``/account[/container/object]`` (not quoted) the session runs at.
    :param blobs: the session's executable, inputs and payloads
        (:class:`~zerocloud.proxy_middleware.execution.Blobs`): objects whose ETag the
        node already holds are left out; a 409 "need" answer gets everything.
    :returns: ``(node key, response body)`` of the node that ran it.
    :raises HTTPException: 404 naming the object when every node answered 404, another
        node's refusal (4xx passes through), 503 when no node could run it.
    """
    partition, nodes = candidates
    connected = bool(session.get('mesh'))
    path = swob.wsgi_quote(swob.str_to_wsgi(swift_path))
    last_error, statuses = 'no object server available', []
    for node in nodes:
        key = node_key(node)
        exe_etag = blobs.executable.etag if blobs.executable else ''
        try:
            status, headers, payload = send_session(
                node, partition, path, policy_index,
                blobs.body(session, lambda etag: sent.known(key, etag)), exe_etag, limits,
                connected)
            if status == 409 and headers.get(wire.NEED_HEADER.lower()):
                status, headers, payload = send_session(
                    node, partition, path, policy_index,
                    blobs.body(session, lambda etag: False), exe_etag, limits,
                    connected)
        except ResponseTooLarge as err:  # the session ran: never run it again elsewhere
            raise swob.HTTPInternalServerError(body='%s\n' % err, content_type='text/plain')
        except (Exception, Timeout) as err:
            statuses.append(None)
            logger.warning('zerocloud: %s unreachable for %s: %s', key, path, err)
            last_error = '%s: %s' % (key, err)
            continue
        if status == 200:
            for etag in blobs.etags:
                sent.remember(key, etag)
            return key, payload
        statuses.append(status)
        if status in RETRY_STATUSES:
            last_error = '%s answered %s' % (key, status)
            continue
        raise swob.HTTPException(status=status, body=payload, content_type='text/plain')
    if statuses and all(status == 404 for status in statuses):
        raise swob.HTTPNotFound(body='Error 404 Not Found while fetching %s\n' % swift_path,
                                content_type='text/plain')
    raise swob.HTTPServiceUnavailable(body='no object server could run the session %s (%s)\n'
                                           % (path, last_error), content_type='text/plain')
