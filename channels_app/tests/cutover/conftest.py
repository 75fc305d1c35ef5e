"""Fixtures of the cutover tests: a real server on 127.0.0.1 playing X, so that a run's
hand-off notices really go out and the run can end "Completed"."""

from collections.abc import Iterator

import pytest

from channels_app.tests.support.fakeplatforms import FakeX, serve


@pytest.fixture
def fake_x() -> Iterator[FakeX]:
    yield from serve(FakeX())
