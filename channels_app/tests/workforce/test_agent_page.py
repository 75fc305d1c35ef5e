"""The affected agent's personal page: the signed link in the move email, what it shows, the
agent's answers and checklist, refusals, HR's reply and new link, reminders."""

import base64
import json
import re
from datetime import time, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from channels_app.audit.services import verify_chain
from channels_app.models import (
    AgentAnswer,
    AgentMessage,
    AgentNotice,
    AuditEvent,
    ChecklistTick,
    NotificationState,
    OnboardingItem,
    Reassignment,
)
from channels_app.tests.support.factories import TeamFactory
from channels_app.tests.support.helpers import submit_and_approve
from channels_app.workforce.selectors import acknowledgements, page_token
from channels_app.workforce.services.agent_page import (
    queue_agent_reminders,
    send_agent_messages,
    send_new_link,
)
from channels_app.workforce.services.moves import (
    accept_suggestion,
    assign_agents,
    confirm_moves,
    notify_agents,
    send_agent_notices,
)

LINK = re.compile(r"(https?://\S+/agent/(\S+)/)")


@pytest.fixture
def told(world, plan, manager, approver, hr_coordinator, smtp_settings):
    """Every agent placed, confirmed and emailed; Dewi prefers Indonesian, Phone APAC has a
    checklist and a lead, and a Jakarta chat team has free seats."""
    TeamFactory(name="Chat Jakarta", capacity=4, languages=["id"], site="Jakarta", time_zone="Asia/Jakarta")
    apac = world.phone_apac
    apac.lead = world.agents["Eko"]
    apac.day_one = "Menara BCA, floor 12, ask for Eko"
    apac.shift_start, apac.shift_end = time(8), time(16)
    apac.save()
    OnboardingItem.objects.create(
        team=apac, position=1, title="Phone system training", url="https://learn.example.com/phone"
    )
    OnboardingItem.objects.create(team=apac, position=2, title="Collect your headset")
    dewi = world.agents["Dewi"]
    dewi.preferred_language = "id"
    dewi.save()
    accept_suggestion(actor=hr_coordinator, plan=plan)
    confirm_moves(actor=hr_coordinator, plan=plan)
    plan = submit_and_approve(plan, manager=manager, approver=approver)
    notify_agents(actor=hr_coordinator, plan=plan)
    assert send_agent_notices() == 5
    return plan


def _link(smtp, email: str) -> str:
    mail = [m.message for m in smtp.messages if m.message["To"] == email]
    found = LINK.findall(mail[-1].get_content())
    assert found, mail[-1].get_content()
    return found[-1][0].replace("http://127.0.0.1:8000", "")


def _move(world, name: str) -> Reassignment:
    return Reassignment.objects.get(agent=world.agents[name])


def _csrf_client() -> Client:
    return Client(enforce_csrf_checks=True)


def _post(client: Client, url: str, data: dict):
    page = client.get(url.split("answer/")[0].split("checklist/")[0])
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    return client.post(url, {**data, "csrfmiddlewaretoken": token})


def test_the_move_email_links_to_the_agents_page_in_their_language(world, told, smtp_settings):
    url = _link(smtp_settings, world.agents["Dewi"].email)
    page = Client().get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert page["Content-Language"] == "id" and page["Referrer-Policy"] == "same-origin"
    assert "Phone APAC" in html and "Menara BCA, floor 12, ask for Eko" in html
    assert "Phone system training" in html and 'href="https://learn.example.com/phone"' in html
    assert "08:00–16:00 (Asia/Jakarta)" in html  # the team's shift in the agent's zone
    assert "Chat Jakarta" in html  # a team with free seats that fits her languages
    assert "Phone EMEA" not in html  # no seat for an Indonesian speaker there
    # Chen (English) reads English; the shift is converted to his zone when it differs.
    chen = Client().get(_link(smtp_settings, world.agents["Chen"].email))
    assert chen["Content-Language"] == "en" and "Your move to Phone EMEA" in chen.content.decode()


def test_the_agent_ticks_an_item_and_raises_a_concern_as_themselves(world, told, smtp_settings):
    url = _link(smtp_settings, world.agents["Dewi"].email)
    client = _csrf_client()
    item = OnboardingItem.objects.get(title="Phone system training")
    assert _post(client, f"{url}checklist/{item.pk}/", {"done": "1"}).status_code == 302
    response = _post(client, f"{url}answer/", {"answer": "concern", "concern": "Can I keep my Friday off?"})
    assert response.status_code == 302
    move = _move(world, "Dewi")
    assert ChecklistTick.objects.filter(reassignment=move, item=item).exists()
    answer = AgentAnswer.objects.get(reassignment=move)
    assert (answer.answer, answer.concern) == ("concern", "Can I keep my Friday off?")
    events = AuditEvent.objects.filter(action__startswith="agent.").order_by("id")
    assert [e.action for e in events] == ["agent.checklist_ticked", "agent.answered"]
    assert {(e.actor_kind, e.actor_id, e.actor_agent_id, e.actor_label) for e in events} == {
        ("agent", None, world.agents["Dewi"].pk, f"agent:{world.agents['Dewi'].employee_id}")
    }
    assert verify_chain() == []
    page = client.get(url).content.decode()
    assert "Can I keep my Friday off?" in page and "1 dari 2" in page


