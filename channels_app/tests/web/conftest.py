"""Fixtures of the portal's browser tests: Chromium sessions against the live server."""

import pytest

from channels_app.tests.support.browser import Session


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
