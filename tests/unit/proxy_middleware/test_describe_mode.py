"""The proxy puts the mode a job wrote, and only that, into the session description."""
from types import SimpleNamespace

from swift.common import swob

from tests.unit.job.helpers import dev, node
from tests.unit.job.test_expand import plan_of
from zerocloud import wire
from zerocloud.proxy_middleware.config import ProxyConfig
from zerocloud.proxy_middleware.describe import describe


def described(devices):
    instance = plan_of([node(devices=devices)], account='AUTH_t').instances[0]
    parts = SimpleNamespace(executable=SimpleNamespace(etag='e'),
                            remote={'input': SimpleNamespace(etag='r')}, image=None)
    req = swob.Request.blank('/v1/AUTH_t', method='POST')
    return describe(instance, req, ProxyConfig(), parts)


def test_written_modes_reach_the_wire_and_unwritten_ones_stay_empty():
    session = described([dev('stdin', 'swift://~/c/o', mode='pipe'),
                         dev('input', 'swift://~/c/other', mode='char'),
                         dev('script', mode='file'), dev('stdout', mode='block'),
                         dev('stderr'), dev('python')])
    assert [(d.name, d.source, d.mode) for d in session.devices] == [
        ('stdin', wire.LOCAL, 'pipe'), ('input', wire.REMOTE, 'char'),
        ('script', wire.PAYLOAD, 'file'), ('stdout', '', 'block'), ('stderr', '', '')]
    assert session.images == ('python',)
    assert wire.Session.from_json(session.to_json()) == session
