"""The proxy's side of prevalidation (SPEC S4, ``zerovm_prevalidate = yes``).

The object servers validate a stored executable and record the verdict in object sysmeta
bound to its ETag (:mod:`zerocloud.object_middleware.prevalidate`).  Here:

- :func:`trusted_record` reads that record from the HEAD the proxy makes of every executable
  (:mod:`.sources`): valid only when its ETag is the object's ETag, so an overwrite with
  other bytes never inherits the old verdict.  The session is then told
  (``session.executable.prevalidated``) and runs without validating again.
- :func:`answer_with_verdict`: a client's ``PUT`` (or ``POST``) of an
  ``application/x-nexe`` object, or one with ``X-Zerovm-Validate``, is answered with
  ``X-Zerovm-Valid: true`` or ``false`` (Swift's proxy does not pass the object servers'
  headers through, so the filter reads the record with a HEAD after the write).  The object
  servers validate before they answer, so a replica that answered the write has its record.
"""
from swift.common import swob
from swift.common.utils import split_path
from swift.common.wsgi import make_pre_authed_request

RECORD_HEADER = 'X-Object-Sysmeta-Zerocloud-Valid'
VALIDATE_HEADER = 'X-Zerovm-Validate'
VALID_HEADER = 'X-Zerovm-Valid'
NEXE_TYPE = 'application/x-nexe'
SWIFT_SOURCE = 'ZVM-PV'


def trusted_record(headers):
    """True when the object's headers (a HEAD through the pipeline below the gatekeeper)
    carry a valid prevalidation record for the object's own ETag."""
    etag = (headers.get('Etag') or '').strip('"')
    return bool(etag) and headers.get(RECORD_HEADER) == '%s:valid' % etag


def wants_verdict(req):
    """A client's write of an executable to an object path that asks for a verdict."""
    if req.method not in ('PUT', 'POST'):
        return False
    try:
        split_path(req.path, 4, 4, True)
    except ValueError:
        return False
    content_type = (req.headers.get('Content-Type') or '').split(';')[0].strip().lower()
    return content_type == NEXE_TYPE or VALIDATE_HEADER in req.headers


def answer_with_verdict(req, app):
    """Pass the write to ``app``; add ``X-Zerovm-Valid`` to a successful answer."""
    response = req.get_response(app)
    if response.is_success:
        head = make_pre_authed_request(req.environ, 'HEAD', swob.wsgi_quote(req.path_info),
                                       swift_source=SWIFT_SOURCE)
        found = head.get_response(app)
        valid = found.is_success and trusted_record(found.headers)
        response.headers[VALID_HEADER] = 'true' if valid else 'false'
    return response

