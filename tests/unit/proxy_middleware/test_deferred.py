"""Deferred jobs: the header's modes, the option, the streamed body reader, refusals."""
import pytest
from swift.common import swob

from zerocloud.proxy_middleware import deferred
from zerocloud.proxy_middleware.config import ProxyConfig


@pytest.mark.parametrize('value, mode', [(None, 'never'), ('always', 'always'),
                                         (' AUTO ', 'auto'), ('never', 'never')])
def test_the_header_names_the_mode(value, mode):
    req = swob.Request.blank('/v1/a', headers={} if value is None else {deferred.HEADER: value})
    assert deferred.mode_of(req) == mode


def test_an_unknown_mode_is_a_400_naming_the_header():
    req = swob.Request.blank('/v1/a', headers={deferred.HEADER: 'later'})
    with pytest.raises(swob.HTTPException) as raised:
        deferred.mode_of(req)
    assert raised.value.status_int == 400
    assert b"X-Zerovm-Deferred: expected always, auto or never, not 'later'" in raised.value.body


def test_zerovm_deferred_after_is_parsed_and_checked():
    assert ProxyConfig.from_conf({}).deferred_after_seconds == 10.0
    config = ProxyConfig.from_conf({'zerovm_deferred_after': '2.5'})
    assert config.deferred_after_seconds == 2.5 and config.info()['deferred_after_seconds'] == 2.5
    with pytest.raises(ValueError, match='zerovm_deferred_after'):
        ProxyConfig.from_conf({'zerovm_deferred_after': 'soon'})


def test_the_body_reader_gives_back_every_byte_in_any_read_size():
    reader = deferred.IterReader(iter([b'abc', b'', b'defgh', b'i']))
    assert [reader.read(4), reader.read(4), reader.read(4), reader.read(4)] == [
        b'abcd', b'efgh', b'i', b'']
    assert deferred.IterReader(iter([b'ab', b'cd'])).read() == b'abcd'


class FakeJob:
    def __init__(self, payload, image=None):
        self.req = swob.Request.blank('/v1/a', headers={deferred.HEADER: 'always'})
        self.payload, self.image, self.abandoned = payload, image, False

    def abandon(self):
        self.abandoned = True


@pytest.mark.parametrize('payload, image', [(object(), None), (b'', object())])
def test_a_zapp_or_a_job_with_request_data_cannot_be_deferred(payload, image):
    job = FakeJob(payload, image)
    with pytest.raises(swob.HTTPException) as raised:
        deferred.answer(job, plan=None)
    assert raised.value.status_int == 400 and b'cannot be deferred' in raised.value.body
    assert job.abandoned   # its deadline and spools are released
