"""factory_boy factories for the domain."""

from datetime import date, timedelta

import factory
from django.utils import timezone

from channels_app import models


class ChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Channel

    kind = "x"
    name = factory.Sequence(lambda n: f"Support channel {n}")
    handle = factory.Sequence(lambda n: f"@support{n}")


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
