"""A UDP syslog receiver that writes each server's log lines into ``DIR/log/<server>.log``.

Swift logs only to syslog; every server of the cluster is configured with ``log_udp_host``
and ``log_udp_port`` pointing here and a distinct ``log_name``.  A datagram looks like
``<PRI>proxy-server: message``: the tag before the first colon names the file.

Run: ``python -m zerocloud.aio.logs PORT LOG_DIR``.
"""
import os
import re
import socket
import sys

SYSLOG_PRIORITY = re.compile(rb'^<\d+>')
SAFE_TAG = re.compile(r'[^A-Za-z0-9_.-]')


def parse_datagram(data):
    """Return (server tag, message line) of one syslog datagram."""
    text = SYSLOG_PRIORITY.sub(b'', data).rstrip(b'\x00\n').decode('utf-8', 'replace')
    tag, sep, message = text.partition(':')
    if not sep or not tag or ' ' in tag:
        return 'other', text
    return SAFE_TAG.sub('_', tag), message.strip()


class LogFiles:
    """Open, line-buffered files per server tag under one directory."""

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.files = {}

    def write(self, tag, line):
        f = self.files.get(tag)
        if f is None:
            f = open(os.path.join(self.log_dir, tag + '.log'), 'a', buffering=1)
            self.files[tag] = f
        f.write(line + '\n')


def serve(port, log_dir):
    """Receive datagrams on 127.0.0.1:``port`` forever."""
    os.makedirs(log_dir, exist_ok=True)
    files = LogFiles(log_dir)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(('127.0.0.1', port))
    while True:
        data = sock.recv(65536)
        files.write(*parse_datagram(data))


def main(argv=None):
    """``python -m zerocloud.aio.logs PORT LOG_DIR``."""
    argv = sys.argv[1:] if argv is None else argv
    serve(int(argv[0]), argv[1])


if __name__ == '__main__':
    main()
