"""Load a realistic demo: a brand retiring X, YouTube comments and its forum."""

import random
from datetime import UTC, date, time, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from channels_app.core.permissions import ensure_roles
from channels_app.models import Agent, Assignment, Channel, Conversation, Message, OnboardingItem, Team
from channels_app.plans.services.plans import (
    AutoReplyInput,
    PhaseInput,
    PublicNoticeInput,
    RedirectInput,
    approve_plan,
    confirm_reassignments,
    create_plan,
    submit_plan,
)
from channels_app.tests.support.sandbox import demo_channel
from channels_app.workforce.services.moves import (
    MoveRequest,
    accept_suggestion,
    confirm_moves,
    propose_moves,
    update_staffing_inputs,
)

DEMO_PASSWORD = "dusk-demo-2026"

PEOPLE = [
    ("maya", "Maya Okafor", ["manager"]),
    ("arjun", "Arjun Mehta", ["approver"]),
    ("hana", "Hana Wibowo", ["hr_coordinator"]),
    ("vic", "Victor Lambert", ["viewer"]),
    ("admin", "Dusk Admin", ["admin"]),
]

SOCIAL_TEAMS = [
    # name, site, zone, languages, agents
    ("Social Care Austin", "Austin", "America/Chicago", ["en", "es"], 55),
    ("Social Care Dublin", "Dublin", "Europe/Dublin", ["en", "fr"], 50),
    ("Social Care Jakarta", "Jakarta", "Asia/Jakarta", ["id", "en"], 45),
]
# Seats leave room for the ~150 social agents (each team is half staffed today).
DESTINATION_TEAMS = [
    ("Phone Americas", "Austin", "America/Chicago", ["en", "es"], ["billing", "devices"], 100),
    ("Phone EMEA", "Dublin", "Europe/Dublin", ["en", "fr"], ["billing", "accounts"], 90),
    ("Phone APAC", "Jakarta", "Asia/Jakarta", ["id", "en"], ["devices", "accounts"], 80),
    ("Web Form Desk", "Dublin", "Europe/Dublin", ["en", "fr", "id"], ["writing"], 45),
    ("App Chat", "Austin", "America/Chicago", ["en", "es", "id"], ["devices"], 40),
]
STAFFED_TODAY = {"Phone Americas": 45, "Phone EMEA": 35, "Phone APAC": 30, "Web Form Desk": 20, "App Chat": 17}
# Inbound messages per day over the last week (the social plan's staffing window).
HISTORY_PER_DAY = {"x": 500, "youtube": 150, "discourse": 200, "messenger": 40}
HISTORY_DAYS = 7
FIRST = [
    "Alex",
    "Sam",
    "Nadia",
    "Tomás",
    "Chloé",
    "Budi",
    "Siti",
    "Liam",
    "Aoife",
    "Marco",
    "Dewi",
    "Lucas",
    "Emma",
    "Rizky",
    "Inès",
    "Noah",
    "Ayu",
    "Hugo",
    "Mia",
    "Kevin",
    "Léa",
    "Putri",
    "Diego",
    "Sofia",
]
LAST = [
    "García",
    "Murphy",
    "Santoso",
    "Dubois",
    "Smith",
    "Wijaya",
    "Byrne",
    "Martin",
    "Lopez",
    "Kelly",
    "Hartono",
    "Bernard",
    "Nguyen",
    "Walsh",
    "Pratama",
    "Moreau",
    "Johnson",
    "Rahman",
]
SKILLS = ["billing", "devices", "accounts", "writing", "escalations"]

