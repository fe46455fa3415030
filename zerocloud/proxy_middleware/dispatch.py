"""Running a session on one object server (object rings, bufferedhttp).

A session's candidates are the primary nodes of its object in ring order, then handoffs
(:class:`Target`); which one is tried when is :mod:`.schedule`'s business, one try on one
node is :func:`attempt`'s.  A request that streams an object (the executable, an image or
an input the server does not cache) or is larger than :data:`SMALL_BODY_BYTES` asks
``Expect: 100-continue``, so a server that is full (503 marked busy by its admission
control: try later), lacks the object (404) or its disk (507), or answers another 503,
refuses before any byte of the body is sent; a small one (the description and a few
payload bytes: the usual job once its executable is cached) is sent at once, saving that
round trip (a refusing server reads and drops it).  The next candidate is tried for all
but "busy".  Network failures move on too; any other refusal
(400, 413...) is the answer.  A session whose program never started because of its server
(the report's ``retry``, e.g. its sandbox supervisor was lost) is offered to the next node
too.  When no node runs it, the error names every server tried and why (:class:`Tried`).

The body streams (:class:`RequestBody`): the session description, then the executable, the
user image (a POSTed zapp's spool, or an image object) and remote inputs straight from their
GET (left out when the node caches their ETag; a 409
"need" answer gets them), then payloads.  The answer is read frame by frame into spool files
(:func:`~.results.read_result`): ``wait`` heartbeats keep an idle timer from expiring while the
program runs; once a server has started answering 200 the session is never run again
elsewhere.  Every connection and every GET is closed on every path (an ``ExitStack``), also
when the job cancels this session by killing its green thread.
"""
import contextlib
import dataclasses
import http.client
import itertools
import random
from typing import NamedTuple, Optional

from swift.common import swob
from swift.common.bufferedhttp import http_connect
from swift.common.ring import Ring
from swift.common.storage_policy import POLICIES

from zerocloud import green, wire, wire_decode
from zerocloud.proxy_middleware.results import SessionResult, read_result
from zerocloud.proxy_middleware.schedule import BUSY, NEXT
from zerocloud.proxy_middleware.sources import SourceChanged
from zerocloud.proxy_middleware.spool import OutputTooLarge, SpoolFailed
from zerocloud import report as rpt

RETRY_STATUSES = (404, 503, 507)
MAX_ERROR_BODY = 65536
IDLE_SECONDS = 10.0          # longest silence from a running session (heartbeats: 0.5 s)
SMALL_BODY_BYTES = 65536     # a body no larger, streaming no object, is sent without Expect


class NodeTimeouts(NamedTuple):
    """Seconds to connect, and for the whole exchange with one node."""
    connect_seconds: float
    total_seconds: float


class Refusal(NamedTuple):
    """A server's answer other than 200: its status and message; ``busy`` when its
    admission control says it is full (marked with :data:`zerocloud.wire.BUSY_HEADER`)."""
    status: int
    message: bytes
    busy: bool
    final: bool = False


class NodeUnavailable(Exception):
    """The node could not be reached or stopped answering before the session started."""


class _Expired(Exception):
    """An exchange with a node took longer than its deadline."""


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


class SentEtags:
    """The (node, ETag) pairs known to hold an executable or input (bounded, per process)."""

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


@dataclasses.dataclass(frozen=True)
class Target:
    """Where a session may run: its path (``/account[/container/object]``, native string),
    storage policy, ring partition and candidate nodes in order."""
    path: str
    policy_index: int
    partition: int
    nodes: tuple


@dataclasses.dataclass(frozen=True)
class Parts:
    """What a session's body carries beside its description: the executable and remote
    inputs (:class:`~.sources.ObjectSource`, by device name) and payloads (bytes, or a
    :class:`~.payload.SpooledPayload`); ``image`` the user image (a source with ``etag``
    and ``open()``: :class:`~.zapps.SpooledImage` or :class:`~.sources.ObjectSource`).

    ``local`` holds a source for each co-located device, sent only if the server answers
    that its file is not the object's bytes (``Need: object``)."""
    executable: Optional[object]
    remote: dict
    payloads: dict
    local: dict = dataclasses.field(default_factory=dict)
    image: Optional[object] = None

    @property
    def etags(self):
        objects = list(self.remote.values()) + [part for part in (self.executable, self.image)
                                                if part is not None]
        return [obj.etag for obj in objects if obj.etag]


def node_key(node):
    return '%s:%s/%s' % (node['ip'], node['port'], node['device'])


