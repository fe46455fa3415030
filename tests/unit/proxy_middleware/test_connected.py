"""Connected jobs: channel lists for the wire."""
from zerocloud.job.model import Channel
from zerocloud.proxy_middleware import connected


def test_channel_pairs_strip_dev():
    assert connected.channel_pairs([Channel('/dev/out/reduce-1', 'reduce-1'),
                                    Channel('/dev/stdout', 'upper')]) == \
        (('out/reduce-1', 'reduce-1'), ('stdout', 'upper'))
