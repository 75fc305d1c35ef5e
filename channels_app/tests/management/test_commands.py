import io
from datetime import UTC, datetime, time

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import F

from channels_app.directory.services import create_agent
from channels_app.models import (
    Agent,
    AuditEvent,
    Channel,
    Conversation,
    Message,
    OutboxMessage,
    PlanState,
    SunsetPlan,
    Team,
)
from channels_app.plans.services.plans import AutoReplyInput
from channels_app.platforms.adapters.base import ReplyContext
from channels_app.platforms.adapters.registry import PLATFORMS
from channels_app.tests.support.factories import ChannelFactory
from channels_app.tests.support.helpers import hard_close_plan

pytestmark = pytest.mark.django_db


def _run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_seed_demo_loads_a_realistic_scenario_once():
    output = _run("seed_demo")
    assert "Demo loaded" in output
    assert {"x", "youtube", "discourse"} <= set(Channel.objects.values_list("kind", flat=True))
    social = Agent.objects.filter(assignments__team__name__startswith="Social Care", assignments__ends_on__isnull=True)
    assert 140 <= social.count() <= 160
    assert Conversation.objects.filter(state="open").count() == 600
    plan = SunsetPlan.objects.get(title__startswith="Retire social support")
    hard = plan.phases.get(kind="hard_close")
    assert (hard.local_date.month, hard.local_date.day, hard.time_zone) == (10, 1, "America/Los_Angeles")
    assert set(plan.auto_replies.values_list("locale", flat=True)) == {"en", "fr", "id"}
    assert SunsetPlan.objects.filter(state=PlanState.SCHEDULED).count() == 1
    # Each seeded message arrived when its customer wrote it, not when the demo was loaded: the
    # channel page's "this hour" does not count the whole week.
    inbound = Message.objects.filter(direction="in")
    assert inbound.count() > 600 and not inbound.exclude(received_at=F("created_at")).exists()
    # Each destination team tells the agents moving in who leads it, its shift, where to go on
    # day one and its checklist (the agent's page).
    phone = Team.objects.get(name="Phone APAC")
    assert phone.lead.assignments.filter(team=phone).exists() and "Jakarta" in phone.day_one
    assert (phone.shift_start, phone.shift_end) == (time(9, 0), time(17, 30))
    assert phone.onboarding_items.count() == 3
    counts = (Channel.objects.count(), Agent.objects.count(), AuditEvent.objects.count())
    assert "already present" in _run("seed_demo")
    assert (Channel.objects.count(), Agent.objects.count(), AuditEvent.objects.count()) == counts


def test_every_open_demo_conversation_can_be_handed_off_on_its_platform():
    # The demo's cutover really reaches the sandbox: each conversation's ids have its platform's
    # shape, so the adapter aims a hand-off notice at it (numeric tweets, numeric forum topics).
    _run("seed_demo")
    open_conversations = Conversation.objects.filter(state="open").select_related("channel")
    assert {c.channel.kind for c in open_conversations} == {"x", "youtube", "discourse", "messenger"}
    for conversation in open_conversations:
        platform = PLATFORMS[conversation.channel.kind]
        latest = conversation.messages.order_by("-created_at").first()
        context = ReplyContext(
            thread_id=conversation.platform_thread_id,
            reply_to=latest.platform_message_id,
            author_id=latest.author_id,
            customer_id=conversation.customer_id,
            customer_handle=conversation.customer_handle,
            meta=latest.meta or {},
            reference=conversation.reference,
            channel_name=conversation.channel.name,
        )
        assert platform.reply_target(context), conversation


def _table_counts() -> dict[str, int]:
    with connection.cursor() as cur:
        counts = {}
        for table in connection.introspection.table_names():
            if table.startswith("channels_app_"):
                cur.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)}")
                counts[table] = cur.fetchone()[0]
        return counts


