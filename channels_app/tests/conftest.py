"""Fixtures shared by more than one feature folder: the fake platform servers, the platform
secrets in the environment, a retired X channel, and the browser."""

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from channels_app.tests.support.browser import CHROMIUM, CHROMIUM_ARGS, Session
from channels_app.tests.support.factories import ChannelFactory
from channels_app.tests.support.fakeplatforms import (
    FakeDiscourse,
    FakeIMAP,
    FakeMessenger,
    FakeSMTP,
    FakeX,
    FakeYouTube,
)
from channels_app.tests.support.inbound_helpers import SECRETS, platform_channel, sunset

# --- real servers on 127.0.0.1 playing the platforms ------------------------------------------


def _serve(fake: Any) -> Iterator[Any]:
    with fake:
        yield fake
    # Every request a test made must have been a valid one; tests that send bad requests on
    # purpose clear fake.violations after asserting on them.
    assert getattr(fake, "violations", []) == [], fake.violations


@pytest.fixture
def fake_x() -> Iterator[FakeX]:
    yield from _serve(FakeX())


@pytest.fixture
def fake_discourse() -> Iterator[FakeDiscourse]:
    yield from _serve(FakeDiscourse())


@pytest.fixture
def fake_messenger() -> Iterator[FakeMessenger]:
    yield from _serve(FakeMessenger())


@pytest.fixture
def fake_youtube() -> Iterator[FakeYouTube]:
    yield from _serve(FakeYouTube())


@pytest.fixture
def fake_smtp() -> Iterator[FakeSMTP]:
    with FakeSMTP() as server:
        yield server


@pytest.fixture
def fake_imap() -> Iterator[FakeIMAP]:
    yield from _serve(FakeIMAP())


@pytest.fixture
def http_client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=httpx.Timeout(5.0, connect=2.0)) as client:
        yield client


# --- channels that face a platform ------------------------------------------------------------


@pytest.fixture
def platform_secrets(monkeypatch):
    """The webhook secrets and API tokens the test channels name, in this process's environment."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return SECRETS


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
def retired_x(manager, approver, platform_secrets):
    """An X channel past its hard close, pointing at the real X (never called): for tests of what
    comes in."""
    channel = platform_channel("x")
    sunset(manager=manager, approver=approver, channels=[channel])
    return channel


@pytest.fixture
def retired_x_on_fake_x(manager, approver, platform_secrets, fake_x):
    """An X channel past its hard close whose replies go to `fake_x`; `.plan` is its plan."""
    channel = platform_channel("x", fake_x.base_url)
    channel.plan = sunset(manager=manager, approver=approver, channels=[channel])
    return channel


@pytest.fixture
def x_channel(db):
    return ChannelFactory(kind="x", name="Brand on X")


# --- the browser ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium():
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: CI installs Debian's chromium package")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the ORM calls the
    # tests make in between are ordinary synchronous code.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def browse(chromium, live_server):
    """browse(name) -> a fresh Session; all are closed and checked at the end."""
    sessions: list[Session] = []

    def start(name: str) -> Session:
        session = Session(chromium, live_server.url, name)
        sessions.append(session)
        return session

    yield start
    for session in sessions:
        session.close()
    # A missing file (stylesheet, script, icon) shows in the console as a 404; a form answered
    # with 4xx by design (htmx swaps a 422) is not a missing file.
    missing = [f"{s.name}: {e}" for s in sessions for e in s.console_errors if "status of 404" in e]
    assert not missing, missing
