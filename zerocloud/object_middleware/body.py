"""The body of one ``EXECUTE`` request, read as it arrives (frames of :mod:`zerocloud.wire`).

The ``session`` frame comes first and is decoded and validated as soon as it is complete
(:meth:`zerocloud.wire.Session.from_json`: an unknown or ill-typed field is a 400 naming it).
The ``executable``, ``image`` and ``in:<device>`` frames are spooled to files while they arrive, their
MD5 computed on the way and their size bounded, so no part is ever held whole in memory.
"""
import hashlib
import os
import tempfile

from swift.common import swob

from zerocloud import wire, wire_decode

SESSION_JSON_LIMIT = 4 * 1024 * 1024   # a reducer of ~300,000 spooled producers (zerocloud.shuffle)
CHUNK_BYTES = 65536


class Spool:
    """One part spooled to a named file in ``directory``, removed when closed (the sandbox
    cannot bind an unlinked file's descriptor).

    :param limit: the most bytes accepted (None: no limit); ``what`` names the part and its
        limit in the 413 answer.
    """

    def __init__(self, directory, limit=None, what='part'):
        fd, self.name = tempfile.mkstemp(dir=directory, prefix='channel-')
        self.file = os.fdopen(fd, 'w+b')
        self.limit = limit
        self.what = what
        self.size = 0
        self._md5 = hashlib.md5(usedforsecurity=False)

    @property
    def md5(self):
        """The hex MD5 of what was written through :meth:`write`."""
        return self._md5.hexdigest()

    def fileno(self):
        return self.file.fileno()

    def write(self, chunk):
        """Append ``chunk``.

        :raises HTTPRequestEntityTooLarge: past the limit (naming the part and the limit).
        """
        self.size += len(chunk)
        if self.limit is not None and self.size > self.limit:
            raise swob.HTTPRequestEntityTooLarge(
                body='%s larger than %d bytes\n' % (self.what, self.limit))
        self.file.write(chunk)
        self._md5.update(chunk)

    def rewind(self):
        """Flush what was written and go back to the start (ready to be read)."""
        self.file.flush()
        self.file.seek(0)

    def seal(self):
        """Close the file but keep its name (an executable: a file open for writing cannot
        be executed, ETXTBSY)."""
        self.file.close()

    def chunks(self):
        """The file's bytes from the start, in pieces (also what the sandbox wrote to it)."""
        self.file.seek(0)
        while True:
            chunk = self.file.read(CHUNK_BYTES)
            if not chunk:
                return
            yield chunk

    def close(self):
        """Close the file and remove its name (idempotent)."""
        self.file.close()
        if self.name is not None:
            name, self.name = self.name, None
            try:
                os.unlink(name)
            except FileNotFoundError:
                pass


def read_body(read, config, directory, files):
    """Read an ``EXECUTE`` body from ``read(n)``.

    Returns ``(session, executable, inputs, image)``: the :class:`zerocloud.wire.Session`,
    a :class:`Spool` holding the executable (None when not sent), ``{device: Spool}`` for
    the ``in:<device>`` frames and a :class:`Spool` holding the user image (None when not
    sent), each rewound.  Every spool is appended to ``files`` as soon
    as it exists, so the caller closes them whatever happens.

    :raises HTTPException: 400 for a malformed body or session description (naming the
        field) or a frame that does not fit the session, 413 for a part over its limit.
    """
    limit = (SESSION_JSON_LIMIT + config.max_nexe_bytes +
             wire.MAX_SESSION_CHANNELS * config.max_input_bytes)
    session, session_chunks, session_size = None, [], 0
    executable, image, inputs = None, None, {}
    try:
        for name, chunk in wire_decode.FrameReader(read, limit, CHUNK_BYTES):
            if session is None and name == wire.SESSION:
                session_size += len(chunk)
                if session_size > SESSION_JSON_LIMIT:
                    raise swob.HTTPRequestEntityTooLarge(
                        body='session frame larger than %d bytes\n' % SESSION_JSON_LIMIT)
                session_chunks.append(chunk)
                continue
            if session is None:
                session = _decode_session(session_chunks)
            if name == wire.EXECUTABLE:
                if executable is None:
                    executable = _new_spool(files, directory, session, name, config)
                executable.write(chunk)
            elif name == wire.IMAGE:
                if image is None:
                    image = _new_spool(files, directory, session, name, config)
                image.write(chunk)
            elif name.startswith(wire.INPUT_PREFIX) and name in inputs:
                inputs[name].write(chunk)
            elif name.startswith(wire.INPUT_PREFIX):
                inputs[name] = _new_spool(files, directory, session, name, config)
                inputs[name].write(chunk)
            else:
                raise swob.HTTPBadRequest(body='unexpected frame %r (the session frame comes '
                                               'first, and once)\n' % name)
    except wire.WireError as err:
        raise swob.HTTPBadRequest(body='bad session body: %s\n' % err)
    if session is None:
        session = _decode_session(session_chunks)
    for spool in [executable, image] + list(inputs.values()):
        if spool is not None:
            spool.rewind()
    return session, executable, {name[len(wire.INPUT_PREFIX):]: spool
                                 for name, spool in inputs.items()}, image


def _decode_session(chunks):
    """:raises HTTPBadRequest: no session frame, or a description that does not validate."""
    if not chunks:
        raise swob.HTTPBadRequest(body='bad session body: it must start with a session '
                                       'frame\n')
    try:
        return wire.Session.from_json(b''.join(chunks))
    except wire.WireError as err:
        raise swob.HTTPBadRequest(body='bad session: %s\n' % err)


def _new_spool(files, directory, session, frame, config):
    """The spool of a part the session expects, with its limit.

    :raises HTTPBadRequest: for a part the session does not expect.
    """
    if frame == wire.EXECUTABLE:
        if session.executable.image:
            raise swob.HTTPBadRequest(body='unexpected executable frame: '
                                           'session.executable names an image program\n')
        spool = Spool(directory, config.max_nexe_bytes, 'executable (zerovm_maxnexe)')
    elif frame == wire.IMAGE:
        if session.image is None:
            raise swob.HTTPBadRequest(body='unexpected image frame: the session has no '
                                           'session.image\n')
        limit = config.session_limits(session.limits).max_input_bytes
        spool = Spool(directory, limit, 'image (the smaller of session.limits.'
                                        'max_input_bytes and zerovm_maxinput)')
    else:
        name = frame[len(wire.INPUT_PREFIX):]
        device = session.device(name)
        if device is None or device.source not in (wire.REMOTE, wire.PAYLOAD):
            raise swob.HTTPBadRequest(body='unexpected frame %s: not a remote or payload '
                                           'device of the session\n' % frame)
        limit = config.session_limits(session.limits).max_input_bytes
        spool = Spool(directory, limit, 'input %s (the smaller of session.limits.'
                                        'max_input_bytes and zerovm_maxinput)' % name)
    files.append(spool)
    return spool
