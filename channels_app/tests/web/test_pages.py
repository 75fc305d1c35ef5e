"""The portal's pages: roles, validation next to the field, the wizard, the
four eyes, the run page, the audit log, time zones, languages and the CSP."""

import logging
import re
from datetime import date, time, timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone, translation

from channels_app.core import textrules
from channels_app.core.zones import local_to_instant
from channels_app.models import AuditEvent, PlanDraft, PlanState, RunState, SunsetPlan, UserProfile
from channels_app.plans.selectors import diff_snapshots
from channels_app.plans.services.drafts import finish_plan_draft, open_plan_draft, save_plan_draft
from channels_app.plans.services.plans import reject_plan, submit_plan
from channels_app.templatetags.dusk import optional_url
from channels_app.tests.support.factories import (
    AgentFactory,
    AssignmentFactory,
    ChannelFactory,
    CutoverRunFactory,
    TeamFactory,
    UserProfileFactory,
)
from channels_app.tests.support.helpers import approved_plan, hard_close_plan

pytestmark = pytest.mark.django_db

PAGES = ["home", "channel_list", "plan_new", "approvals", "audit_log", "profile"]


def body(response) -> str:
    return response.content.decode()


# --- access --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PAGES)
def test_every_page_asks_to_sign_in_first(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", PAGES)
def test_a_signed_in_person_without_a_role_is_refused_everywhere(client, outsider, name):
    client.force_login(outsider)
    response = client.get(reverse(name))
    assert response.status_code == 403
    assert "Your role does not allow" in body(response)


def test_a_viewer_reads_but_cannot_draft_or_approve(client, viewer, manager):
    plan = hard_close_plan(manager=manager, channels=[ChannelFactory()])
    client.force_login(viewer)
    assert client.get(reverse("plan_detail", args=[plan.pk])).status_code == 200
    assert client.get(reverse("plan_new")).status_code == 403
    assert client.get(reverse("approvals")).status_code == 403
    assert client.post(reverse("plan_submit", args=[plan.pk])).status_code == 403
    plan.refresh_from_db()
    assert plan.state == PlanState.DRAFT
    assert "New sunset" not in body(client.get(reverse("home")))


# --- security headers and markup --------------------------------------------------------------


def test_pages_carry_a_strict_content_security_policy(client, manager):
    client.force_login(manager)
    policy = client.get(reverse("home"))["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy


def test_pages_have_no_inline_script_style_or_hx_on(client, manager, approver):
    channel = ChannelFactory()
    plan = approved_plan(manager=manager, approver=approver, channels=[channel])
    client.force_login(manager)
    urls = [
        reverse("home"),
        reverse("channel_list"),
        reverse("channel_detail", args=[channel.pk]),
        reverse("plan_detail", args=[plan.pk]),
        reverse("audit_log"),
        reverse("profile"),
        *(reverse("plan_new") + f"?step={s}" for s in ("channels", "phases", "redirects", "replies")),
    ]
    for url in urls:
        html = body(client.get(url))
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url
        assert not re.search(r"\sstyle=|<style", html), url
        assert "hx-on" not in html and "javascript:" not in html, url
    assert '"allowEval": false' in html and '"includeIndicatorStyles": false' in html


def test_csp_reports_are_accepted_and_logged(client, caplog):
    with caplog.at_level(logging.WARNING, logger="dusk.csp"):
        response = client.post(
            reverse("csp_report"),
            data='{"csp-report": {"violated-directive": "style-src"}}',
            content_type="application/csp-report",
        )
    assert response.status_code == 204
    assert "style-src" in caplog.text


def test_links_to_pages_of_other_parts_appear_only_once_they_exist():
    assert optional_url("home") == "/"
    assert optional_url("no_such_page_yet", 1) == ""


# --- the wizard -----------------------------------------------------------------------------------


def _wizard(client, step: str, data: dict, plan=None, action: str = "next"):
    url = reverse("plan_edit", args=[plan.pk]) if plan else reverse("plan_new")
    return client.post(url, {"step": step, "action": action, **data})


def _rows(prefix: str, rows: list[dict]) -> dict:
    data = {f"{prefix}-TOTAL_FORMS": str(len(rows)), f"{prefix}-INITIAL_FORMS": "0"}
    for i, row in enumerate(rows):
        data |= {f"{prefix}-{i}-{k}": v for k, v in row.items()}
    return data


def test_wizard_reports_missing_fields_next_to_them_and_keeps_what_was_typed(client, manager):
    ChannelFactory(name="Brand on X")
    client.force_login(manager)
    response = _wizard(client, "channels", {"title": "", "default_locale": "en"})
    assert response.status_code == 422
    html = body(response)
    assert re.search(r'id="title-error">This field is required', html)
    assert re.search(r'id="channels-error">Choose at least one channel', html)
    assert not SunsetPlan.objects.exists()
    response = _wizard(client, "channels", {"title": "Half typed", "default_locale": "en"})
    assert PlanDraft.objects.get(author=manager).data["title"] == "Half typed"


def test_wizard_refuses_a_channel_already_in_another_open_plan(client, manager):
    channel = ChannelFactory(name="Brand on X")
    hard_close_plan(manager=manager, channels=[channel], title="First plan")
    client.force_login(manager)
    response = _wizard(client, "channels", {"title": "Second", "channels": [channel.pk], "default_locale": "en"})
    assert response.status_code == 422
    assert "Already in another open plan: Brand on X (“First plan”)" in body(response)


def test_wizard_refuses_a_time_that_daylight_saving_skips(client, manager):
    client.force_login(manager)
    year = timezone.now().year + 1
    # Europe/Paris jumps from 02:00 to 03:00 on the last Sunday of March.
    last_sunday = max(date(year, 3, d) for d in range(25, 32) if date(year, 3, d).weekday() == 6)
    rows = [
        {
            "kind": "hard_close",
            "local_date": last_sunday.isoformat(),
            "local_time": "02:30",
            "time_zone": "Europe/Paris",
        }
    ]
    response = _wizard(client, "phases", _rows("phases", rows))
    assert response.status_code == 422
    assert "does not exist in Europe/Paris" in body(response)
    # The live preview of the row says the same while typing.
    draft = PlanDraft.objects.get(author=manager)
    preview = client.post(reverse("plan_draft_instant", args=[draft.pk]), {"row": "0", **_rows("phases", rows)})
    assert "does not exist in Europe/Paris" in body(preview)


def test_wizard_refuses_phases_out_of_order_and_unknown_zones(client, manager):
    client.force_login(manager)
    later = (timezone.now() + timedelta(days=30)).date()
    rows = [
        {"kind": "hard_close", "local_date": later.isoformat(), "local_time": "09:00", "time_zone": "UTC"},
        {
            "kind": "notice",
            "local_date": (later + timedelta(days=1)).isoformat(),
            "local_time": "09:00",
            "time_zone": "UTC",
        },
        {
            "kind": "archive",
            "local_date": (later + timedelta(days=60)).isoformat(),
            "local_time": "09:00",
            "time_zone": "Mars/Olympus",
        },
    ]
    html = body(_wizard(client, "phases", _rows("phases", rows)))
    assert "Unknown time zone “Mars/Olympus”" in html
    rows[2]["time_zone"] = "UTC"
    html = body(_wizard(client, "phases", _rows("phases", rows)))
    assert "Hard close must come after Notice." in html


def test_phase_preview_shows_the_instant_in_the_viewers_zone_and_utc(client, manager):
    UserProfileFactory(user=manager, time_zone="Asia/Jakarta")
    client.force_login(manager)
    draft = open_plan_draft(actor=manager)
    day = (timezone.now() + timedelta(days=40)).date()
    rows = [{"kind": "hard_close", "local_date": day.isoformat(), "local_time": "00:00", "time_zone": "Europe/London"}]
    html = body(client.post(reverse("plan_draft_instant", args=[draft.pk]), {"row": "0", **_rows("phases", rows)}))
    assert "WIB" in html  # Jakarta time for the viewer
    expected = local_to_instant(day, time(0, 0), "Europe/London")
    assert f"({expected:%Y-%m-%d %H:%M} UTC)" in html


def test_reply_preview_counts_like_the_service_validates(client, manager):
    x = ChannelFactory(kind="x", name="Brand on X")
    forum = ChannelFactory(kind="discourse", name="Brand forum")
    client.force_login(manager)
    draft = open_plan_draft(actor=manager)
    save_plan_draft(actor=manager, draft=draft, data={"channel_ids": [x.pk, forum.pk]})
    text = "Hi {customer_name}, see https://help.example.com/a/very/long/path/that/counts/as/23 or call {phone}."
    html = body(client.post(reverse("plan_draft_preview", args=[draft.pk]), {"row": "0", "replies-0-text": text}))
    worst = textrules.render(text, textrules.WORST_CASE_SAMPLES)
    assert f"{textrules.weighted_length(worst)} / 280 weighted characters" in html
    assert f"{len(worst)} / 32000 characters" in html
    too_long = "é" * 200 + " 🙂" * 50
    html = body(client.post(reverse("plan_draft_preview", args=[draft.pk]), {"row": "0", "replies-0-text": too_long}))
    assert 'class="counter over"' in html and "Too long for X" in html


def test_reply_preview_of_an_x_channel_shows_the_direct_message_limit_too(client, manager):
    x = ChannelFactory(kind="x", name="Brand on X")
    client.force_login(manager)
    draft = open_plan_draft(actor=manager)
    save_plan_draft(actor=manager, draft=draft, data={"channel_ids": [x.pk]})
    text = "Hi {customer_name}, support moved: {redirect_url}"
    html = body(client.post(reverse("plan_draft_preview", args=[draft.pk]), {"row": "0", "replies-0-text": text}))
    worst = textrules.render(text, textrules.WORST_CASE_SAMPLES)
    assert f"{textrules.weighted_length(worst)} / 280 weighted characters" in html
    assert "X direct messages" in html and f"{len(worst)} / 10000 characters" in html


def test_autosave_keeps_rows_as_typed(client, manager):
    client.force_login(manager)
    draft = open_plan_draft(actor=manager)
    rows = [{"kind": "url", "label": "Help", "value": "https://help.example.com", "expected_share": "40"}]
    response = client.post(
        reverse("plan_draft_autosave", args=[draft.pk]), {"step": "redirects", **_rows("redirects", rows)}
    )
    assert response.status_code == 200 and "Draft saved at" in body(response)
    draft.refresh_from_db()
    assert draft.data["redirects"] == [
        {"kind": "url", "label": "Help", "value": "https://help.example.com", "expected_share": 0.4}
    ]
    # Coming back to the step shows the share as the percentage typed.
    assert 'value="40"' in body(client.get(reverse("plan_new") + "?step=redirects"))


def test_someone_elses_draft_is_not_reachable(client, manager, other_manager):
    draft = open_plan_draft(actor=other_manager)
    client.force_login(manager)
    assert client.post(reverse("plan_draft_autosave", args=[draft.pk]), {"step": "channels"}).status_code == 404


def test_walking_the_wizard_creates_the_plan_through_the_services(client, manager):
    x = ChannelFactory(kind="x", name="Brand on X")
    client.force_login(manager)
    at = (timezone.now() + timedelta(days=20)).date()
    assert (
        _wizard(client, "channels", {"title": "Retire X", "channels": [x.pk], "default_locale": "en"}).status_code
        == 302
    )
    phases = [{"kind": "hard_close", "local_date": at.isoformat(), "local_time": "09:00", "time_zone": "Europe/Paris"}]
    assert _wizard(client, "phases", _rows("phases", phases)).status_code == 302
    redirects = [
        {"kind": "phone", "label": "Phone", "value": "+33 1 23 45 67 89", "expected_share": "60"},
        {"kind": "url", "label": "Web", "value": "not a url", "expected_share": "40"},
    ]
    response = _wizard(client, "redirects", _rows("redirects", redirects))
    assert response.status_code == 422 and "is not an http(s) URL" in body(response)
    redirects[1]["value"] = "https://help.example.com"
    assert _wizard(client, "redirects", _rows("redirects", redirects)).status_code == 302
    # A hard close without a reply in the default language is refused on this step.
    response = _wizard(
        client,
        "replies",
        _rows("replies", [{"phase_kind": "hard_close", "locale": "fr", "text": "Bonjour {customer_name}"}]),
    )
    assert response.status_code == 422 and "Write the Hard close reply in the default language (en)" in body(response)
    replies = [{"phase_kind": "hard_close", "locale": "en", "text": "Support moved: {redirect_url} ({reference})"}]
    response = _wizard(client, "replies", _rows("replies", replies))
    plan = SunsetPlan.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("plan_detail", args=[plan.pk])
    assert plan.state == PlanState.DRAFT and plan.author == manager
    phase = plan.phases.get()
    assert (phase.time_zone, phase.local_time.hour) == ("Europe/Paris", 9)
    assert list(plan.redirects.values_list("expected_share", flat=True)) == [0.6, 0.4]
    assert AuditEvent.objects.filter(action="plan.created", object_id=str(plan.pk)).exists()
    assert not PlanDraft.objects.exists()
    # The plan page shows the impact and offers to submit.
    html = body(client.get(reverse("plan_detail", args=[plan.pk])))
    assert "Conversations to move" in html and reverse("plan_submit", args=[plan.pk]) in html
    assert f"{plan.channels.get().name} Active → Retired" in html  # states by their labels


def test_editing_a_plan_starts_from_its_content_and_writes_a_new_version(client, manager):
    plan = hard_close_plan(manager=manager, channels=[ChannelFactory()], title="Old title")
    client.force_login(manager)
    html = body(client.get(reverse("plan_edit", args=[plan.pk])))
    assert 'value="Old title"' in html
    channel_id = plan.channels.get().pk
    _wizard(client, "channels", {"title": "New title", "channels": [channel_id], "default_locale": "en"}, plan=plan)
    draft = PlanDraft.objects.get(plan=plan)
    client.post(
        reverse("plan_edit", args=[plan.pk]),
        {"step": "replies", "action": "next", **_rows("replies", draft.data["auto_replies"])},
    )
    plan.refresh_from_db()
    assert (plan.title, plan.version) == ("New title", 2)


def test_a_submitted_plan_cannot_be_edited(client, manager):
    plan = hard_close_plan(manager=manager, channels=[ChannelFactory()])
    submit_plan(actor=manager, plan=plan)
    client.force_login(manager)
    assert client.get(reverse("plan_edit", args=[plan.pk])).status_code == 404


def test_submitting_an_incomplete_plan_says_what_is_missing(client, manager):
    plan = hard_close_plan(manager=manager, channels=[ChannelFactory()], auto_replies=[], redirects=[])
    client.force_login(manager)
    response = client.post(reverse("plan_submit", args=[plan.pk]), follow=True)
    assert "Write the Hard close auto-reply" in body(response)
    plan.refresh_from_db()
    assert plan.state == PlanState.DRAFT


# --- four eyes ---------------------------------------------------------------------------------------


@pytest.fixture
def manager_who_approves(db, django_user_model):
    user = django_user_model.objects.create_user(username="both", password="x")
    user.groups.set(Group.objects.filter(name__in=["manager", "approver"]))
    return user


def test_plan_cannot_be_approved_by_its_author_from_the_page(client, manager_who_approves):
    plan = hard_close_plan(manager=manager_who_approves, channels=[ChannelFactory()])
    submit_plan(actor=manager_who_approves, plan=plan)
    client.force_login(manager_who_approves)
    page = body(client.get(reverse("approval_review", args=[plan.pk])))
    assert "you cannot approve it" in page and reverse("plan_approve", args=[plan.pk]) not in page
    response = client.post(reverse("plan_approve", args=[plan.pk]))
    assert response.status_code == 403
    plan.refresh_from_db()
    assert plan.state == PlanState.PENDING_APPROVAL


def test_sending_back_needs_a_comment_next_to_the_field(client, manager, approver):
    plan = hard_close_plan(manager=manager, channels=[ChannelFactory()])
    submit_plan(actor=manager, plan=plan)
    client.force_login(approver)
    response = client.post(reverse("plan_send_back", args=[plan.pk]), {"comment": "  "})
    assert response.status_code == 422
    assert re.search(r'id="send-back-error">Say what must change', body(response))
    plan.refresh_from_db()
    assert plan.state == PlanState.PENDING_APPROVAL
    response = client.post(reverse("plan_send_back", args=[plan.pk]), {"comment": "One more week"})
    assert response.status_code == 302
    plan.refresh_from_db()
    assert (plan.state, plan.review_comment) == (PlanState.DRAFT, "One more week")


def test_approving_schedules_the_plan_and_keeps_the_approved_version(client, manager, approver):
    plan = hard_close_plan(manager=manager, channels=[ChannelFactory()])
    submit_plan(actor=manager, plan=plan)
    client.force_login(approver)
    assert "First review" in body(client.get(reverse("approval_review", args=[plan.pk])))
    response = client.post(reverse("plan_approve", args=[plan.pk]), {"comment": "Fine"})
    assert response.status_code == 302 and response["Location"] == reverse("approvals")
    plan.refresh_from_db()
    assert (plan.state, plan.approved_by) == (PlanState.SCHEDULED, approver)
    event = AuditEvent.objects.get(action="plan.approved")
    assert event.after["snapshot"]["title"] == plan.title


def test_review_shows_what_changed_since_the_last_review(client, manager, approver):
    x, forum = ChannelFactory(name="Brand on X"), ChannelFactory(kind="discourse", name="Brand forum")
    plan = hard_close_plan(manager=manager, channels=[x])
    submit_plan(actor=manager, plan=plan)
    reject_plan(actor=approver, plan=plan, comment="Add the forum")
    draft = open_plan_draft(actor=manager, plan=SunsetPlan.objects.get(pk=plan.pk))
    save_plan_draft(actor=manager, draft=draft, data={"channel_ids": [x.pk, forum.pk], "title": "Retire X and forum"})
    finish_plan_draft(actor=manager, draft=draft)
    submit_plan(actor=manager, plan=plan)
    client.force_login(approver)
    html = body(client.get(reverse("approval_review", args=[plan.pk])))
    assert "Changes since the last review" in html
    assert re.search(r"Channels</td><td>Brand forum</td><td><del></del></td><td><ins>included</ins>", html)
    assert re.search(
        r"Title</td><td></td><td><del>Retire social support</del></td><td><ins>Retire X and forum</ins>", html
    )


def test_review_names_phases_and_sections_in_the_readers_language():
    before = {"phases": [{"kind": "soft_close", "local": "2027-01-01 09:00", "time_zone": "UTC"}]}
    after = {"phases": [{"kind": "soft_close", "local": "2027-01-02 09:00", "time_zone": "UTC"}]}
    with translation.override("fr"):
        (change,) = diff_snapshots(before, after, {})
    assert (change.section, change.item) == ("Phases", "Fermeture douce")
    (change,) = diff_snapshots(before, after, {})
    assert change.item == "Soft close"


# --- dashboard -----------------------------------------------------------------------------------------


def test_dashboard_shows_each_role_what_waits_for_them(client, manager, approver, hr_coordinator, viewer):
    channel = ChannelFactory(name="Brand on X")
    team = TeamFactory()
    team.channels.set([channel])
    for _ in range(3):
        AssignmentFactory(team=team, agent=AgentFactory())
    # Three agents wait for HR on this draft (the guard keeps it from being submitted)...
    hard_close_plan(manager=manager, channels=[channel], title="Retire X")
    # ...while a plan with nobody to move waits for the approver.
    forum = hard_close_plan(manager=manager, channels=[ChannelFactory(name="Brand forum")], title="Retire the forum")
    submit_plan(actor=manager, plan=forum)
    client.force_login(approver)
    html = body(client.get(reverse("home")))
    assert "Plans waiting for your approval" in html and "Retire the forum" in html
    client.force_login(hr_coordinator)
    html = body(client.get(reverse("home")))
    assert "Agents without a destination" in html and "3 agents" in html
    client.force_login(manager)
    html = body(client.get(reverse("home")))
    assert "Your drafts" in html and "Retire X" in html
    client.force_login(viewer)
    assert "Nothing waits for you." in body(client.get(reverse("home")))


def test_home_lists_plans_with_their_state_and_filters_by_state(client, manager):
    hard_close_plan(manager=manager, channels=[ChannelFactory(name="Brand on X")], title="Retire X support")
    client.force_login(manager)
    html = body(client.get(reverse("home")))
    assert "Retire X support" in html and "Brand on X" in html and "Draft" in html
    assert "Retire X support" not in body(client.get(reverse("home") + "?state=scheduled")).split('id="plans"')[1]


# --- channels -----------------------------------------------------------------------------------------


def test_channels_filter_and_paginate(client, viewer):
    for i in range(30):
        ChannelFactory(kind="x" if i % 3 else "discourse", name=f"Channel {i:02d}")
    client.force_login(viewer)
    html = body(client.get(reverse("channel_list")))
    assert "Page 1 of 2 (30 in all)" in html and "Channel 00" in html and "Channel 29" not in html
    html = body(client.get(reverse("channel_list") + "?kind=discourse"))
    assert "Channel 03" in html and "Channel 01" not in html
    response = client.get(reverse("channel_list") + "?kind=fax")
    assert response.status_code == 422 and "Select a valid choice" in body(response)


def test_channel_page_polls_its_inbound_volume(client, viewer):
    channel = ChannelFactory()
    client.force_login(viewer)
    html = body(client.get(reverse("channel_detail", args=[channel.pk])))
    assert f'hx-get="{reverse("channel_volume", args=[channel.pk])}"' in html and 'hx-trigger="every 10s"' in html
    assert client.get(reverse("channel_detail", args=[channel.pk + 999])).status_code == 404


# --- runs ------------------------------------------------------------------------------------------------


def test_run_page_polls_while_running_and_stops_when_done(client, manager, approver, viewer):
    plan = approved_plan(manager=manager, approver=approver, channels=[ChannelFactory()])
    now = timezone.now()
    run = CutoverRunFactory(
        phase=plan.phases.get(),
        plan=plan,
        state=RunState.RUNNING,
        queued_at=now,
        started_at=now - timedelta(seconds=5),
        steps={
            "freeze": {
                "state": "done",
                "done": 1,
                "total": 1,
                "started_at": now.isoformat(),
                "finished_at": now.isoformat(),
            },
            "conversations": {"state": "running", "done": 250, "total": 1000, "started_at": now.isoformat()},
        },
    )
    client.force_login(viewer)
    html = body(client.get(reverse("run_detail", args=[run.pk])))
    assert 'hx-trigger="every 1s"' in html and "250 / 1000" in html and 'value="25"' in html
    run.state, run.finished_at = RunState.FAILED, now
    run.errors = [{"at": now.isoformat(), "step": "notifications", "error": "email: connection refused"}]
    run.save()
    html = body(client.get(reverse("run_detail", args=[run.pk]), headers={"HX-Request": "true"}))
    assert 'hx-trigger="every 1s"' not in html and "email: connection refused" in html and "Stopped" in html


# --- audit log --------------------------------------------------------------------------------------------


def test_audit_log_filters_by_object_actor_and_date(client, manager, approver, viewer):
    plan = approved_plan(manager=manager, approver=approver, channels=[ChannelFactory()])
    other = hard_close_plan(manager=manager, channels=[ChannelFactory()], title="Other")
    client.force_login(approver)  # the audit trail is for admins, managers and approvers
    html = body(client.get(reverse("audit_log") + f"?object=sunsetplan:{plan.pk}&actor=arjun"))
    assert "plan.approved" in html and "plan.created" not in html
    assert f"sunsetplan #{other.pk}" not in html
    today = timezone.now().date()
    html = body(client.get(reverse("audit_log") + f"?since={(today + timedelta(days=1)).isoformat()}"))
    assert "No event matches these filters." in html
    response = client.get(reverse("audit_log") + "?since=2026-02-30")
    assert response.status_code == 422 and "Enter a valid date" in body(response)
    response = client.get(reverse("audit_log") + "?since=2026-02-10&until=2026-02-01")
    assert response.status_code == 422 and "is before" in body(response)


def _events(n: int, manager, first: int = 0, **fields) -> list[AuditEvent]:
    return AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                at=timezone.now(),
                actor=manager,
                actor_label="maya",
                action=f"test.event{i}",
                object_type="channel",
                object_id=str(i),
                prev_hash="0" * 64,
                hash=f"{i:064d}",
                **fields,
            )
            for i in range(first, first + n)
        ]
    )