def test_every_answer_needs_the_csrf_token(world, told, smtp_settings):
    url = _link(smtp_settings, world.agents["Dewi"].email)
    response = _csrf_client().post(f"{url}answer/", {"answer": "accepted"})
    assert response.status_code == 403
    assert not AgentAnswer.objects.exists()


def test_the_agent_may_prefer_only_a_team_with_a_free_seat_in_their_languages(world, told, smtp_settings):
    url = _link(smtp_settings, world.agents["Dewi"].email)
    client = _csrf_client()
    emea = world.phone_emea.pk
    refused = _post(client, f"{url}answer/", {"answer": "other_team", "preferred_team": emea})
    assert refused.status_code == 422 and not AgentAnswer.objects.exists()
    chat = TeamFactory._meta.model.objects.get(name="Chat Jakarta").pk
    assert _post(client, f"{url}answer/", {"answer": "other_team", "preferred_team": chat}).status_code == 302
    assert AgentAnswer.objects.get().preferred_team_id == chat


@pytest.mark.parametrize("case", ["tampered", "expired", "rotated", "other_agent", "garbage"])
def test_a_bad_link_is_refused_with_a_clear_page_and_changes_nothing(
    case, world, told, smtp_settings, hr_coordinator, settings
):
    url = _link(smtp_settings, world.agents["Dewi"].email)
    token = url.rstrip("/").rsplit("/", 1)[1]
    dewi, eko = _move(world, "Dewi"), _move(world, "Eko")
    if case == "tampered":
        token = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    elif case == "expired":
        settings.DUSK_AGENT_LINK_MAX_AGE = 60
        token = page_token(
            move_id=dewi.pk,
            agent_id=dewi.agent_id,
            secret=dewi.agent.page_secret,
            issued_at=timezone.now() - timedelta(minutes=5),
        )
    elif case == "rotated":
        send_new_link(actor=hr_coordinator, plan=told, agent_id=dewi.agent_id)
    elif case == "other_agent":
        # Eko's move id with Dewi's signature part: the signature no longer matches.
        value, rest = token.split(":", 1)
        data = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        data["m"], data["a"] = eko.pk, eko.agent_id
        forged = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")
        token = f"{forged}:{rest}"
    else:
        token = "not-a-link"
    changes = AuditEvent.objects.exclude(action__startswith="security.")  # a refused POST is logged
    before = changes.count()
    client = Client()
    page = client.get(reverse("agent_page", args=[token]))
    assert page.status_code == 403
    text = page.content.decode()
    assert "This link does not open a page" in text and "Nothing was changed" in text
    assert "Phone APAC" not in text and world.agents["Dewi"].name not in text
    answer = client.post(reverse("agent_page_answer", args=[token]), {"answer": "accepted"})
    assert answer.status_code == 403
    assert not AgentAnswer.objects.exists() and changes.count() == before
    if case == "expired":
        assert "This link has expired." in text
    if case == "rotated":
        # The new link, sent by email, opens the page.
        assert send_agent_messages() == 1
        assert Client().get(_link(smtp_settings, world.agents["Dewi"].email)).status_code == 200


def test_answers_are_rate_limited(world, told, smtp_settings, settings):
    settings.DUSK_AGENT_PAGE_POSTS_PER_HOUR = 3
    url = _link(smtp_settings, world.agents["Chen"].email)
    client = Client()
    codes = [client.post(f"{url}answer/", {"answer": "accepted"}).status_code for _ in range(4)]
    assert codes == [302, 302, 302, 429]
    assert AuditEvent.objects.filter(action="agent.answered").count() == 3


def test_the_page_shows_only_its_own_agents_data(world, told, smtp_settings):
    dewi_url = _link(smtp_settings, world.agents["Dewi"].email)
    eko_url = _link(smtp_settings, world.agents["Eko"].email)
    _post(_csrf_client(), f"{dewi_url}answer/", {"answer": "concern", "concern": "Dewi's private worry"})
    dewi, eko = Client().get(dewi_url).content.decode(), Client().get(eko_url).content.decode()
    assert world.agents["Dewi"].name in dewi and world.agents["Eko"].name in eko
    for secret in ("Dewi's private worry", world.agents["Dewi"].email, world.agents["Dewi"].employee_id):
        assert secret not in eko
    # Eko leads Phone APAC: Dewi's page names him and his email as her lead, nothing else of his.
    assert world.agents["Eko"].employee_id not in dewi and "Hello Eko" not in dewi
    # The same page for both, but for what is theirs.
    assert dewi.replace(world.agents["Dewi"].name, "X") != eko.replace(world.agents["Eko"].name, "X")


