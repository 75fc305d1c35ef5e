"""Restoring the public notice on rollback when a platform refuses an undo: the other platforms
are restored, the run page lists what was not (channel, change, the platform's answer) and
"Retry restoring" asks that platform again once the cause is fixed, exactly once."""

from __future__ import annotations

import copy
import threading

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse

from channels_app.core.errors import InvalidTransition
from channels_app.cutover.services.rollback import rollback_run
from channels_app.models import AuditEvent, CutoverRun, Publication, PublicationState, SunsetPlan
from channels_app.platforms.services.publications import retry_restores
from channels_app.tests.support.fakeplatforms import graph_error
from channels_app.tests.support.notice_helpers import notice_plan, run_phase

REFUSAL = "(#200) Requires pages_manage_metadata permission to manage the object"


def _writes(*fakes) -> list[int]:
    """How many requests that are not reads each fake received."""
    return [len([r for r in fake.received if r.method != "GET"]) for fake in fakes]


def _audited(action: str) -> int:
    return AuditEvent.objects.filter(action=action).count()


@pytest.mark.django_db(transaction=True)
def test_a_restore_refused_by_one_platform_is_shown_on_the_run_page_and_retried_exactly(
    client,
    manager,
    approver,
    viewer,
    hr_coordinator,
    four_channels,
    fake_x,
    fake_discourse,
    fake_messenger,
    fake_youtube,
):
    before = {
        "categories": copy.deepcopy(fake_discourse.categories),
        "profile": copy.deepcopy(fake_messenger.profile),
        "branding": copy.deepcopy(fake_youtube.branding),
    }
    plan = notice_plan(manager, approver, four_channels, kinds=("notice", "hard_close"))
    notice = run_phase(plan, "notice")
    after_notice = copy.deepcopy(fake_messenger.profile)
    assert after_notice != before["profile"]
    # The page's token lost the permission to manage its Messenger profile: the undo is refused.
    fake_messenger.fail_next(
        403, body=graph_error(200, REFUSAL), path=f"/{fake_messenger.api_version}/me/messenger_profile"
    )

    client.force_login(manager)
    response = client.post(reverse("run_rollback", args=[notice.pk]), {"reason": "Announced too early"})
    assert response.status_code == 302

    # The other platforms are restored exactly; Messenger still shows the notice's greeting.
    assert fake_x.posts() == [] and fake_discourse.live_topics() == []
    assert fake_discourse.categories == before["categories"]
    assert fake_youtube.branding == before["branding"]
    assert fake_messenger.profile == after_notice
    greeting = Publication.objects.get(run=notice, action="greeting")
    assert greeting.state == PublicationState.PUBLISHED and greeting.restored_at is None
    assert REFUSAL in greeting.error and greeting.status_code == 403
    assert Publication.objects.filter(run=notice, state=PublicationState.RESTORED).count() == 5
    notice.refresh_from_db()
    assert notice.rolled_back_at is not None
    assert notice.rollback_summary["public_changes_restored"] == 5
    (line,) = notice.rollback_summary["public_changes_not_restored"]
    assert line.startswith("Brand on Messenger: greeting not restored:") and REFUSAL in line
    assert _audited("publication.restored") == 5 and _audited("publication.not_restored") == 1
    rolled_back = AuditEvent.objects.get(action="run.rolled_back")
    assert rolled_back.after["public_changes_to_restore"] == 6

    page = client.get(reverse("run_detail", args=[notice.pk])).content.decode()
    assert 'data-not-restored="greeting"' in page and page.count("data-not-restored=") == 1
    assert "Brand on Messenger" in page and REFUSAL in page
    assert "Retry restoring" in page and reverse("run_retry_restores", args=[notice.pk]) in page

    # Only the roles that may roll back may retry; nobody else changes anything.
    url = reverse("run_retry_restores", args=[notice.pk])
    writes = _writes(fake_x, fake_discourse, fake_messenger, fake_youtube)
    for person in (viewer, hr_coordinator):
        other = Client()
        other.force_login(person)
        assert other.post(url).status_code == 403
        assert "Retry restoring" not in other.get(reverse("run_detail", args=[notice.pk])).content.decode()
    anonymous = Client().post(url)
    assert anonymous.status_code == 302 and anonymous.url.startswith(reverse("login"))
    with pytest.raises(PermissionDenied):
        retry_restores(actor=viewer, run=notice)
    assert _writes(fake_x, fake_discourse, fake_messenger, fake_youtube) == writes
    assert Publication.objects.get(pk=greeting.pk).state == PublicationState.PUBLISHED

    # The page's admin granted the permission again (the scripted refusal was the only one).
    response = client.post(url, follow=True)
    assert response.status_code == 200
    assert "1 public change restored on its platform" in response.content.decode()
    assert fake_messenger.profile == before["profile"]  # the earlier greeting, no ice breakers
    greeting.refresh_from_db()
    assert greeting.state == PublicationState.RESTORED and greeting.restored_at is not None
    assert greeting.error == ""
    undo = AuditEvent.objects.filter(action="publication.restored").order_by("id").last()
    assert undo.actor == manager and undo.after["action"] == "greeting"
    assert undo.after["state"] == greeting.before
    assert _audited("publication.restored") == 6
    notice.refresh_from_db()
    assert notice.rollback_summary["public_changes_restored"] == 6
    assert notice.rollback_summary["public_changes_not_restored"] == []
    assert notice.rollback_summary["reason"] == "Announced too early"
    page = client.get(reverse("run_detail", args=[notice.pk])).content.decode()
    assert "data-not-restored=" not in page and "Retry restoring" not in page
    assert "6 public changes restored on their platforms" in page

    # A second retry changes nothing, anywhere, and says why.
    writes = _writes(fake_x, fake_discourse, fake_messenger, fake_youtube)
    events = AuditEvent.objects.count()
    summary = notice.rollback_summary
    response = client.post(url, follow=True)
    assert response.status_code == 200 and "nothing is left to restore" in response.content.decode()
    assert _writes(fake_x, fake_discourse, fake_messenger, fake_youtube) == writes
    assert AuditEvent.objects.count() == events
    notice.refresh_from_db()
    assert notice.rollback_summary == summary
    for fake in (fake_x, fake_discourse, fake_messenger, fake_youtube):
        assert fake.violations == []