def _actions(html: str) -> list[str]:
    return re.findall(r'<code class="action">(test\.event\d+)</code>', html)


def test_audit_log_pages_from_an_id_newest_first(client, manager):
    _events(60, manager)
    client.force_login(manager)
    first = body(client.get(reverse("audit_log") + "?actor=maya"))
    assert _actions(first) == [f"test.event{i}" for i in range(59, 34, -1)]
    assert "Newer" not in first
    older = re.search(r'href="\?([^"]*before=\d+)" rel="next"', first).group(1).replace("&amp;", "&")
    assert "actor=maya" in older  # the filters stay on every page
    second = body(client.get(reverse("audit_log") + "?" + older))
    assert _actions(second) == [f"test.event{i}" for i in range(34, 9, -1)]
    last = re.search(r'href="\?([^"]*before=\d+)" rel="next"', second).group(1).replace("&amp;", "&")
    third = body(client.get(reverse("audit_log") + "?" + last))
    assert _actions(third) == [f"test.event{i}" for i in range(9, -1, -1)]
    assert 'rel="next"' not in third  # nothing older
    newer = re.search(r'href="\?([^"]*after=\d+)" rel="prev"', third).group(1).replace("&amp;", "&")
    assert _actions(body(client.get(reverse("audit_log") + "?" + newer))) == _actions(second)


