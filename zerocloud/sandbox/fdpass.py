"""Any number of file descriptors beside a message on a Unix stream socket, in batches.

One ``sendmsg`` carries at most :data:`MAX_FDS_PER_MESSAGE` descriptors (the kernel's
``SCM_MAX_FD``, 253), and a session may have thousands of channels.  So a message with fds
is sent as: batch *k* of at most 253 fds attached to byte *k* of the message (a one-byte
send each), then the rest of the message.  The kernel never hands out two fd-carrying
pieces in one ``recvmsg`` (it stops reading after a piece with fds), so a receiver that
always reads with room for :data:`MAX_FDS_PER_MESSAGE` fds (:data:`ANCILLARY_BYTES`) loses
none, and has every fd once it has read every byte of the message: its length (from the
message's header) says when it is complete, and the count the content announces (the spec's
channels, the plan's fd numbers) is checked against what arrived.

Used between the object server and the sandbox supervisor (:mod:`.client`,
:mod:`.supervisor`) and between the supervisor and a warm jail (:mod:`.warm`,
:mod:`.jail`).  Only ``socket``, ``selectors`` and ``resource``: green under eventlet's
monkeypatching, and light enough for the jail factory.  Descriptor numbers may exceed 1023
(a server holding thousands of channels): nothing here uses ``select()``.

Descriptors in flight (sent, not yet received) count against the *sender's*
``RLIMIT_NOFILE`` (per user: ``ETOOMANYREFS`` beyond it), and received ones against the
receiver's: :func:`raise_open_files_limit` lifts a process's soft limit to its hard limit.
"""
import array
import os
import resource
import selectors
import socket

MAX_FDS_PER_MESSAGE = 253
ANCILLARY_BYTES = socket.CMSG_SPACE(MAX_FDS_PER_MESSAGE * array.array('i').itemsize)
SEND_WAIT_SECONDS = 5.0      # a piece that cannot be sent for this long: the peer is stuck


def batches(fds):
    """``fds`` cut into lists of at most :data:`MAX_FDS_PER_MESSAGE`."""
    fds = list(fds)
    return [fds[start:start + MAX_FDS_PER_MESSAGE]
            for start in range(0, len(fds), MAX_FDS_PER_MESSAGE)]


def send_with_fds(sock, data, fds):
    """Send ``data`` (bytes) with every fd of ``fds`` attached (see the module docstring).

    Works on blocking sockets, sockets with a timeout and non-blocking (green) ones.

    :raises ValueError: ``data`` has fewer bytes than there are batches of fds.
    :raises OSError: the socket failed (or stayed full for :data:`SEND_WAIT_SECONDS`).
    """
    groups = batches(fds)
    if len(groups) > len(data):
        raise ValueError('%d bytes cannot carry %d batches of descriptors'
                         % (len(data), len(groups)))
    view = memoryview(data)
    for index, group in enumerate(groups):
        _send_piece(sock, view[index:index + 1], group)
    sock.sendall(view[len(groups):])


def _send_piece(sock, piece, fds):
    rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', fds).tobytes())]
    while True:
        try:
            if sock.sendmsg([piece], rights) == len(piece):
                return
        except BlockingIOError:
            pass
        with selectors.DefaultSelector() as selector:   # (select() fails above fd 1023)
            selector.register(sock, selectors.EVENT_WRITE)
            if not selector.select(SEND_WAIT_SECONDS):
                raise OSError('the receiver took no descriptors for %gs' % SEND_WAIT_SECONDS)


def receive_into(sock, size, fds):
    """Read exactly ``size`` bytes from a blocking socket; append the fds that come with
    them to the list ``fds`` (non-inheritable).  Returns the bytes.

    :raises OSError: the connection ended early (the fds received so far stay in ``fds``
        for the caller to close).
    """
    data = bytearray()
    while len(data) < size:
        chunk, ancillary, _flags, _addr = sock.recvmsg(size - len(data), ANCILLARY_BYTES)
        fds.extend(fds_of(ancillary))
        if not chunk:
            raise OSError('connection closed after %d of %d bytes' % (len(data), size))
        data += chunk
    return bytes(data)


def fds_of(ancillary):
    """The fds carried by ``recvmsg``'s ancillary data, made non-inheritable."""
    fds = array.array('i')
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    for fd in fds:
        os.set_inheritable(fd, False)
    return list(fds)


def raise_open_files_limit():
    """Lift this process's soft ``RLIMIT_NOFILE`` to its hard limit (children inherit it).

    Returns ``(soft, hard)`` as they are afterwards.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass       # an unlimited hard limit above fs.nr_open: keep the soft one
    return soft, hard
