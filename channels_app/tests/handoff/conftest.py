"""A customer whose conversation on X was moved by an approved plan with a phone line, a web form
and an app link, and the landing page's branding."""

from datetime import time, timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from channels_app.cutover.services.engine import claim_due_phases, run_cutover
from channels_app.models import (
    Conversation,
    HandoffArrival,
    HandoffDestination,
    LandingVisit,
    OutboxMessage,
    OutboxState,
    RedirectClick,
)
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


# The funnel's breakdowns, counted by hand (test_funnel.py, test_browser.py).
#
# Twelve conversations on two channels, in three languages; the plan's targets are 1 "Phone
# support" and 2 "Contact form", each with a hand-off destination. N: notice sent, L: a person
# landed, choices in time order, arrival reported by the destination of target d1 or d2.
#
#  c1  X  en  N L [2]    arrived d2, solved d2
#  c2  X  en  N L [1]
#  c3  X  en  N (a crawler only)
#  c4  X  fr  N L [1]    arrived d1
#  c5  X  fr  - L        (landed without a notice: stops at redirected)
#  c6  X  id  N L
#  c7  D  en  N L [2]    arrived d2
#  c8  D  en  N
#  c9  D  fr  N L [2]    arrived d2, solved d2
#  c10 D  id  N L [1]    arrived d1, solved d1
#  c11 D  id  -
#  c12 D  id  N L [1,2]  arrived d2   (first chose 1: counted under "Phone support")
HAND = [
    ("x", "en", True, "human", [2], ["arrived", "solved"]),
    ("x", "en", True, "human", [1], []),
    ("x", "en", True, "crawler", [], []),
    ("x", "fr", True, "human", [1], ["arrived"]),
    ("x", "fr", False, "human", [], []),
    ("x", "id", True, "human", [], []),
    ("d", "en", True, "human", [2], ["arrived"]),
    ("d", "en", True, None, [], []),
    ("d", "fr", True, "human", [2], ["arrived", "solved"]),
    ("d", "id", True, "human", [1], ["arrived", "solved"]),
    ("d", "id", False, None, [], []),
    ("d", "id", True, "human", [1, 2], ["arrived"]),
]


@pytest.fixture
def counted(manager, approver, smtp_settings):
    x = ChannelFactory(kind="x", name="Brand on X")
    d = ChannelFactory(kind="discourse", name="Brand forum")
    channels = {"x": x, "d": d}
    conversations = [ConversationFactory(channel=channels[ch], locale=loc) for ch, loc, *_rest in HAND]
    plan = approved_plan(manager=manager, approver=approver, channels=[x, d])
    run_cutover(run_id=claim_due_phases(now=plan.phases.get().instant + timedelta(seconds=1))[0], worker_id="t")
    assert Conversation.objects.filter(moved_by_run__plan=plan).count() == 12
    now = timezone.now()
    # Targets are numbered from 0 on the plan: 1 and 2 here are the first and the second.
    targets = {i + 1: t for i, t in enumerate(plan.redirects.order_by("position"))}
    destinations = {
        n: HandoffDestination.objects.create(
            plan=plan,
            position=target.position,
            kind="webhook",
            url="https://hooks.example.com",
            credential_env="DUSK_CHANNEL_H",
        )
        for n, target in targets.items()
    }
    for c, (_ch, _loc, notified, visit, choices, reports) in zip(conversations, HAND, strict=True):
        if notified:
            OutboxMessage.objects.filter(created_by_run__plan=plan, conversation=c).update(
                state=OutboxState.SENT, sent_at=now, platform_response_id=f"18500000000{c.pk}"
            )
        if visit:
            LandingVisit.objects.create(conversation=c, kind=visit, visitor=f"v{c.pk}", at=now)
        for i, n in enumerate(choices):
            RedirectClick.objects.create(conversation=c, target=targets[n], at=now + timedelta(minutes=i))
        for status in reports:
            HandoffArrival.objects.create(destination=destinations[choices[-1]], conversation=c, status=status, at=now)
    return plan