# What the channels themselves say: the X posts, the forum's pinned topic, the Messenger greeting
# (160 characters), the YouTube description; the "has moved" versions at the hard close.
PUBLIC_NOTICES = [
    PublicNoticeInput(
        "en",
        "Lumen support here closes on {date}. Reach us at {redirect_url} or call {phone}.",
        moved_text="Lumen support has moved: {redirect_url} or call {phone}.",
        title="Lumen support is moving to the help centre",
        body="From {date} we answer support questions at {redirect_url} and on {phone}. "
        "This forum stays open to read. Thank you for helping each other here.",
    ),
    PublicNoticeInput(
        "fr",
        "Le support Lumen ici ferme le {date}. Écrivez-nous sur {redirect_url} ou appelez le {phone}.",
        moved_text="Le support Lumen a déménagé : {redirect_url} ou le {phone}.",
        body="À partir du {date}, nous répondons sur {redirect_url} et au {phone}. Le forum reste lisible.",
    ),
    PublicNoticeInput(
        "id",
        "Dukungan Lumen di sini tutup pada {date}. Hubungi kami di {redirect_url} atau {phone}.",
        moved_text="Dukungan Lumen telah pindah: {redirect_url} atau {phone}.",
        body="Mulai {date} kami menjawab di {redirect_url} dan di {phone}. Forum ini tetap bisa dibaca.",
    ),
]

REPLIES = {
    "notice": {
        "en": "Hi {customer_name}, from {date} we will no longer answer support questions here. "
        "Until then we are happy to help; after that please reach us at {redirect_url}.",
        "fr": "Bonjour {customer_name}, à partir du {date} nous ne répondrons plus ici. "
        "Retrouvez-nous ensuite sur {redirect_url}.",
        "id": "Halo {customer_name}, mulai {date} kami tidak lagi melayani dukungan di sini. "
        "Setelah itu hubungi kami di {redirect_url}.",
    },
    "soft_close": {
        "en": "Hi {customer_name}, we no longer start new support conversations here. "
        "Please use {redirect_url} or call {phone}.",
        "fr": "Bonjour {customer_name}, nous n'ouvrons plus de nouvelles demandes ici. "
        "Utilisez {redirect_url} ou appelez le {phone}.",
        "id": "Halo {customer_name}, kami tidak lagi membuka percakapan baru di sini. "
        "Silakan gunakan {redirect_url} atau telepon {phone}.",
    },
    "hard_close": {
        "en": "Hi {customer_name}, support has moved. Call {phone} or write to us at {redirect_url} "
        "and quote {reference} so we can pick up where we left off.",
        "fr": "Bonjour {customer_name}, notre assistance a déménagé. Appelez le {phone} ou écrivez-nous sur "
        "{redirect_url} en citant {reference}.",
        "id": "Halo {customer_name}, layanan dukungan kami telah pindah. Telepon {phone} atau tulis di "
        "{redirect_url} dengan menyebut {reference}.",
    },
}


