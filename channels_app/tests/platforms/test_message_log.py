"""The channel message log page: inbound and outbound with their states, failures up front."""

import re
from datetime import UTC, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from channels_app.models import AuditEvent, Message, OutboxMessage, OutboxState
from channels_app.tests.support.factories import ChannelFactory, ConversationFactory, UserProfileFactory

pytestmark = pytest.mark.django_db


def _log(channel, n_in: int, states=(OutboxState.SENT,)):
    """n inbound messages, each answered by an outbox row in the given states (cycled)."""
    conversation = ConversationFactory(channel=channel, customer_handle="@ana")
    start = timezone.now() - timedelta(days=1)
    messages = Message.objects.bulk_create(
        [
            Message(
                channel=channel,
                conversation=conversation,
                platform_message_id=str(1000 + i),
                direction="in",
                author_id="42",
                text=f"question {i}",
                lang="en",
                created_at=start + timedelta(minutes=2 * i),
            )
            for i in range(n_in)
        ]
    )
    rows = []
    for i, message in enumerate(messages):
        state = states[i % len(states)]
        sent = state == OutboxState.SENT
        rows.append(
            OutboxMessage(
                channel=channel,
                conversation=conversation,
                in_reply_to=message,
                kind="auto_reply",
                phase_kind="hard_close",
                dedupe_key=f"reply:{channel.pk}:{message.platform_message_id}",
                state=state,
                rendered_text=f"answer {i}",
                platform_response_id=f"18500{i}" if sent else "",
                last_error="HTTP 403: duplicate content" if state == OutboxState.FAILED else "",
                created_at=message.created_at + timedelta(seconds=5),
                sent_at=message.created_at + timedelta(seconds=6) if sent else None,
            )
        )
    OutboxMessage.objects.bulk_create(rows)
    return conversation