def test_audit_log_refuses_a_page_that_cannot_exist(client, manager):
    _events(3, manager)
    client.force_login(manager)
    for query in ("before=abc", "after=-1", "before=5&after=2"):
        response = client.get(reverse("audit_log") + "?" + query)
        assert response.status_code == 422, query
        assert "This page of the log does not exist" in body(response)
        assert "test.event" not in body(response)


def test_audit_events_without_before_or_after_have_nothing_to_open(client, manager):
    (bare,) = _events(1, manager, before=None, after={})
    (full,) = _events(1, manager, first=1, before={"title": "a"}, after=None)
    client.force_login(manager)
    html = body(client.get(reverse("audit_log")))
    assert reverse("audit_event", args=[full.pk]) in html
    assert reverse("audit_event", args=[bare.pk]) not in html


# --- time zones and languages ------------------------------------------------------------------------------


def test_each_person_sees_times_in_their_own_zone(client, manager):
    plan = hard_close_plan(manager=manager, channels=[ChannelFactory()])
    client.force_login(manager)
    response = client.post(reverse("profile"), {"time_zone": "Mars/Olympus"})
    assert response.status_code == 422 and "Unknown time zone" in body(response)
    response = client.post(reverse("profile"), {"time_zone": "Asia/Jakarta", "language": "id"})
    assert response.status_code == 302
    assert UserProfile.objects.get(user=manager).time_zone == "Asia/Jakarta"
    assert UserProfile.objects.get(user=manager).language == "id"  # the language of their emails
    assert '<option value="id" selected>' in body(client.get(reverse("profile")))
    html = body(client.get(reverse("plan_detail", args=[plan.pk])))
    instant = plan.phases.get().instant
    assert "WIB" in html and f"({instant:%Y-%m-%d %H:%M} UTC)" in html


