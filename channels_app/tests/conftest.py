"""Fixtures shared by more than one feature folder: the platform secrets in the environment, the
fake mailbox, a retired X channel, an X channel, and the browser. A folder's own fixtures live in
its conftest.py; fixtures one test module uses stay in that module."""

import os
from collections.abc import Iterator

import pytest

from channels_app.tests.support.browser import CHROMIUM, CHROMIUM_ARGS, Session
from channels_app.tests.support.factories import ChannelFactory
from channels_app.tests.support.fakeplatforms import (
    FakeDiscourse,
    FakeIMAP,
    FakeMessenger,
    FakeWebhook,
    FakeX,
    FakeYouTube,
    serve,
)
from channels_app.tests.support.inbound_helpers import SECRETS, platform_channel, sunset
from channels_app.tests.support.oidc import OidcProvider


@pytest.fixture(autouse=True)
def _empty_cache():
    """Django's cache (connection test results, click counters) starts empty in every test."""
    from django.core.cache import cache

    cache.clear()
    yield


# --- real servers on 127.0.0.1 playing the platforms ------------------------------------------


# The platforms played by real servers on 127.0.0.1 (a test module may define its own).
@pytest.fixture
def fake_x() -> Iterator[FakeX]:
    yield from serve(FakeX())


@pytest.fixture
def fake_discourse() -> Iterator[FakeDiscourse]:
    yield from serve(FakeDiscourse())


@pytest.fixture
def fake_messenger() -> Iterator[FakeMessenger]:
    yield from serve(FakeMessenger())


@pytest.fixture
def fake_youtube() -> Iterator[FakeYouTube]:
    yield from serve(FakeYouTube())


@pytest.fixture
def fake_imap() -> Iterator[FakeIMAP]:
    yield from serve(FakeIMAP())


@pytest.fixture
def notify_webhook(settings) -> Iterator[FakeWebhook]:
    """An incoming webhook (Slack, Teams) on 127.0.0.1, and DUSK_NOTIFY_WEBHOOK_URL naming it."""
    fake = FakeWebhook()
    for started in serve(fake):
        settings.DUSK_NOTIFY_WEBHOOK_URL = started.url
        yield started


@pytest.fixture
def oidc_provider(db, settings, monkeypatch) -> Iterator[OidcProvider]:
    """A real OpenID Connect provider on 127.0.0.1, and Dusk's SSO settings pointing at it."""
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # the provider answers over plain http
    with OidcProvider() as provider:
        for name, value in provider.settings().items():
            setattr(settings, name, value)
        settings.AUTHENTICATION_BACKENDS = [
            *settings.AUTHENTICATION_BACKENDS,
            "channels_app.accounts.auth_backends.OidcBackend",
        ]
        yield provider


# --- channels that face a platform ------------------------------------------------------------


@pytest.fixture
def platform_secrets(monkeypatch):
    """The webhook secrets and API tokens the test channels name, in this process's environment."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return SECRETS


@pytest.fixture
def retired_x(manager, approver, platform_secrets):
    """An X channel past its hard close, pointing at the real X (never called): for tests of what
    comes in."""
    channel = platform_channel("x")
    sunset(manager=manager, approver=approver, channels=[channel])
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
    """browse(name) -> a fresh Session against the live server (the web and cutover browser
    tests); all are closed and checked at the end."""
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
