import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_security_event_counters():
    """The rate-limit counters of security events live in the cache, shared by the tests of
    one process."""
    cache.clear()
    yield
    cache.clear()
