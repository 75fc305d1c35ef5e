"""The workforce world: teams on retiring and staying channels, and a plan over it."""

import pytest

from channels_app.tests.support.outcome_helpers import build_history
from channels_app.tests.support.workforce_helpers import build_world, world_plan


@pytest.fixture
def world(db):
    return build_world()


@pytest.fixture
def plan(world, manager):
    return world_plan(world, manager)


@pytest.fixture
def history(hr_coordinator):
    """Moved agents with 100 days of assignment history (tests/support/outcome_helpers.py)."""
    return build_history(hr_coordinator)