class Command(BaseCommand):
    help = "Load demo data (idempotent: does nothing if channels already exist)."

    def add_arguments(self, parser):
        parser.add_argument("--conversations", type=int, default=600)
        parser.add_argument("--seed", type=int, default=20261001)

    def handle(self, *args, conversations=600, seed=20261001, **options):
        if Channel.objects.exists():
            self.stdout.write("Demo data already present; nothing to do.")
            return
        rng = random.Random(seed)
        with transaction.atomic():
            users = self._users()
            channels = self._channels()
            teams = self._teams(channels)
            agents = self._agents(rng, teams)
            self._onboarding(teams, agents)
            self._conversations(rng, channels, conversations)
            self._history(rng, channels)
        self._plans(users, channels, teams, agents)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo loaded: {len(channels)} channels, {len(teams)} teams, {len(agents)} agents, "
                f"{conversations} open conversations. Sign in as maya, arjun, hana, vic or admin "
                f"with the password {DEMO_PASSWORD}."
            )
        )

    def _users(self):
        ensure_roles()
        User = get_user_model()
        users = {}
        for username, full, roles in PEOPLE:
            first, last = full.split(" ", 1)
            user = User.objects.create_user(
                username=username,
                email=f"{username}@lumen.example",
                password=DEMO_PASSWORD,
                first_name=first,
                last_name=last,
                is_staff=username == "admin",
                is_superuser=username == "admin",
            )
            user.groups.set(Group.objects.filter(name__in=roles))
            users[username] = user
        return users

    def _channels(self):
        specs = [
            ("x", "Lumen Support on X", "@LumenSupport"),
            ("youtube", "Lumen YouTube comments", "https://www.youtube.com/@lumen"),
            ("discourse", "Lumen Community forum", "https://community.lumen.example"),
            ("messenger", "Lumen Messenger", "lumen.support"),
            ("phone", "Lumen Phone", "+1 800 555 0199"),
            ("web_form", "Lumen Web form", "https://help.lumen.example/contact"),
            ("chat", "Lumen App chat", "lumen://support"),
        ]
        # The platforms are played by the sandbox (`manage.py serve_sandbox`, started by make run),
        # with the DUSK_CHANNEL_DEMO_* tokens make run sets: the preflight's connection tests and
        # the demo's cutover really reach a platform.
        return {
            kind: Channel.objects.create(
                kind=kind,
                name=name,
                handle=handle,
                webhook_secret_env=f"DUSK_CHANNEL_{kind.upper()}_SECRET",
                **demo_channel(kind, settings.DUSK_SANDBOX_PORT),
                # The forum's announcement goes in its Support category (12); Support and
                # Billing help (13) become read-only at the hard close.
                notice_settings=(
                    {"announcement_category": 12, "read_only_categories": [12, 13]} if kind == "discourse" else {}
                ),
            )
            for kind, name, handle in specs
        }

    def _teams(self, channels):
        teams = {}
        for name, site, zone, langs, count in SOCIAL_TEAMS:
            team = Team.objects.create(
                name=name, site=site, time_zone=zone, languages=langs, skills=["writing", "social"], capacity=count + 5
            )
            team.channels.set([channels["x"], channels["youtube"], channels["discourse"]])
            teams[name] = team
        messenger = Team.objects.create(
            name="Messenger Care",
            site="Dublin",
            time_zone="Europe/Dublin",
            languages=["en", "fr"],
            skills=["writing"],
            capacity=12,
        )
        messenger.channels.set([channels["messenger"]])
        teams[messenger.name] = messenger
        for name, site, zone, langs, skills, capacity in DESTINATION_TEAMS:
            team = Team.objects.create(
                name=name, site=site, time_zone=zone, languages=langs, skills=skills, capacity=capacity
            )
            kind = "phone" if name.startswith("Phone") else ("web_form" if "Web" in name else "chat")
            team.channels.set([channels[kind]])
            teams[name] = team
        return teams

    def _onboarding(self, teams, agents):
        """What an agent's personal page shows about a destination team: its lead (the first
        agent working there today), its shift, where to go on day one and its checklist."""
        first_on = {}
        for assignment in Assignment.objects.filter(agent__in=agents).select_related("team").order_by("id"):
            first_on.setdefault(assignment.team_id, assignment.agent)
        for name, site, _zone, _langs, _skills, _capacity in DESTINATION_TEAMS:
            team = teams[name]
            team.lead = first_on.get(team.pk)
            team.day_one = (
                f"{site} office, reception desk, 09:00: ask for {team.lead.name if team.lead else 'the team lead'}"
            )
            team.shift_start, team.shift_end = time(9, 0), time(17, 30)
            team.save(update_fields=["lead", "day_one", "shift_start", "shift_end"])
            OnboardingItem.objects.bulk_create(
                [
                    OnboardingItem(
                        team=team, position=1, title="Read the team handbook", url="https://help.example.com/handbook"
                    ),
                    OnboardingItem(
                        team=team, position=2, title=f"{name}: tools training", url="https://help.example.com/training"
                    ),
                    OnboardingItem(team=team, position=3, title="Shadow a colleague for one shift"),
                ]
            )

    def _agents(self, rng, teams):
        start = date(2024, 1, 8)
        n = 0
        plan = [(t, c) for t, _s, _z, _l, c in SOCIAL_TEAMS] + [("Messenger Care", 10)]
        plan += list(STAFFED_TODAY.items())
        rows = []
        for team_name, count in plan:
            team = teams[team_name]
            for _ in range(count):
                n += 1
                name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
                langs = list(team.languages[:1]) + [lang for lang in team.languages[1:] if rng.random() < 0.5]
                agent = Agent(
                    employee_id=f"LUM-{n:05d}",
                    name=name,
                    email=f"agent{n:05d}@lumen.example",
                    languages=langs,
                    skills=rng.sample(SKILLS, k=2),
                    site=team.site,
                    time_zone=team.time_zone,
                )
                rows.append((agent, team))
        Agent.objects.bulk_create([a for a, _t in rows])
        Assignment.objects.bulk_create([Assignment(agent=a, team=t, role="Agent", starts_on=start) for a, t in rows])
        return [a for a, _t in rows]

    def _conversations(self, rng, channels, count):
        now = timezone.now()
        retiring = [channels["x"], channels["youtube"], channels["discourse"], channels["messenger"]]
        convs = []
        for i in range(count):
            channel = retiring[i % len(retiring)]
            at = now - timedelta(hours=rng.randint(1, 240))
            thread_id, customer_id = _demo_ids(channel.kind, i)
            convs.append(
                Conversation(
                    channel=channel,
                    platform_thread_id=thread_id,
                    customer_id=customer_id,
                    customer_handle=f"@customer{i}",
                    customer_name=rng.choice(FIRST),
                    locale=rng.choice(["en", "en", "fr", "id"]),
                    opened_at=at,
                    last_message_at=at,
                )
            )
        Conversation.objects.bulk_create(convs)
        messages = Message.objects.bulk_create(
            [
                Message(
                    channel=c.channel,
                    conversation=c,
                    platform_message_id=_demo_message_id(c.channel.kind, c.platform_thread_id),
                    direction="in",
                    author_id=c.customer_id,
                    text="Hello, my order has not arrived yet.",
                    lang=c.locale,
                    created_at=c.opened_at,
                )
                for c in convs
            ]
        )
        _received_when_written(messages)

    def _history(self, rng, channels):
        """A week of answered (closed) conversations, busiest in the European afternoon, so the
        staffing page has real inbound volume to work from."""
        now = timezone.now()
        # Relative volume per hour of day (UTC).
        curve = [1, 1, 1, 1, 1, 2, 3, 5, 7, 8, 9, 9, 10, 10, 11, 12, 12, 11, 9, 7, 5, 3, 2, 1]
        convs = []
        for kind, daily in HISTORY_PER_DAY.items():
            channel = channels[kind]
            for i in range(daily * HISTORY_DAYS):
                day = rng.randint(1, HISTORY_DAYS - 1)  # whole days inside the window, all in the past
                hour = rng.choices(range(24), weights=curve)[0]
                at = (now - timedelta(days=day)).replace(hour=hour, minute=rng.randint(0, 59))
                convs.append(
                    Conversation(
                        channel=channel,
                        platform_thread_id=f"demo-history-{kind}-{i}",
                        customer_id=f"past{kind}{i}",
                        customer_handle=f"@past{i}",
                        customer_name=rng.choice(FIRST),
                        locale=rng.choice(["en", "en", "fr", "id"]),
                        state="closed",
                        opened_at=at,
                        last_message_at=at,
                    )
                )
        Conversation.objects.bulk_create(convs, batch_size=2000)
        messages = Message.objects.bulk_create(
            [
                Message(
                    channel=c.channel,
                    conversation=c,
                    platform_message_id=f"{c.platform_thread_id}-m1",
                    direction="in",
                    author_id=c.customer_id,
                    text="Hi, I need help with my account.",
                    lang=c.locale,
                    created_at=c.opened_at,
                )
                for c in convs
            ],
            batch_size=2000,
        )
        _received_when_written(messages)

    def _plans(self, users, channels, teams, agents):
        maya, arjun, hana = users["maya"], users["arjun"], users["hana"]
        redirects = [
            RedirectInput("phone", "Phone support", "+1 800 555 0199", 0.6),
            RedirectInput("url", "Help centre contact form", "https://help.lumen.example/contact", 0.3),
            RedirectInput("app", "Lumen app chat", "lumen://support", 0.1),
        ]
        la = "America/Los_Angeles"
        year = timezone.now().year + 1
        replies = [AutoReplyInput(k, loc, text) for k, by in REPLIES.items() for loc, text in by.items()]
        social = create_plan(
            actor=maya,
            title="Retire social support: X, YouTube comments and community forum",
            channel_ids=[channels["x"].pk, channels["youtube"].pk, channels["discourse"].pk],
            phases=[
                PhaseInput("notice", date(year, 9, 1), time(0, 0), la),
                PhaseInput("soft_close", date(year, 9, 22), time(0, 0), la),
                PhaseInput("hard_close", date(year, 10, 1), time(0, 0), la),
                PhaseInput("archive", date(year + 1, 1, 4), time(9, 0), la),
            ],
            redirects=redirects,
            auto_replies=replies,
            public_notices=PUBLIC_NOTICES,
        )
        # A small plan due a few minutes from now, so a running worker shows a real cutover.
        soon = (timezone.now() + timedelta(minutes=3)).astimezone(UTC)
        soon = soon.replace(second=0, microsecond=0) + timedelta(minutes=1)
        msgr = create_plan(
            actor=maya,
            title="Retire Messenger support",
            channel_ids=[channels["messenger"].pk],
            phases=[PhaseInput("hard_close", soon.date(), soon.time(), "UTC")],
            redirects=[
                RedirectInput("phone", "Phone support", "+1 800 555 0199", 0.7),
                RedirectInput("url", "Help centre contact form", "https://help.lumen.example/contact", 0.3),
            ],
            auto_replies=[AutoReplyInput("hard_close", loc, REPLIES["hard_close"][loc]) for loc in ("en", "fr", "id")],
            public_notices=[PublicNoticeInput(n.locale, "", n.moved_text) for n in PUBLIC_NOTICES],
        )
        messenger_agents = Agent.objects.filter(
            assignments__team__name="Messenger Care", assignments__ends_on__isnull=True
        ).values_list("pk", flat=True)
        propose_moves(
            actor=hana,
            plan=msgr,
            moves=[MoveRequest(pk, teams["Web Form Desk"], soon.date(), "Web form agent") for pk in messenger_agents],
            source="demo",
        )
        confirm_reassignments(actor=hana, plan=msgr)
        submit_plan(actor=maya, plan=msgr)
        approve_plan(actor=arjun, plan=msgr, comment="Volumes are low; go ahead.")
        update_staffing_inputs(actor=hana, plan=social, volume_window_days=HISTORY_DAYS)
        # HR accepted the suggested destinations for every social care agent and confirmed them,
        # so the big plan could go to the approver (the submit guard checks it).
        accept_suggestion(actor=hana, plan=social, effective_date=date(year, 10, 1))
        confirm_moves(actor=hana, plan=social)
        submit_plan(actor=maya, plan=social)


def _demo_ids(kind: str, i: int) -> tuple[str, str]:
    """(thread id, customer id) of the i-th open demo conversation, shaped as its platform shapes
    them, so the sandbox accepts the hand-off notices of the demo's cutover: X threads are the
    customer's tweet (numeric ids), Discourse threads are topics (numeric)."""
    if kind == "x":
        return str(1_700_000_000_000_000_000 + i), str(900_000_000 + i)
    if kind == "discourse":
        return str(10_000 + i), f"customer{i}"
    return f"demo-{kind}-{i}", f"cust{i}"


def _demo_message_id(kind: str, thread_id: str) -> str:
    """The customer's first message: on X the thread's root tweet itself, on Discourse a post."""
    if kind == "x":
        return thread_id
    if kind == "discourse":
        return str(500_000 + int(thread_id))
    return f"{thread_id}-m1"


def _received_when_written(messages) -> None:
    """A seeded message arrived when its customer wrote it, not when the demo was loaded: the
    channel page's hourly volume counts arrivals (received_at), the message log shows created_at."""
    Message.objects.filter(pk__in=[m.pk for m in messages if m.pk]).update(received_at=F("created_at"))
