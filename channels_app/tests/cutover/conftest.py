"""Fixtures of the cutover tests: an X, a Discourse, a Messenger and a YouTube channel on the
fake platforms (the tests' conftest serves them on 127.0.0.1), for the public notice."""

import pytest

from channels_app.tests.support.notice_helpers import four_platform_channels


@pytest.fixture
def four_channels(platform_secrets, fake_x, fake_discourse, fake_messenger, fake_youtube):
    """An X, a Discourse, a Messenger and a YouTube channel on the fakes (notice_helpers)."""
    return four_platform_channels(fake_x, fake_discourse, fake_messenger, fake_youtube)
