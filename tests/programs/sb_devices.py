"""Report how the jail shows each channel named in argv (``NAME:r`` or ``NAME:w``).

For each channel: its ``stat()`` type (``fifo``, ``file`` or ``other``), whether it can seek
(``ok`` or the errno name) and, for a readable one, its bytes (latin-1): read after seeking
to offset 1 plus ``pread`` of byte 0 when it can seek, else read whole.  A writable one gets
``written to /dev/NAME``.  The report is one JSON object written to stdout last.
"""
import errno
import json
import os
import stat
import sys

STD_FDS = {'stdin': 0, 'stdout': 1, 'stderr': 2}


def stat_type(fd):
    mode = os.fstat(fd).st_mode
    return 'fifo' if stat.S_ISFIFO(mode) else 'file' if stat.S_ISREG(mode) else 'other'


def seek(fd, offset):
    try:
        os.lseek(fd, offset, os.SEEK_SET)
        return 'ok'
    except OSError as err:
        return errno.errorcode.get(err.errno, str(err.errno))


def read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b''.join(chunks)
        chunks.append(chunk)


def report(name, access):
    fd = STD_FDS.get(name)
    if fd is None:
        fd = os.open('/dev/' + name, os.O_RDONLY if access == 'r' else os.O_WRONLY)
    found = {'type': stat_type(fd)}
    if access == 'r':
        found['seek'] = seek(fd, 1)
        data = os.pread(fd, 1, 0) + read_all(fd) if found['seek'] == 'ok' else read_all(fd)
        found['data'] = data.decode('latin-1')
    else:
        found['seek'] = seek(fd, 0)
        if name != 'stdout':
            os.write(fd, b'written to /dev/' + name.encode())
    return found


results = {}
for item in sys.argv[1:]:
    device, _, how = item.rpartition(':')
    results[device] = report(device, how)
sys.stdout.write(json.dumps(results, sort_keys=True))
