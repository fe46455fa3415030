"""Prevalidation records (SPEC S4): what the proxy trusts and what reaches the session."""
import json

import pytest

from zerocloud import wire
from zerocloud.object_middleware import prevalidate as object_side
from zerocloud.object_middleware.config import ObjectConfig
from zerocloud.object_middleware.runner import build_spec
from zerocloud.proxy_middleware import prevalidate
from zerocloud.sandbox.validate import Verdict

ETAG = 'd41d8cd98f00b204e9800998ecf8427e'


def test_a_valid_record_is_trusted_only_for_the_objects_own_etag():
    assert prevalidate.trusted_record({'Etag': '"%s"' % ETAG,
                                       prevalidate.RECORD_HEADER: ETAG + ':valid'})
    assert not prevalidate.trusted_record({'Etag': 'other',
                                           prevalidate.RECORD_HEADER: ETAG + ':valid'})
    assert not prevalidate.trusted_record({'Etag': ETAG,
                                           prevalidate.RECORD_HEADER: ETAG + ':rejected'})
    assert not prevalidate.trusted_record({'Etag': ETAG})


def test_the_object_server_records_what_the_proxy_trusts():
    value = object_side.record_value(ETAG, Verdict(state=0))
    assert prevalidate.trusted_record({'Etag': ETAG, prevalidate.RECORD_HEADER: value})
    rejected = object_side.record_value(ETAG, Verdict(state=1, reasons=('bad',)))
    assert not prevalidate.trusted_record({'Etag': ETAG, prevalidate.RECORD_HEADER: rejected})
    assert object_side.RECORD_HEADER == prevalidate.RECORD_HEADER


def _session(executable):
    return wire.Session(name='a', argv=('a',), env=(), executable=executable, devices=(),
                        limits=wire.SessionLimits(1.0, 1, 1))


def test_prevalidated_travels_on_the_wire_and_makes_the_program_trusted():
    session = wire.Session.from_json(_session(wire.Executable(
        etag=ETAG, prevalidated=True)).to_json())
    assert session.executable.prevalidated is True
    spec, _ = build_spec(session, '/cache/' + ETAG, ObjectConfig())
    assert spec.trusted is True
    plain = wire.Session.from_json(_session(wire.Executable(etag=ETAG)).to_json())
    assert build_spec(plain, '/cache/' + ETAG, ObjectConfig())[0].trusted is False


@pytest.mark.parametrize('executable, message', [
    ({'path': '/bin/x', 'prevalidated': True}, 'session.executable.prevalidated'),
    ({'etag': ETAG, 'prevalidated': 'yes'}, 'session.executable.prevalidated: must be true'),
])
def test_a_bad_prevalidated_flag_is_refused_naming_it(executable, message):
    data = json.loads(_session(wire.Executable(etag=ETAG)).to_json())
    data['executable'] = executable
    payload = json.dumps(data).encode()
    with pytest.raises(wire.WireError, match=message):
        wire.Session.from_json(payload)