def test_hr_replies_from_the_board_and_the_agent_is_told_once(
    world, told, smtp_settings, hr_coordinator, client, viewer
):
    url = _link(smtp_settings, world.agents["Dewi"].email)
    _post(_csrf_client(), f"{url}answer/", {"answer": "concern", "concern": "Can I keep my Friday off?"})
    board = reverse("plan_reassignments", args=[told.pk])
    client.force_login(hr_coordinator)
    listed = client.get(board, {"status": "concern"}).content.decode()
    assert "Can I keep my Friday off?" in listed and world.agents["Chen"].name not in listed
    no_answer = client.get(board, {"status": "no_answer"}).content.decode()
    assert world.agents["Chen"].name in no_answer and "Can I keep my Friday off?" not in no_answer
    reply = reverse("plan_reassignments_reply", args=[told.pk])
    assert client.post(reply, {"agent": world.agents["Dewi"].pk, "text": ""}).status_code == 422
    response = client.post(reply, {"agent": world.agents["Dewi"].pk, "text": "Yes, Fridays stay off."})
    assert response.status_code == 302
    sent_before = len(smtp_settings.messages)
    assert send_agent_messages() == 1 and send_agent_messages() == 0
    assert len(smtp_settings.messages) == sent_before + 1
    assert "Yes, Fridays stay off." in smtp_settings.messages[-1].message.get_content()
    assert "Yes, Fridays stay off." in Client().get(url).content.decode()
    # A viewer may look but not reply.
    client.force_login(viewer)
    assert client.post(reply, {"agent": world.agents["Dewi"].pk, "text": "x"}).status_code == 403


def test_reminders_go_once_per_offset_and_the_last_lists_the_agent_for_a_conversation(
    world, told, smtp_settings, settings
):
    settings.DUSK_AGENT_REMINDER_OFFSETS = [3600, 7200]
    url = _link(smtp_settings, world.agents["Chen"].email)
    _post(_csrf_client(), f"{url}answer/", {"answer": "accepted"})
    sent_at = AgentNotice.objects.order_by("sent_at").first().sent_at
    assert queue_agent_reminders(now=sent_at + timedelta(minutes=30)) == 0
    assert queue_agent_reminders(now=sent_at + timedelta(minutes=61)) == 4  # everyone but Chen
    assert queue_agent_reminders(now=sent_at + timedelta(minutes=62)) == 0
    assert send_agent_messages() == 4
    assert acknowledgements(told).needs_conversation == 0
    assert queue_agent_reminders(now=sent_at + timedelta(hours=3)) == 4
    assert send_agent_messages() == 4 and send_agent_messages() == 0
    assert AgentMessage.objects.filter(state=NotificationState.SENT).count() == 8
    ack = acknowledgements(told)
    assert (ack.told, ack.accepted, ack.no_answer, ack.needs_conversation) == (5, 1, 4, 4)
    dewi = [m.message for m in smtp_settings.messages if m.message["To"] == world.agents["Dewi"].email]
    assert dewi[-1]["Subject"].startswith("[Dusk] Pengingat")


def test_a_changed_destination_reaches_the_agent_once_and_the_page_follows(world, told, smtp_settings, hr_coordinator):
    url = _link(smtp_settings, world.agents["Dewi"].email)
    _post(_csrf_client(), f"{url}answer/", {"answer": "concern", "concern": "Can I stay on chat?"})
    assert acknowledgements(told).concerns == 1
    assign_agents(actor=hr_coordinator, plan=told, agent_ids=world.ids("Dewi"), to_team="Chat Jakarta", confirm=True)
    # Her concern was about Phone APAC: she has not answered about Chat Jakarta yet.
    ack = acknowledgements(told)
    assert (ack.concerns, ack.no_answer) == (0, 5)
    notify_agents(actor=hr_coordinator, plan=told, agent_ids=world.ids("Dewi"))
    notify_agents(actor=hr_coordinator, plan=told, agent_ids=world.ids("Dewi"))
    assert send_agent_notices() == 1 and send_agent_notices() == 0
    page = Client().get(url).content.decode()  # the old link still opens the (changed) move
    assert "Perpindahan Anda ke Chat Jakarta" in page
    assert "tentang Phone APAC, sebelum perpindahan Anda berubah" in page


def test_the_plan_page_counts_the_agents_answers(world, told, smtp_settings, client, viewer):
    _post(_csrf_client(), f"{_link(smtp_settings, world.agents['Chen'].email)}answer/", {"answer": "accepted"})
    _post(
        _csrf_client(),
        f"{_link(smtp_settings, world.agents['Dewi'].email)}answer/",
        {"answer": "concern", "concern": "Night shifts?"},
    )
    client.force_login(viewer)
    html = client.get(reverse("plan_detail", args=[told.pk])).content.decode()
    assert "1 accepted, 1 concerns, 0 prefer another team, 3 no answer" in html