class RequestBody:
    """The frames of one request body; sources whose ETag ``known`` are left out.

    Entering opens the GETs of the parts to send (so their lengths are known: the body has a
    Content-Length); :meth:`send` streams everything; the GETs close with the context.
    """

    def __init__(self, session, parts, known):
        self.session = session
        self.parts = parts
        self.known = known
        self.length = 0
        self.streams = False    # True once an object's GET is part of the body
        self._frames = []
        self._stack = contextlib.ExitStack()

    def __enter__(self):
        self._add(wire.SESSION, [self.session.to_json()])
        exe = self.parts.executable
        if exe is not None and not self.known(exe.etag):
            self._add_stream(wire.EXECUTABLE, exe)
        image = self.parts.image
        if image is not None and not self.known(image.etag):
            self._add_stream(wire.IMAGE, image)
        for device, source in sorted(self.parts.remote.items()):
            if not self.known(source.etag):
                self._add_stream(wire.INPUT_PREFIX + device, source)
        for device, payload in sorted(self.parts.payloads.items()):
            if hasattr(payload, 'open'):   # a spooled request body (.payload)
                self._add_stream(wire.INPUT_PREFIX + device, payload)
            else:
                self._add(wire.INPUT_PREFIX + device, [payload])
        self._add(wire.END, [b''])
        return self

    def __exit__(self, *exc_info):
        self._stack.close()

    @property
    def small(self):
        """No object streamed, at most :data:`SMALL_BODY_BYTES`: sent without Expect."""
        return not self.streams and self.length <= SMALL_BODY_BYTES

    def _add_stream(self, name, source):
        self.streams = True
        length, chunks = self._stack.enter_context(source.open())
        self._add(name, chunks, length)

    def _add(self, name, chunks, length=None):
        if length is None:
            chunks = [bytes(chunk) for chunk in chunks]
            length = sum(len(chunk) for chunk in chunks)
        header = wire.frame_header(name, length)
        self._frames.append((header, chunks))
        self.length += len(header) + length

    def send(self, conn):
        """Stream every frame to ``conn``.

        :raises SourceChanged: when an object's GET delivers other than its length.
        """
        for header, chunks in self._frames:
            conn.send(header)
            for chunk in chunks:
                if chunk:
                    conn.send(chunk)


class Tried:
    """What the servers that did not run a session said, for the error when none is left:
    404 naming the object when every one answered 404, else 503 naming each and why."""

    def __init__(self, instance, target):
        self.instance = instance
        self.target = target
        self.lines = []
        self.statuses = []

    def note(self, key, text, status=None):
        self.lines.append('%s: %s' % (key, text) if status is None else text)
        self.statuses.append(status)

    def error(self):
        if self.statuses and all(status == 404 for status in self.statuses):
            return swob.HTTPNotFound(body='Error 404 Not Found while fetching %s\n'
                                     % self.target.path, content_type='text/plain')
        return swob.HTTPServiceUnavailable(
            body='no object server could run %s (%s)\n'
                 % (self.instance.name, '; '.join(self.lines) or 'no object server available'),
            content_type='text/plain')


def attempt(node, instance, target, session, parts, sent, timeouts, spools, logger, tried):
    """Try to run one session on ``node`` (one server of its :class:`Target`).

    :returns: its :class:`~.results.SessionResult` when it ran (a failed program is a
        result too); :data:`~.schedule.BUSY` when the server's admission control said it is
        full (try later); :data:`~.schedule.NEXT` when this server cannot run it (no object
        or disk, 503 not from admission, unreachable, program not started), noted in
        ``tried``.
    :raises HTTPException: a refusal that is the answer (400, 413...).
    """
    key = node_key(node)
    try:
        outcome = _on_node(instance, node, target, session, parts,
                           lambda etag: sent.known(key, etag), timeouts, spools)
    except NodeUnavailable as err:
        logger.warning('zerocloud: %s unavailable for %s: %s', key, instance.name, err)
        tried.note(key, str(err))
        return NEXT
    if isinstance(outcome, SessionResult):
        if outcome.retry:
            tried.note(key, outcome.report.status_text)
            return NEXT
        for etag in parts.etags:
            sent.remember(key, etag)
        return outcome
    if outcome.busy:
        return BUSY
    if outcome.status not in RETRY_STATUSES or outcome.final:
        raise swob.HTTPException(status=outcome.status, body=outcome.message,
                                 content_type='text/plain')
    tried.note(key, '%s answered %s %s' % (key, outcome.status, _first_line(outcome.message)),
               outcome.status)
    return NEXT


def _first_line(message):
    text = message.decode('utf-8', 'replace') if isinstance(message, bytes) else message
    return (text.strip().split('\n') or [''])[0][:200]


