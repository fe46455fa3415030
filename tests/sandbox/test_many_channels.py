"""A session with many channels (a reducer fed by a hundred mappers) runs through the supervisor:
every descriptor arrives in one message and the program may hold every channel open at once."""
import os

from zerocloud.sandbox import ChannelSpec, Limits, SessionSpec, SupervisorClient, start_supervisor

MAPPERS = 100
READ_ALL = b'''import os, sys
names = sorted(os.listdir("/dev/in"))
files = [open("/dev/in/" + name, "rb") for name in names]  # all open at once
sys.stdout.write("%d %d\\n" % (len(files), sum(len(f.read()) for f in files)))
'''


def test_reducer_with_a_hundred_input_channels(tmp_path):
    script = tmp_path / 'reduce.py'
    script.write_bytes(READ_ALL)
    inputs = []
    for index in range(MAPPERS):
        path = tmp_path / ('map-%d' % index)
        path.write_bytes(b'x' * (index + 1))
        inputs.append(os.open(path, os.O_RDONLY))
    script_fd = os.open(script, os.O_RDONLY)
    read_end, write_end = os.pipe()
    channels = [ChannelSpec('in/map-%d' % index, 'r', 'file') for index in range(MAPPERS)]
    channels += [ChannelSpec('script', 'r', 'file'), ChannelSpec('stdout', 'w', 'pipe')]
    spec = SessionSpec(program='file://python:python', argv=['reduce', '/dev/script'],
                       channels=channels, limits=Limits(wall_seconds=20))
    socket_path = str(tmp_path / 'sandbox.sock')
    handle = start_supervisor(socket_path)
    try:
        report = SupervisorClient(socket_path).run(spec, inputs + [script_fd, write_end])
    finally:
        handle.stop()
        for fd in inputs + [script_fd, write_end]:
            os.close(fd)
    with os.fdopen(read_end, 'rb') as f:
        out = f.read()
    assert report.status == 'ok', report
    assert report.retcode == 0, report
    assert out == b'%d %d\n' % (MAPPERS, MAPPERS * (MAPPERS + 1) // 2)
