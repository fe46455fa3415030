"""The object filter lifts the server's open files limit at start (a session may hold
thousands of channel sockets here, and the supervisor it starts inherits the limit)."""
import resource

import pytest

from zerocloud import object_middleware


@pytest.fixture
def lowered_soft_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
    yield hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_the_filter_lifts_the_soft_open_files_limit_to_the_hard_limit(lowered_soft_limit):
    object_middleware.filter_factory({})
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (lowered_soft_limit,
                                                           lowered_soft_limit)
