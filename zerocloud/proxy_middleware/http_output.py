"""Outputs that are HTTP responses: ``message/http`` and ``message/cgi`` (SPEC S2.7).

A program whose output device has ``"content_type": "message/http"`` writes a whole HTTP
response to it: a status line, header fields, a blank line, then the body::

    HTTP/1.1 302 Found
    Location: https://example.com/elsewhere
    Content-Type: text/plain

    moved

With ``message/cgi`` it writes a CGI response (RFC 3875): header fields only, where an
optional ``Status: 201 Created`` field gives the status (default 200, or 302 when the
fields name a ``Location`` and no ``Status``).  Lines may end in CRLF or LF.

What the head does
------------------
* For a **path-less** output (one that goes into the HTTP response), the head's status
  becomes the response's status, and the head's safe fields become response headers:
  ``Content-Type``, ``Content-Disposition``, ``Cache-Control``, ``Location``,
  ``X-Object-Meta-*`` and ``X-Zerovm-Execute`` (which, with
  ``Content-Type: application/json``, asks the ``job_chain`` filter to run the body as the
  next job).  Every other field is dropped: a program cannot set ``X-Nexe-*``,
  ``X-Backend-*``, ``Set-Cookie``, authentication or hop-by-hop fields, nor
  ``Content-Length`` (the length is that of the body the program wrote).
* For an output **with a path** (an object), the head's ``Content-Type`` and
  ``X-Object-Meta-*`` fields become the object's (overriding the device's ``content_type``
  and ``meta``); its status and other fields are ignored.  ``min_size`` counts the body only.
* The head is never part of the body.

A head that cannot be parsed is not an error: the output is kept raw, head and all, with its
device's content type, as the original ZeroCloud did.  It cannot be parsed when the blank
line does not come within :data:`MAX_HEAD_BYTES` (64 KiB), when it has more than
:data:`MAX_HEAD_FIELDS` fields, when a line is not ``name: value`` (no folded lines, no
control characters in values), when the status is not a number from 200 to 599, or when a
``message/cgi`` head has no field at all.  Only the head is read from the spool file; the
body is streamed from it.

Field values are taken as bytes: text outside Latin-1 (UTF-8 file names in
``Content-Disposition``...) reaches the client byte for byte and never breaks the response
(a ``Content-Type`` that is not valid UTF-8 has its stray bytes escaped, ``\\xff``).

Several path-less outputs
-------------------------
The response body is the concatenation of every path-less output (SPEC S5); each
``message/http``/``message/cgi`` output contributes its body without its head.  The
*first* path-less output whose head parses (in instance order, then device order) sets the
response's status and fields; the heads of later ones are removed and ignored.  The
response's Content-Type is that of the first path-less output that has one (a parsed head's
``Content-Type`` field, else its device's ``content_type``).
"""
import dataclasses
import http
import re

MAX_HEAD_BYTES = 65536
MAX_HEAD_FIELDS = 64
HTTP_TYPE = 'message/http'
CGI_TYPE = 'message/cgi'
META_PREFIX = 'x-object-meta-'
#: Fields a program may set on the HTTP response (lower case), plus ``X-Object-Meta-*``.
RESPONSE_FIELDS = ('content-type', 'content-disposition', 'cache-control', 'location',
                   'x-zerovm-execute')
NO_BODY_STATUSES = (204, 304)

_STATUS_LINE = re.compile(rb'HTTP/[0-9]\.[0-9] ([0-9]{3})(?: (.*))?')
_CGI_STATUS = re.compile(rb'([0-9]{3})(?:[ \t]+(.*))?')
_FIELD = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*")
_CONTROL = re.compile(rb'[\x00-\x08\x0a-\x1f\x7f]')
_PRINTABLE_REASON = re.compile(rb'[ -~]*')


@dataclasses.dataclass(frozen=True)
class Head:
    """A parsed head: ``status`` (int), ``reason``, ``fields`` as ``((name, value), ...)``
    in order (WSGI strings: Latin-1 text whose code points are the bytes), ``size`` in
    bytes (where the body starts)."""
    status: int
    reason: str
    fields: tuple
    size: int

    @property
    def status_line(self):
        """``'201 Created'``: the program's reason when it is printable ASCII, else the
        standard one."""
        return '%d %s' % (self.status, self.reason or _standard_reason(self.status))

    def field(self, name):
        """The first value of field ``name`` (any case), or None."""
        name = name.lower()
        return next((value for key, value in self.fields if key.lower() == name), None)


def head_kind(content_type):
    """``message/http`` or ``message/cgi`` when ``content_type`` (parameters and case
    ignored) is one of them, else None."""
    main = (content_type or '').split(';', 1)[0].strip().lower()
    return main if main in (HTTP_TYPE, CGI_TYPE) else None