def test_the_ui_speaks_french_and_indonesian(client, manager):
    client.force_login(manager)
    client.post(reverse("set_language"), {"language": "fr", "next": "/"})
    html = body(client.get(reverse("home")))
    assert "Tableau de bord" in html and 'lang="fr"' in html
    client.post(reverse("set_language"), {"language": "id", "next": "/"})
    assert "Dasbor" in body(client.get(reverse("home")))


def test_adding_a_row_keeps_what_was_typed_and_validates_nothing_yet(client, manager):
    client.force_login(manager)
    rows = [{"kind": "notice", "local_date": "", "local_time": "", "time_zone": "Europe/Paris"}]
    response = _wizard(client, "phases", _rows("phases", rows), action="add")
    assert response.status_code == 200
    html = body(response)
    assert "Phase 2" in html and "This field is required" not in html
    assert PlanDraft.objects.get(author=manager).data["phases"][0]["time_zone"] == "Europe/Paris"


def test_row_urls_are_the_same_as_reverse():
    from channels_app.core.links import row_url

    assert row_url("plan_detail", 12) == reverse("plan_detail", args=[12])
    assert row_url("audit_event", "7") == reverse("audit_event", args=[7])
    assert row_url("plan_detail", "") == ""


def test_an_audit_events_before_and_after_load_when_opened(client, manager, viewer):
    plan = hard_close_plan(manager=manager, channels=[ChannelFactory()], title="Retire X")
    event = AuditEvent.objects.get(action="plan.created")
    client.force_login(manager)  # the audit trail is for admins, managers and approvers
    html = body(client.get(reverse("audit_log")))
    assert f'hx-get="{reverse("audit_event", args=[event.pk])}" hx-trigger="toggle once"' in html
    part = body(client.get(reverse("audit_event", args=[event.pk]), headers={"HX-Request": "true"}))
    assert part.lstrip().startswith('<div class="beforeafter">') and "Retire X" in part and "<html" not in part
    assert f"sunsetplan #{plan.pk}" in body(client.get(reverse("audit_event", args=[event.pk])))
    assert client.get(reverse("audit_event", args=[event.pk + 100])).status_code == 404
