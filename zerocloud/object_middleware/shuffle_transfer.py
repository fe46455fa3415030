"""Spools between object servers: one request per server for every spool a consumer needs.

Backend requests marked :data:`zerocloud.shuffle.FETCH_HEADER` (answered by :func:`serve`,
sent by :func:`fetch` and the proxy's clean-up):

``POST /shuffle/<token>``
    The body names spools of the job ``token``, one per line (at most :data:`MAX_NAMES`).
    ``200``: one :mod:`zerocloud.wire` frame per spool (``<name> <length>\\n<bytes>``), in
    the order asked, then ``end``; ``404`` naming the first spool not here (nothing sent);
    ``400`` for anything malformed.  A reducer of 10,000 mappers on 10 servers makes 10
    requests, not 10,000.
``DELETE /shuffle/<token>``
    Removes the job's spools here: ``204``.
"""
import os
import shutil

from swift.common import swob
from swift.common.bufferedhttp import http_connect_raw

from zerocloud import green, shuffle as shufflelib, wire, wire_decode

MAX_NAMES = 20000          # spools per request (65 bytes a name: 1.3 MB of request body)
CHUNK_BYTES = 1 << 16
CONNECT_SECONDS = 2.0      # to reach another server for its spools
READ_SECONDS = 30.0        # between two reads of its answer


class TransferError(Exception):
    """Spools could not be had from a server: the message says which and why."""


def serve(req, shuffle_dir):
    """Answer a spool request (see the module docstring)."""
    parts = req.path.strip('/').split('/')
    if len(parts) != 2 or parts[0] != shufflelib.SPOOL_DIR or not shufflelib.TOKEN.match(parts[1]):
        return swob.HTTPBadRequest(body='bad shuffle spool path\n')
    job_dir = os.path.join(shuffle_dir, parts[1])
    if req.method == 'DELETE':
        green.run_in_thread(shutil.rmtree, job_dir, True)
        return swob.HTTPNoContent()
    if req.method != 'POST':
        return swob.HTTPBadRequest(body='shuffle spools answer POST (the spools named in '
                                        'the body) and DELETE (the job\'s spools)\n')
    if req.content_length is None or req.content_length > MAX_NAMES * 65:
        return swob.HTTPRequestEntityTooLarge(body='name at most %d spools, one per line, '
                                                   'with a Content-Length\n' % MAX_NAMES)
    names = req.body.decode('ascii', 'replace').split()
    if len(names) > MAX_NAMES or not all(shufflelib.SPOOL_NAME.match(n) for n in names):
        return swob.HTTPBadRequest(body='the body names at most %d spools, one per line\n'
                                        % MAX_NAMES)
    missing = next((name for name in names
                    if not os.path.isfile(os.path.join(job_dir, name))), None)
    if missing is not None:
        return swob.HTTPNotFound(body='no spool %s here\n' % missing)
    return swob.Response(app_iter=_frames(job_dir, names),
                         content_type='application/octet-stream')


def _frames(job_dir, names):
    """The spools as frames; a spool gone meanwhile (its job ended) stops the body before
    its ``end``, which the reader sees as truncated."""
    for name in names:
        try:
            handle = open(os.path.join(job_dir, name), 'rb')
        except FileNotFoundError:
            return
        with handle:
            yield wire.frame_header(name, os.fstat(handle.fileno()).st_size)
            while True:
                chunk = handle.read(CHUNK_BYTES)
                if not chunk:
                    break
                yield chunk
    yield wire.encode_end()


def fetch(server, token, wanted, max_input_bytes):
    """Fetch the spools ``wanted`` (``{spool name: file path to write}``) from ``server``
    (``ip:port``) in one request; the bytes written.

    :raises TransferError: the server cannot be reached or answers anything but every
        spool whole, or a spool is larger than ``max_input_bytes``.
    """
    host, port = server.rsplit(':', 1)
    body = '\n'.join(wanted).encode('ascii')
    try:
        with green.Timeout(CONNECT_SECONDS):
            conn = http_connect_raw(host.strip('[]'), int(port), 'POST',
                                    shufflelib.job_path(token),
                                    headers={shufflelib.FETCH_HEADER: '1',
                                             'Content-Length': str(len(body))})
        with green.Timeout(READ_SECONDS):
            conn.send(body)
            response = conn.getresponse()
        try:
            if response.status != 200:
                raise TransferError('%s answered %d: %s' % (
                    server, response.status, response.read(200).decode('utf-8', 'replace')
                    .strip()))
            return _write_frames(response, wanted, max_input_bytes, server)
        finally:
            response.close()
    except (OSError, ValueError, wire.WireError, green.Timeout) as err:
        raise TransferError('spools from %s could not be fetched: %s'
                            % (server, err or type(err).__name__))


def _write_frames(response, wanted, max_input_bytes, server):
    def timed(read):
        def call(*args):
            with green.Timeout(READ_SECONDS):
                return read(*args)
        return call
    sizes, current, handle = {}, None, None
    try:
        # each spool is bounded below, and each comes once: no total bound needed here
        for name, chunk in wire_decode.FrameReader(timed(response.read), 1 << 62, CHUNK_BYTES,
                                                   readline=timed(response.readline)):
            if name != current:
                if name not in wanted or name in sizes:
                    raise TransferError('%s sent a spool not asked for (%s)' % (server, name))
                if handle is not None:
                    handle.close()
                handle, current, sizes[name] = open(wanted[name], 'wb'), name, 0
            sizes[name] += len(chunk)
            if sizes[name] > max_input_bytes:
                raise TransferError('a spool from %s has more than zerovm_maxinput (%d '
                                    'bytes)' % (server, max_input_bytes))
            handle.write(chunk)
    finally:
        if handle is not None:
            handle.close()
    if len(sizes) != len(wanted):
        raise TransferError('%s sent %d of %d spools' % (server, len(sizes), len(wanted)))
    return sum(sizes.values())