@pytest.mark.django_db(transaction=True)
def test_a_retry_of_a_run_not_rolled_back_changes_nothing(
    client, manager, approver, four_channels, fake_x, fake_discourse, fake_messenger, fake_youtube
):
    plan = notice_plan(manager, approver, four_channels, kinds=("notice", "hard_close"))
    notice = run_phase(plan, "notice")
    writes = _writes(fake_x, fake_discourse, fake_messenger, fake_youtube)
    events = AuditEvent.objects.count()
    with pytest.raises(InvalidTransition, match="not rolled back"):
        retry_restores(actor=manager, run=notice)
    client.force_login(manager)
    response = client.post(reverse("run_retry_restores", args=[notice.pk]), follow=True)
    assert response.status_code == 200 and "this run was not rolled back" in response.content.decode()
    assert _writes(fake_x, fake_discourse, fake_messenger, fake_youtube) == writes
    assert AuditEvent.objects.count() == events
    assert Publication.objects.filter(run=notice, state=PublicationState.PUBLISHED).count() == 6
    notice.refresh_from_db()
    assert notice.rolled_back_at is None and not notice.rollback_summary


@pytest.mark.django_db(transaction=True)
def test_a_platform_down_during_rollback_then_up_again(
    client, manager, approver, four_channels, fake_x, fake_discourse, fake_messenger, fake_youtube
):
    """A 5xx on the profile write (the platform down for a while) is reported, not retried in
    place; "Retry restoring" once it is up puts the earlier greeting back."""
    before = copy.deepcopy(fake_messenger.profile)
    plan = notice_plan(manager, approver, four_channels, kinds=("notice", "hard_close"))
    notice = run_phase(plan, "notice")
    fake_messenger.fail_next(500, body=graph_error(2, "Service temporarily unavailable", transient=True))
    client.force_login(manager)
    client.post(reverse("run_rollback", args=[notice.pk]), {"reason": "Announced too early"})
    greeting = Publication.objects.get(run=notice, action="greeting")
    assert greeting.state == PublicationState.PUBLISHED and "Service temporarily unavailable" in greeting.error
    assert fake_messenger.profile != before
    page = client.get(reverse("run_detail", args=[notice.pk])).content.decode()
    assert "Service temporarily unavailable" in page and "Retry restoring" in page

    client.post(reverse("run_retry_restores", args=[notice.pk]))
    assert fake_messenger.profile == before
    assert Publication.objects.filter(run=notice, state=PublicationState.RESTORED).count() == 6
    assert _audited("publication.restored") == 6


@pytest.mark.django_db(transaction=True)
def test_the_platforms_are_asked_only_once_the_rollback_committed(
    manager, approver, four_channels, fake_x, fake_discourse, fake_messenger, fake_youtube
):
    """While a platform's undo is in flight the rollback is already committed and holds no lock;
    the change is recorded restored only once its platform answered."""
    plan = notice_plan(manager, approver, four_channels, kinds=("notice", "hard_close"))
    notice = run_phase(plan, "notice")
    held = fake_youtube.hold_next(path="/youtube/v3/channels")  # the first undo: the latest change
    failures: list[BaseException] = []

    def roll_back() -> None:
        try:
            rollback_run(actor=manager, run=notice.pk, reason="Announced too early")
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            failures.append(exc)
        finally:
            connection.close()

    worker = threading.Thread(target=roll_back)
    worker.start()
    try:
        assert held.arrived.wait(30)
        notice.refresh_from_db()
        assert notice.rolled_back_at is not None  # committed before any platform was asked
        described = Publication.objects.get(run=notice, action="description")
        assert described.state == PublicationState.PUBLISHED
        with transaction.atomic():  # the rollback's row locks are released
            SunsetPlan.objects.select_for_update(nowait=True).get(pk=plan.pk)
            CutoverRun.objects.select_for_update(nowait=True).get(pk=notice.pk)
    finally:
        held.release.set()
        worker.join(60)
    assert failures == []
    assert Publication.objects.filter(run=notice, state=PublicationState.RESTORED).count() == 6
    notice.refresh_from_db()
    assert notice.rollback_summary["public_changes_restored"] == 6
