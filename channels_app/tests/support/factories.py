"""factory_boy factories for the domain: one per model the tests build rows of."""

import hashlib
import os
from datetime import UTC, date, datetime, time, timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from channels_app import models

# A channel made here talks to the session's platform sandbox (the top conftest starts it and
# sets these variables): the preflight tests its connection before a plan is submitted.
TEST_TOKEN_ENV = {
    "x": "DUSK_CHANNEL_TEST_X_TOKEN",
    "discourse": "DUSK_CHANNEL_TEST_DISCOURSE_KEY",
    "messenger": "DUSK_CHANNEL_TEST_MESSENGER_TOKEN",
    "youtube": "DUSK_CHANNEL_TEST_YOUTUBE_TOKEN",
}
TEST_URL_ENV = {kind: f"DUSK_TEST_SANDBOX_{kind.upper()}_URL" for kind in TEST_TOKEN_ENV}


class ChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Channel

    kind = "x"
    name = factory.Sequence(lambda n: f"Support channel {n}")
    handle = factory.Sequence(lambda n: f"@support{n}")
    api_token_env = factory.LazyAttribute(lambda o: TEST_TOKEN_ENV.get(o.kind, ""))
    api_base_url = factory.LazyAttribute(lambda o: os.environ.get(TEST_URL_ENV.get(o.kind, ""), ""))


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Team

    name = factory.Sequence(lambda n: f"Team {n}")
    capacity = 50
    languages = factory.LazyFunction(lambda: ["en"])
    skills = factory.LazyFunction(list)
    site = "Dublin"
    time_zone = "Europe/Dublin"


class AgentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Agent

    employee_id = factory.Sequence(lambda n: f"E{n:06d}")
    name = factory.Sequence(lambda n: f"Agent {n}")
    email = factory.Sequence(lambda n: f"agent{n}@example.com")
    languages = factory.LazyFunction(lambda: ["en"])
    skills = factory.LazyFunction(list)
    site = "Dublin"


class AssignmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Assignment

    agent = factory.SubFactory(AgentFactory)
    team = factory.SubFactory(TeamFactory)
    role = "Agent"
    starts_on = date(2024, 1, 1)


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Conversation

    channel = factory.SubFactory(ChannelFactory)
    platform_thread_id = factory.Sequence(lambda n: f"thread-{n}")
    customer_id = factory.Sequence(lambda n: f"cust-{n}")
    customer_handle = factory.Sequence(lambda n: f"@cust{n}")
    customer_name = "Alex"
    opened_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=3))
    last_message_at = factory.LazyFunction(timezone.now)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"person{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")


class UserProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.UserProfile

    user = factory.SubFactory(UserFactory)
    time_zone = "UTC"


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Message

    conversation = factory.SubFactory(ConversationFactory)
    channel = factory.SelfAttribute("conversation.channel")
    platform_message_id = factory.Sequence(lambda n: f"msg-{n}")
    direction = models.Direction.INBOUND
    text = "Where did support go?"
    created_at = factory.LazyFunction(timezone.now)


class OutboxMessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.OutboxMessage

    conversation = factory.SubFactory(ConversationFactory)
    channel = factory.SelfAttribute("conversation.channel")
    kind = models.OutboxKind.AUTO_REPLY
    dedupe_key = factory.Sequence(lambda n: f"reply-{n}")
    created_at = factory.LazyFunction(timezone.now)


class SunsetPlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.SunsetPlan

    title = factory.Sequence(lambda n: f"Plan {n}")
    author = factory.SubFactory(UserFactory)


class PlanChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.PlanChannel

    plan = factory.SubFactory(SunsetPlanFactory)
    channel = factory.SubFactory(ChannelFactory)


class PhaseFactory(factory.django.DjangoModelFactory):
    """A hard close at midnight UTC, 40 days from now."""

    class Meta:
        model = models.Phase

    plan = factory.SubFactory(SunsetPlanFactory)
    kind = models.PhaseKind.HARD_CLOSE
    local_date = factory.LazyFunction(lambda: (timezone.now() + timedelta(days=40)).date())
    local_time = time(0, 0)
    time_zone = "UTC"
    instant = factory.LazyAttribute(lambda o: datetime.combine(o.local_date, o.local_time, tzinfo=UTC))


class AutoReplyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.AutoReply

    plan = factory.SubFactory(SunsetPlanFactory)
    phase_kind = models.PhaseKind.HARD_CLOSE
    locale = "en"
    text = "Support moved: {redirect_url} ({reference})"


class CutoverRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.CutoverRun

    phase = factory.SubFactory(PhaseFactory)
    plan = factory.SelfAttribute("phase.plan")
    queued_at = factory.LazyFunction(timezone.now)


class PlanStaffingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.PlanStaffing

    plan = factory.SubFactory(SunsetPlanFactory)


class ReassignmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Reassignment

    plan = factory.SubFactory(SunsetPlanFactory)
    agent = factory.SubFactory(AgentFactory)
    from_team = factory.SubFactory(TeamFactory)
    to_team = factory.SubFactory(TeamFactory)
    effective_date = factory.LazyFunction(lambda: timezone.localdate() + timedelta(days=40))


class AuditEventFactory(factory.django.DjangoModelFactory):
    """A row as it is stored; the hash chain is the audit service's to build, so a row made here
    is not part of a verified chain."""

    class Meta:
        model = models.AuditEvent

    at = factory.LazyFunction(timezone.now)
    actor_label = "system:test"
    action = "plan.created"
    object_type = "SunsetPlan"
    object_id = factory.Sequence(str)
    prev_hash = ""
    hash = factory.Sequence(lambda n: hashlib.sha256(f"event-{n}".encode()).hexdigest())
