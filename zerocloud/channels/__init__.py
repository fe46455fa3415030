"""Byte plumbing between sessions, servers and sandboxed programs (plain Python, no Swift).

- :mod:`.pump`: moves a channel's bytes between a client's fd and the FIFO a program sees,
  with exact byte limits (used by the sandbox's session monitor);
- :mod:`.rendezvous`: the protocol that wires the ``/dev/in/*`` and ``/dev/out/*`` streams of
  a connected job before its programs start (the proxy runs it, object servers join it).
"""
