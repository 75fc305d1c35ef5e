"""A small, hand-checkable workforce for the workforce tests.

Retiring: X and the forum. Social Paris (x + forum) has Amélie, Bruno and Chen; Social Jakarta (x)
has Dewi and Eko. Destinations: Phone EMEA (fr/en, 5 seats, 2 taken), Phone APAC (id, 3 seats,
1 taken) and Web desk (any language, 2 seats, both taken).
"""

from dataclasses import dataclass
from datetime import date, timedelta

from django.utils import timezone

from channels_app.models import Channel, Conversation, Message, Team
from channels_app.tests.support.factories import AgentFactory, AssignmentFactory, ChannelFactory, TeamFactory
from channels_app.tests.support.helpers import hard_close_plan


@dataclass
class World:
    x: Channel
    forum: Channel
    phone: Channel
    web_form: Channel
    social_paris: Team
    social_jakarta: Team
    phone_emea: Team
    phone_apac: Team
    web_desk: Team
    agents: dict  # first name -> Agent

    def ids(self, *names: str) -> list[int]:
        return [self.agents[n].pk for n in names]


def _staff(team: Team, count: int, **kwargs) -> None:
    for agent in AgentFactory.create_batch(count, **kwargs):
        AssignmentFactory(agent=agent, team=team, starts_on=date(2024, 1, 1))


def build_world() -> World:
    x = ChannelFactory(kind="x", name="Brand on X")
    forum = ChannelFactory(kind="discourse", name="Brand forum")
    phone = ChannelFactory(kind="phone", name="Brand phone", handle="+1 800 555 0100")
    web_form = ChannelFactory(kind="web_form", name="Brand web form", handle="https://help.example.com/contact")
    paris = TeamFactory(name="Social Paris", languages=["fr", "en"], site="Paris", time_zone="Europe/Paris")
    paris.channels.set([x, forum])
    jakarta = TeamFactory(name="Social Jakarta", languages=["id"], site="Jakarta", time_zone="Asia/Jakarta")
    jakarta.channels.set([x])
    emea = TeamFactory(
        name="Phone EMEA",
        capacity=5,
        languages=["fr", "en"],
        skills=["billing"],
        site="Paris",
        time_zone="Europe/Paris",
    )
    emea.channels.set([phone])
    apac = TeamFactory(
        name="Phone APAC", capacity=3, languages=["id"], skills=["devices"], site="Jakarta", time_zone="Asia/Jakarta"
    )
    apac.channels.set([phone])
    web = TeamFactory(name="Web desk", capacity=2, languages=[], site="Dublin")
    web.channels.set([web_form])
    _staff(emea, 2, site="Paris")
    _staff(apac, 1, languages=["id"], site="Jakarta")
    _staff(web, 2)
    people = [
        ("Amélie", paris, ["fr"], ["billing"], "Paris", "Europe/Paris"),
        ("Bruno", paris, ["fr", "en"], ["devices"], "Paris", "Europe/Paris"),
        ("Chen", paris, ["en"], [], "Paris", "Europe/Paris"),
        ("Dewi", jakarta, ["id"], ["devices"], "Jakarta", "Asia/Jakarta"),
        ("Eko", jakarta, ["id", "en"], [], "Jakarta", "Asia/Jakarta"),
    ]
    agents = {}
    for name, team, languages, skills, site, zone in people:
        agent = AgentFactory(name=name, languages=languages, skills=skills, site=site, time_zone=zone)
        AssignmentFactory(agent=agent, team=team, starts_on=date(2024, 1, 1))
        agents[name] = agent
    return World(x, forum, phone, web_form, paris, jakarta, emea, apac, web, agents)


def world_plan(world: World, manager, **kwargs):
    """A draft plan retiring X and the forum (hard close in 30 days, phone 60% / web form 40%)."""
    from channels_app.plans.services.plans import RedirectInput

    kwargs.setdefault(
        "redirects",
        [
            RedirectInput("phone", "Phone support", "+1 800 555 0100", 0.6),
            RedirectInput("url", "Contact form", "https://help.example.com/contact", 0.4),
        ],
    )
    return hard_close_plan(manager=manager, channels=[world.x, world.forum], **kwargs)


def inbound(channel: Channel, count: int, *, at=None, prefix: str = "m") -> None:
    """`count` inbound messages on `channel` (one conversation each), all at `at`."""
    at = at or timezone.now() - timedelta(hours=1)
    start = Conversation.objects.count()
    conversations = Conversation.objects.bulk_create(
        [
            Conversation(
                channel=channel,
                platform_thread_id=f"{prefix}-{channel.pk}-{start + i}",
                customer_id=f"c{start + i}",
                state="closed",
                opened_at=at,
                last_message_at=at,
            )
            for i in range(count)
        ]
    )
    Message.objects.bulk_create(
        [
            Message(
                channel=channel,
                conversation=c,
                platform_message_id=f"{c.platform_thread_id}-1",
                direction="in",
                text="help",
                created_at=at,
            )
            for c in conversations
        ]
    )
