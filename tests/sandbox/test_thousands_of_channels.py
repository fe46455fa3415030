"""A session with more channels than one descriptor message carries (253) runs through a real
supervisor: the object server's client sends them in batches, the supervisor passes the file
channels on to the jail in batches, and the program reads and writes every one of them."""
import os
import resource
import socket

from zerocloud import wire
from zerocloud.sandbox import ChannelSpec, Limits, SessionSpec, SupervisorClient, start_supervisor
from zerocloud.sandbox import fdpass

FILES_IN, SOCKETS_IN, SOCKETS_OUT, FILES_OUT = 600, 200, 200, 100
TOUCH_ALL = b'''import os, sys
total = 0
names = sorted(os.listdir("/dev/in"))
for name in names:
    with open("/dev/in/" + name, "rb") as f:
        data = f.read()
    assert data == ("from %s\\n" % name).encode(), (name, data)
    total += len(data)
outs = sorted(os.listdir("/dev/out"))
for name in outs:
    with open("/dev/out/" + name, "wb") as f:
        f.write(("to %s\\n" % name).encode())
sys.stdout.write("%d in, %d bytes, %d out\\n" % (len(names), total, len(outs)))
'''


def test_a_session_reads_and_writes_eleven_hundred_channels(tmp_path):
    fdpass.raise_open_files_limit()
    channels, fds, ours = [], [], []
    for n in range(FILES_IN):
        path = tmp_path / ('in-f-%d' % n)
        path.write_bytes(b'from f-%d\n' % n)
        channels.append(ChannelSpec('in/f-%d' % n, 'r', 'file'))
        fds.append(os.open(path, os.O_RDONLY))
    for n in range(SOCKETS_IN):
        mine, theirs = socket.socketpair()
        mine.sendall(b'from s-%d\n' % n)
        mine.shutdown(socket.SHUT_WR)
        channels.append(ChannelSpec('in/s-%d' % n, 'r', 'socket'))
        fds.append(theirs.detach())
        ours.append(mine)
    outbound = []
    for n in range(SOCKETS_OUT):
        mine, theirs = socket.socketpair()
        channels.append(ChannelSpec('out/s-%d' % n, 'w', 'socket'))
        fds.append(theirs.detach())
        outbound.append(mine)
    for n in range(FILES_OUT):
        channels.append(ChannelSpec('out/w-%d' % n, 'w', 'file'))
        fds.append(os.open(tmp_path / ('out-w-%d' % n), os.O_WRONLY | os.O_CREAT, 0o644))
    script = tmp_path / 'touch_all.py'
    script.write_bytes(TOUCH_ALL)
    read_end, write_end = os.pipe()
    channels += [ChannelSpec('script', 'r', 'file'), ChannelSpec('stdout', 'w', 'pipe')]
    fds += [os.open(script, os.O_RDONLY), write_end]
    assert len(fds) > 4 * fdpass.MAX_FDS_PER_MESSAGE
    spec = SessionSpec(program='file://python:python', argv=['touch_all', '/dev/script'],
                       channels=tuple(channels), limits=Limits(wall_seconds=60))
    try:
        report = _run(tmp_path, spec, fds)
    finally:
        for sock in ours:
            sock.close()
    with os.fdopen(read_end, 'rb') as f:
        out = f.read()
    assert report.status == 'ok' and report.retcode == 0, report
    inputs = FILES_IN + SOCKETS_IN
    in_bytes = sum(len(b'from f-%d\n' % n) for n in range(FILES_IN)) + \
        sum(len(b'from s-%d\n' % n) for n in range(SOCKETS_IN))
    assert out == b'%d in, %d bytes, %d out\n' % (inputs, in_bytes, SOCKETS_OUT + FILES_OUT)
    for n, sock in enumerate(outbound):
        with sock:
            assert _read_to_eof(sock) == b'to s-%d\n' % n
    for n in range(FILES_OUT):
        assert (tmp_path / ('out-w-%d' % n)).read_bytes() == b'to w-%d\n' % n


def _read_to_eof(sock):
    data = b''
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return data
        data += chunk


def test_the_proxy_limit_is_more_than_one_message_of_descriptors():
    """The limit the proxy enforces is carried in batches, not one message."""
    assert wire.MAX_SESSION_CHANNELS > fdpass.MAX_FDS_PER_MESSAGE


def test_an_open_files_limit_above_the_hard_limit_is_capped_not_fatal(tmp_path):
    """The jail cannot raise its hard limit: a session asking for more open files than the
    supervisor's hard limit runs with the hard limit."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    script = tmp_path / 'limit.py'
    script.write_bytes(b'import resource\nprint(resource.getrlimit(resource.RLIMIT_NOFILE))\n')
    read_end, write_end = os.pipe()
    fds = [os.open(script, os.O_RDONLY), write_end]
    spec = SessionSpec(program='file://python:python', argv=['limit', '/dev/script'],
                       channels=(ChannelSpec('script', 'r', 'file'),
                                 ChannelSpec('stdout', 'w', 'pipe')),
                       limits=Limits(wall_seconds=20, max_open_files=hard + 1000))
    report = _run(tmp_path, spec, fds)
    with os.fdopen(read_end, 'rb') as f:
        out = f.read()
    assert report.status == 'ok' and report.retcode == 0, report
    assert out == b'(%d, %d)\n' % (hard, hard)


def _run(tmp_path, spec, fds):
    """Run ``spec`` through a new supervisor; close ``fds``; the report."""
    socket_path = str(tmp_path / 'sandbox.sock')
    handle = start_supervisor(socket_path)
    try:
        return SupervisorClient(socket_path).run(spec, fds)
    finally:
        handle.stop()
        for fd in fds:
            os.close(fd)