def test_cutover_preview_reports_and_changes_nothing(django_user_model):
    _run("seed_demo")
    plan = SunsetPlan.objects.get(title__startswith="Retire social support")
    # The demo gives every social care agent a destination; someone hired into the team after
    # the plan was submitted has none, and the preview must say so.
    create_agent(
        actor=django_user_model.objects.get(username="hana"),  # the demo's HR coordinator
        employee_id="LUM-NEW01",
        name="New Hire",
        email="new.hire@lumen.example",
        languages=["en"],
        team=Team.objects.get(name="Social Care Dublin"),
    )
    before = _table_counts()
    states = list(Channel.objects.order_by("id").values_list("state", flat=True))
    output = _run("cutover_preview", str(plan.pk))
    assert "open conversations moved to the redirect queue: 450" in output
    assert "channel Lumen Support on X: active -> retired" in output
    assert "affected agent(s) have no destination" in output
    assert "Nothing was changed." in output
    assert _table_counts() == before
    assert list(Channel.objects.order_by("id").values_list("state", flat=True)) == states
    assert not OutboxMessage.objects.exists()


def test_cutover_preview_writes_the_date_in_each_replys_language(manager):
    replies = [
        AutoReplyInput("hard_close", "en", "Closed since {date}."),
        AutoReplyInput("hard_close", "fr", "Fermé depuis le {date}."),
        AutoReplyInput("hard_close", "id", "Ditutup sejak {date}."),
    ]
    at = datetime(2027, 10, 1, 9, 0, tzinfo=UTC)
    plan = hard_close_plan(manager=manager, channels=[ChannelFactory()], at=at, auto_replies=replies)
    output = _run("cutover_preview", str(plan.pk))
    assert "auto-reply [en]: Closed since 1 October 2027." in output
    assert "auto-reply [fr]: Fermé depuis le 1 octobre 2027." in output
    assert "auto-reply [id]: Ditutup sejak 1 Oktober 2027." in output


def test_cutover_preview_of_an_unknown_plan_fails_clearly():
    with pytest.raises(CommandError, match="No sunset plan with id '999'"):
        _run("cutover_preview", "999")


def test_verify_audit_chain_detects_edits_and_deletions():
    _run("seed_demo")
    assert "intact" in _run("verify_audit_chain")
    event = AuditEvent.objects.order_by("id")[3]
    AuditEvent.objects.filter(pk=event.pk).update(actor_label="someone-else")
    with pytest.raises(CommandError, match="tampered"):
        _run("verify_audit_chain")
    AuditEvent.objects.filter(pk=event.pk).update(actor_label=event.actor_label)
    assert "intact" in _run("verify_audit_chain")
    AuditEvent.objects.filter(pk=AuditEvent.objects.order_by("id")[5].pk).delete()
    with pytest.raises(CommandError):
        _run("verify_audit_chain")


def test_poll_channels_polls_imap_mailboxes_and_reports_errors(fake_imap, platform_secrets, monkeypatch):
    from email.message import EmailMessage

    from channels_app.tests.support.inbound_helpers import platform_channel

    monkeypatch.setenv("DUSK_CHANNEL_TEST_IMAP_PASSWORD", fake_imap.password)
    mailbox = platform_channel(
        "email", fake_imap.url(), api_token_env="DUSK_CHANNEL_TEST_IMAP_PASSWORD", name="Mailbox"
    )
    message = EmailMessage()
    message["From"], message["Message-ID"] = "ana@example.com", "<m1@example.com>"
    message.set_content("hello")
    fake_imap.deliver(message)
    assert _run("poll_channels") == "Mailbox (Email): 1 stored, 0 duplicates, 0 replies queued\n"
    fake_imap.refuse_login = True
    with pytest.raises(CommandError, match="1 of 1 polls reported a problem"):
        _run("poll_channels", str(mailbox.pk))
    with pytest.raises(CommandError, match="Not a polled channel"):
        _run("poll_channels", "999999")
