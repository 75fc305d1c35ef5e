"""Fixtures of the platform tests (the fake platforms are the tests' conftest's): a real SMTP
server on 127.0.0.1, an HTTP client, and a retired X channel whose replies reach the fake X."""

from collections.abc import Iterator

import httpx
import pytest

from channels_app.tests.support.fakeplatforms import FakeSMTP
from channels_app.tests.support.inbound_helpers import platform_channel, sunset


@pytest.fixture
def fake_smtp() -> Iterator[FakeSMTP]:
    with FakeSMTP() as server:
        yield server


@pytest.fixture
def http_client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=httpx.Timeout(5.0, connect=2.0)) as client:
        yield client


@pytest.fixture
def release_pooled_connections():
    """After a test that served requests from other threads (live_server), close the pooled
    connections those threads left open, so the test database can be dropped at the end."""
    yield
    from django.db import connections

    for conn in connections.all():
        if getattr(conn, "pool", None) is not None:
            conn.close_pool()


@pytest.fixture
def retired_x_on_fake_x(manager, approver, platform_secrets, fake_x):
    """An X channel past its hard close whose replies go to `fake_x`; `.plan` is its plan."""
    channel = platform_channel("x", fake_x.base_url)
    channel.plan = sunset(manager=manager, approver=approver, channels=[channel])
    return channel