def url(channel, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return reverse("channel_messages", args=[channel.pk]) + (f"?{query}" if query else "")


def test_the_log_needs_sign_in_and_a_role(client, outsider):
    channel = ChannelFactory()
    response = client.get(url(channel))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    client.force_login(outsider)
    assert client.get(url(channel)).status_code == 403


def test_an_unknown_channel_is_404(client, viewer):
    client.force_login(viewer)
    assert client.get(reverse("channel_messages", args=[999999])).status_code == 404


def test_a_viewer_sees_inbound_and_outbound_newest_first_with_states(client, viewer):
    channel = ChannelFactory(name="Brand on X")
    conversation = _log(channel, 2, states=(OutboxState.SENT, OutboxState.FAILED))
    client.force_login(viewer)
    response = client.get(url(channel))
    assert response.status_code == 200
    rows = list(response.context["page"].object_list)
    assert [(r["log_direction"], r["body"], r["log_state"]) for r in rows] == [
        ("out", "answer 1", "failed"),
        ("in", "question 1", "received"),
        ("out", "answer 0", "sent"),
        ("in", "question 0", "received"),
    ]
    body = response.content.decode()
    assert "Messages on Brand on X" in body
    assert conversation.reference in body
    assert 'class="log-out log-state-failed"' in body
    assert "The platform refused it (HTTP 403): duplicate content" in body
    assert "1 reply failed permanently." in body
    assert "Queue them again" not in body  # viewers cannot re-queue
    assert '<span class="state state-received">Received</span>' in body  # states by their labels
    assert '<span class="state state-failed">Failed permanently</span>' in body
    assert '<option value="skipped" >Skipped</option>' in body


def test_the_log_names_states_in_the_readers_language(client, viewer):
    channel = ChannelFactory()
    _log(channel, 1, states=(OutboxState.SENT,))
    client.force_login(viewer)
    client.cookies["django_language"] = "fr"
    body = client.get(url(channel)).content.decode()
    assert '<span class="state state-received">Reçu</span>' in body
    assert '<span class="state state-sent">Envoyé</span>' in body


def test_an_empty_channel_says_so(client, viewer):
    client.force_login(viewer)
    assert "No messages on this channel yet." in client.get(url(ChannelFactory())).content.decode()


def test_filters_and_a_bad_filter(client, viewer):
    channel = ChannelFactory()
    _log(channel, 6, states=(OutboxState.SENT, OutboxState.FAILED, OutboxState.SKIPPED))
    client.force_login(viewer)
    failed = client.get(url(channel, state="failed")).context["page"].object_list
    assert [r["log_state"] for r in failed] == ["failed", "failed"]
    inbound = client.get(url(channel, direction="in")).context["page"].object_list
    assert {r["log_direction"] for r in inbound} == {"in"} and len(inbound) == 6
    assert client.get(url(channel, state="pending")).content.decode().count("No messages match this filter.") == 1
    response = client.get(url(channel, state="lost"))
    assert response.status_code == 400
    assert b"Unknown filter" in response.content


def test_the_log_is_paginated(client, viewer):
    channel = ChannelFactory()
    _log(channel, 60)  # 120 rows
    client.force_login(viewer)
    page = client.get(url(channel)).context["page"]
    assert (page.paginator.num_pages, len(page.object_list)) == (3, 50)
    last = client.get(url(channel, page=3)).context["page"]
    assert len(last.object_list) == 20
    assert list(last.object_list)[-1]["body"] == "question 0"


@pytest.mark.parametrize("n", [5, 500])
def test_a_page_costs_the_same_queries_at_any_size(client, viewer, django_assert_num_queries, n):
    channel = ChannelFactory()
    _log(channel, n)
    client.force_login(viewer)
    client.get(reverse("profile"))  # first request of the session stores the person's time zone in it
    # session, user, the user's groups (role check), channel, failed/waiting counts,
    # the paginator's count, the page (one UNION).
    with django_assert_num_queries(7):
        assert client.get(url(channel)).status_code == 200


def test_a_manager_queues_failed_replies_again(client, manager):
    channel = ChannelFactory()
    _log(channel, 4, states=(OutboxState.FAILED, OutboxState.SENT))
    client.force_login(manager)
    assert "Queue them again" in client.get(url(channel)).content.decode()
    response = client.post(reverse("channel_messages_retry_failed", args=[channel.pk]))
    assert response.status_code == 302
    assert response["Location"] == url(channel, state="pending")
    assert OutboxMessage.objects.filter(state=OutboxState.PENDING).count() == 2
    assert OutboxMessage.objects.filter(state=OutboxState.FAILED).count() == 0
    event = AuditEvent.objects.get(action="outbox.retried")
    assert (event.actor, event.after) == (manager, {"requeued": 2})


def test_queueing_again_needs_the_manager_role_post_and_csrf(client, viewer, manager):
    channel = ChannelFactory()
    _log(channel, 2, states=(OutboxState.FAILED,))
    retry = reverse("channel_messages_retry_failed", args=[channel.pk])
    client.force_login(viewer)
    assert client.post(retry).status_code == 403
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(manager)
    assert csrf_client.post(retry).status_code == 403
    client.force_login(manager)
    assert client.get(retry).status_code == 405
    assert OutboxMessage.objects.filter(state=OutboxState.FAILED).count() == 2


@pytest.mark.parametrize("role", ["viewer", "hr_coordinator", "approver"])
def test_queueing_again_is_refused_to_every_other_role_before_the_channel_is_looked_up(client, request, role):
    channel = ChannelFactory()
    _log(channel, 2, states=(OutboxState.FAILED,))
    client.force_login(request.getfixturevalue(role))
    assert client.post(reverse("channel_messages_retry_failed", args=[channel.pk])).status_code == 403
    assert client.post(reverse("channel_messages_retry_failed", args=[channel.pk + 999])).status_code == 403
    assert OutboxMessage.objects.filter(state=OutboxState.FAILED).count() == 2
    assert not AuditEvent.objects.filter(action="outbox.retried").exists()


def test_the_log_writes_utc_as_its_header_says_whatever_the_readers_zone(client, viewer):

    UserProfileFactory(user=viewer, time_zone="Asia/Jakarta")  # UTC+7
    channel = ChannelFactory()
    _log(channel, 1)
    at = Message.objects.get(channel=channel).created_at
    client.force_login(viewer)
    body = client.get(url(channel)).content.decode()
    assert "When (UTC)" in body
    assert at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") in body
    jakarta = at.astimezone(timezone.get_fixed_timezone(7 * 60)).strftime("%Y-%m-%d %H:%M:%S")
    assert jakarta not in body


def test_skip_and_failure_reasons_are_shown_in_the_readers_language(client, viewer, retired_x_on_fake_x, fake_x):
    """Replies the real sender skipped (a second message from the same customer in one batch) or
    that the platform refused show why, in English, French and Indonesian."""
    from channels_app.platforms.services.outbox import send_due_replies
    from channels_app.tests.support.inbound_helpers import inbound, receive

    channel = retired_x_on_fake_x
    receive(channel, inbound("9001", customer="77"), inbound("9002", customer="77"), inbound("9003", customer="78"))
    fake_x.fail_next(401, body={"title": "Unauthorized"}, path="/2/tweets", times=1)
    send_due_replies(worker_id="t")
    states = sorted(OutboxMessage.objects.filter(in_reply_to__isnull=False).values_list("state", flat=True))
    assert states == ["failed", "sent", "skipped"], states

    client.force_login(viewer)
    english = client.get(url(channel, direction="out")).content.decode()
    skipped = OutboxMessage.objects.get(state="skipped")
    assert skipped.last_error.startswith("cooldown: reply #")
    first_to_77 = OutboxMessage.objects.get(in_reply_to__platform_message_id="9001").pk
    skipped_row = re.search(r'<tr class="log-out log-state-skipped">.*?</tr>', english, re.S).group(0)
    details = re.search(r'<td class="detail">(.*?)</td>', skipped_row, re.S).group(1)
    assert f"Cooldown: reply #{first_to_77} to the same customer" in details, details
    assert "The platform did not accept the credentials (HTTP 401): Unauthorized" in english

    client.cookies["django_language"] = "fr"
    french = client.get(url(channel, direction="out")).content.decode()
    assert "Délai entre réponses : la réponse n° " in french
    assert "La plateforme n’a pas accepté les identifiants (HTTP 401) : Unauthorized" in french
    assert "cooldown: reply" not in french

    client.cookies["django_language"] = "id"
    indonesian = client.get(url(channel, direction="out")).content.decode()
    assert "Jeda balasan: balasan #" in indonesian
    assert "Platform tidak menerima kredensial (HTTP 401): Unauthorized" in indonesian


@pytest.mark.parametrize(
    ("stored", "language", "shown"),
    [
        (
            "gave up after 5 attempts: HTTP 503 Service Unavailable",
            "fr",
            "Abandon après 5 tentatives : La plateforme a rencontré une erreur (HTTP 503) : Service Unavailable",
        ),
        (
            "gave up after 1 attempts: timeout: ReadTimeout()",
            "en",
            "Gave up after 1 attempt: The platform did not answer in time.",
        ),
        (
            "the plan has no soft close auto-reply",
            "fr",
            "Le plan n’a pas de réponse automatique pour la phase « fermeture douce ».",
        ),
        (
            "no sunset plan covers this channel: nothing to say",
            "id",
            "Tidak ada rencana penutupan yang mencakup kanal ini: tidak ada yang perlu disampaikan.",
        ),
        ("a platform's own words", "fr", "a platform's own words"),
    ],
)
def test_stored_reasons_are_said_again_in_the_readers_language(stored, language, shown):
    from django.utils import translation

    from channels_app.platforms.selectors import reason_text

    with translation.override(language):
        assert reason_text(stored) == shown