def _on_node(instance, node, target, session, parts, known, timeouts, spools, asked=()):
    """One exchange with one node: a :class:`SessionResult` (it ran), or a
    :class:`Refusal`.

    A 409 "need" answer is met once per kind (``asked``): ``executable``/``inputs`` sends
    everything, ``object`` sends the co-located object's bytes from its GET
    (:func:`stream_local`).

    :raises NodeUnavailable: when the node could not be reached or stopped answering before
        the session started (another node may run it).
    """
    with contextlib.ExitStack() as stack:
        try:
            with green.Timeout(timeouts.total_seconds, _Expired('no answer in %.0f s'
                                                                % timeouts.total_seconds)):
                body = stack.enter_context(RequestBody(session, parts, known))
                conn = _connect(node, target, session, body, timeouts)
                stack.callback(conn.close)
                response = _send(conn, body)
                stack.callback(response.close)
                need = response.getheader(wire.NEED_HEADER) if response.status == 409 else None
                if need and need not in asked and (need != wire.NEED_OBJECT or parts.local):
                    response.read(MAX_ERROR_BODY)
                    stack.close()
                    if need == wire.NEED_OBJECT:
                        session, parts = stream_local(session, parts)
                    else:
                        known = _nothing_known
                    return _on_node(instance, node, target, session, parts, known,
                                    timeouts, spools, asked + (need,))
                if response.status != 200:
                    busy = response.status == 503 and bool(response.getheader(wire.BUSY_HEADER))
                    return Refusal(response.status, response.read(MAX_ERROR_BODY), busy,
                                   bool(response.getheader(wire.FINAL_HEADER)))
        except (OSError, http.client.HTTPException, _Expired) as err:
            raise NodeUnavailable(str(err) or type(err).__name__)
        except SourceChanged as err:
            raise swob.HTTPServiceUnavailable(body='%s (changed while it was sent)\n' % err,
                                              content_type='text/plain')
        return _read_answer(instance, node_key(node), response, timeouts, spools)


def _nothing_known(etag):
    return False


def stream_local(session, parts):
    """The session and parts with its co-located device(s) sent as remote ones: the bytes
    come from the object's GET through the proxy (large objects assembled, encrypted ones
    decrypted, erasure-coded ones decoded), without ETag (never cached)."""
    devices = tuple(dataclasses.replace(device, source=wire.REMOTE, etag='')
                    if device.source == wire.LOCAL else device for device in session.devices)
    remote = dict(parts.remote)
    remote.update(parts.local)
    return (dataclasses.replace(session, devices=devices),
            dataclasses.replace(parts, remote=remote, local={}))


def _send(conn, body):
    """Send ``body`` (after ``100 Continue`` unless it is small); the server's answer."""
    if body.small:
        body.send(conn)
        return conn.getresponse()
    response = conn.getexpect()
    if response.status == 100:
        body.send(conn)
        response = conn.getresponse()
    return response


def _connect(node, target, session, body, timeouts):
    headers = {wire.VERSION_HEADER: wire.WIRE_VERSION,
               'X-Backend-Storage-Policy-Index': str(target.policy_index),
               'Content-Length': str(body.length)}
    if not body.small:
        headers['Expect'] = '100-continue'

    if session.mesh is not None:
        headers[wire.CONNECTED_HEADER] = '1'
    with green.Timeout(timeouts.connect_seconds, _Expired('no connection in %.1f s'
                                                          % timeouts.connect_seconds)):
        return http_connect(node['ip'], node['port'], node['device'], target.partition,
                            wire.EXECUTE_METHOD, target.path, headers=headers)


def _read_answer(instance, key, response, timeouts, spools):
    """Read a started session's 200 answer; a lost connection or a broken answer is a
    failed session (it may have run: never run it again elsewhere)."""
    silent = _Expired('%s silent for %.0f s' % (key, IDLE_SECONDS))

    def read(count):
        with green.Timeout(IDLE_SECONDS, silent):
            return response.read(count)

    def readline(limit):
        with green.Timeout(IDLE_SECONDS, silent):
            return response.readline(limit)
    try:
        with green.Timeout(timeouts.total_seconds, _Expired(
                'session not ended after %.0f s' % timeouts.total_seconds)):
            frames = wire_decode.FrameReader(read, 1 << 62, readline=readline)
            return read_result(instance, key, frames, spools)
    except OutputTooLarge as err:
        return SessionResult.failure(instance, key, str(err), rpt.STATUS_OUTPUT_LIMIT)
    except SpoolFailed as err:
        return SessionResult.failure(instance, key, str(err))
    except wire.WireError as err:
        return SessionResult.failure(instance, key, 'bad answer from %s: %s' % (key, err))
    except (OSError, http.client.HTTPException, _Expired) as err:
        return SessionResult.failure(instance, key, 'lost %s while the session ran: %s'
                                     % (key, str(err) or type(err).__name__))
