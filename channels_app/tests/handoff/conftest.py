"""A customer whose conversation on X was moved by an approved plan with a phone line, a web form
and an app link, and the landing page's branding."""

from datetime import time

import pytest
from django.core.cache import cache

from channels_app.plans.services.landing import save_landing_page
from channels_app.plans.services.plans import RedirectInput
from channels_app.tests.support.factories import ChannelFactory, ConversationFactory, MessageFactory
from channels_app.tests.support.helpers import approved_plan

TARGETS = [
    RedirectInput("phone", "Phone support", "+33 1 23 45 67 89"),
    RedirectInput("url", "Web form", "https://help.example.com/contact?topic=moved"),
    RedirectInput("app", "Brand app", "https://app.example.com/support"),
]


@pytest.fixture(autouse=True)
def fresh_visit_bound():
    """The landing page records at most DUSK_TRACKED_LINK_RATE requests per client address and
    minute, counted in the cache: every test starts with its own minute's budget."""
    cache.clear()


@pytest.fixture
def moved(manager, approver):
    channel = ChannelFactory(kind="x", name="Brand on X")
    conversation = ConversationFactory(channel=channel, customer_name="Camille Secret", locale="")
    MessageFactory(conversation=conversation, text="My order 4411 never arrived", direction="in")
    MessageFactory(conversation=conversation, text="Sorry Camille, looking into it", direction="out")
    plan = approved_plan(manager=manager, approver=approver, channels=[channel], redirects=TARGETS)
    return conversation, plan


@pytest.fixture
def branded(moved, manager):
    conversation, plan = moved
    save_landing_page(
        actor=manager,
        plan=plan,
        display_name="Brand Co",
        accent="#AA3300",
        reference_param="ref",
        phone_opens=time(9, 0),
        phone_closes=time(18, 0),
        phone_zone="Europe/Paris",
    )
    return conversation, plan