def read_head(spool, content_type):
    """The :class:`Head` at the start of ``spool`` when ``content_type`` is
    ``message/http`` or ``message/cgi`` and the head parses, else None (kept raw).

    Reads at most :data:`MAX_HEAD_BYTES` from the spool file.
    """
    kind = head_kind(content_type)
    if kind is None or spool is None:
        return None
    return parse_head(spool.reader().read(MAX_HEAD_BYTES), kind)


def parse_head(data, kind):
    """Parse the head at the start of ``data`` (bytes) as ``kind`` (``message/http`` or
    ``message/cgi``); None when it cannot be parsed (see the module docstring)."""
    lines, size = _head_lines(data[:MAX_HEAD_BYTES])
    if lines is None:
        return None
    if kind == HTTP_TYPE:
        if not lines:
            return None
        match = _STATUS_LINE.fullmatch(lines[0])
        if match is None:
            return None
        status, reason, lines = match.group(1), match.group(2), lines[1:]
    elif not lines:
        return None
    fields = _fields(lines)
    if fields is None:
        return None
    if kind == CGI_TYPE:
        status, reason, fields = _cgi_status(fields)
        if status is None:
            return None
    status = int(status)
    if not 200 <= status <= 599:
        return None
    return Head(status, _reason(reason), fields, size)


def _head_lines(data):
    """``(lines, size)``: the lines before the first empty one (line ends stripped) and the
    bytes up to and including it; ``(None, 0)`` when there is no empty line in ``data``."""
    lines, start = [], 0
    while True:
        end = data.find(b'\n', start)
        if end < 0:
            return None, 0
        line = data[start:end]
        start = end + 1
        if line.endswith(b'\r'):
            line = line[:-1]
        if not line:
            return lines, start
        lines.append(line)


def _fields(lines):
    """``((name, value), ...)`` as WSGI strings, or None for a line that is not a field or
    too many of them."""
    if len(lines) > MAX_HEAD_FIELDS:
        return None
    fields = []
    for line in lines:
        match = _FIELD.fullmatch(line)
        if match is None or _CONTROL.search(match.group(2)):
            return None
        fields.append((match.group(1).decode('ascii'), match.group(2).decode('latin-1')))
    return tuple(fields)


def _cgi_status(fields):
    """``(status bytes, reason bytes, other fields)`` of a CGI head; status None when the
    ``Status`` field is malformed."""
    rest = tuple((name, value) for name, value in fields if name.lower() != 'status')
    value = next((value for name, value in fields if name.lower() == 'status'), None)
    if value is None:
        located = any(name.lower() == 'location' for name, _ in fields)
        return (b'302' if located else b'200'), None, rest
    match = _CGI_STATUS.fullmatch(value.encode('latin-1'))
    if match is None:
        return None, None, rest
    return match.group(1), match.group(2), rest


def _reason(reason):
    if reason and _PRINTABLE_REASON.fullmatch(reason):
        return reason.decode('ascii').strip()
    return ''


def _standard_reason(status):
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return 'Status'


def response_fields(head):
    """The head's fields that may reach the client (first of each name, empty values
    left out), in order."""
    fields, seen = [], set()
    for name, value in head.fields:
        key = name.lower()
        if key in seen or not value or not (key in RESPONSE_FIELDS
                                            or key.startswith(META_PREFIX)):
            continue
        seen.add(key)
        fields.append((name, value))
    return fields


def object_fields(head):
    """``(content_type or None, meta)`` an object takes from the head: its
    ``Content-Type`` and its ``X-Object-Meta-*`` fields (``meta`` keys without the prefix,
    keys and values as native strings, first of each name)."""
    meta = {}
    for name, value in head.fields:
        if name.lower().startswith(META_PREFIX) and len(name) > len(META_PREFIX):
            meta.setdefault(name[len(META_PREFIX):], _native(value))
    content_type = head.field('Content-Type')
    return (_native(content_type) if content_type else None), meta


def _native(wsgi_value):
    """A WSGI string as the native string of its UTF-8 (undecodable bytes kept as
    surrogate escapes, so that they are sent back byte for byte)."""
    return wsgi_value.encode('latin-1').decode('utf-8', 'surrogateescape')


@dataclasses.dataclass(frozen=True)
class OutputPart:
    """One output's spool as it is sent or published: its head (or None) and the
    content type that applies to the body (a native string, or None)."""
    spool: object
    head: object
    content_type: object

    @classmethod
    def of(cls, spool, device_content_type, parse=True):
        """The part for an output written with ``device_content_type``; its head is read
        when ``parse`` and the type is ``message/http``/``message/cgi``."""
        head = read_head(spool, device_content_type) if parse else None
        if head is None:
            return cls(spool, None, device_content_type)
        content_type = head.field('Content-Type')
        return cls(spool, head, _native(content_type) if content_type else None)

    @property
    def offset(self):
        """Where the body starts in the spool."""
        return self.head.size if self.head else 0

    @property
    def size(self):
        """Bytes of the body (0 for a device that wrote nothing)."""
        return (self.spool.size if self.spool else 0) - self.offset
