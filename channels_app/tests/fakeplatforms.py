"""The fake platform servers under their old import path, which bench/faults.py and
bench/outbox.py use; the tests import channels_app.tests.support.fakeplatforms."""

from channels_app.tests.support.fakeplatforms import FakeSMTP, FakeX

__all__ = ["FakeSMTP", "FakeX"]
