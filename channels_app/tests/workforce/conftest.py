"""The workforce world: teams on retiring and staying channels, and a plan over it."""

import pytest

from channels_app.tests.support.workforce_helpers import build_world, world_plan


@pytest.fixture
def world(db):
    return build_world()


@pytest.fixture
def plan(world, manager):
    return world_plan(world, manager)
