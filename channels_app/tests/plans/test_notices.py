"""What a plan tells people as it moves (plans/services/notices.py): submission to the approvers,
send-back and approval to the author, a run's start to author and approver, each emailed once in
the person's language, and every event (run failures too) posted once to the outgoing webhook,
retried when it fails, refused when its URL names a host Dusk must not reach."""

import logging
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core import checks

from channels_app.core.logs import RedactSecrets
from channels_app.cutover.services.delivery import send_owner_notices
from channels_app.cutover.services.engine import claim_due_phases, run_cutover
from channels_app.models import AuditEvent, NoticeChannel, PlanNotice, UserProfile
from channels_app.plans.services.notices import send_plan_notices
from channels_app.plans.services.plans import approve_plan, reject_plan, submit_plan
from channels_app.tests.support.factories import ChannelFactory
from channels_app.tests.support.fakeplatforms import FakeWebhook
from channels_app.tests.support.helpers import hard_close_plan, wait_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def second_approver(django_user_model):
    """Ana reads her email in French."""
    user = django_user_model.objects.create_user(username="ana", email="ana@example.com", password="x" * 20)
    user.groups.add(Group.objects.get(name="approver"))
    UserProfile.objects.create(user=user, language="fr")
    return user


def _to(smtp, person) -> list[str]:
    return [str(m.message["Subject"]).strip() for m in smtp.messages if m.message["To"] == person.email]


def test_each_event_emails_the_right_people_once_and_posts_once_to_the_webhook(
    manager, approver, second_approver, smtp_settings, notify_webhook
):
    manager.groups.add(Group.objects.get(name="approver"))  # an author who may approve others' plans
    plan = hard_close_plan(manager=manager, channels=[ChannelFactory(kind="x")], title="Retire X")

    submit_plan(actor=manager, plan=plan)
    reject_plan(actor=approver, plan=plan, comment="Name the phone line in the French reply.")
    submit_plan(actor=manager, plan=plan)
    approve_plan(actor=approver, plan=plan, comment="Good to go.")
    (run_id,) = claim_due_phases(now=plan.phases.get().instant + timedelta(seconds=1))
    approver.groups.remove(Group.objects.get(name="approver"))  # the freeze step re-checks: it fails
    assert run_cutover(run_id=run_id, worker_id="t") == "failed"

    assert send_plan_notices() == 2 + 1 + 2 + 1 + 2 + 6  # emails, then the six webhook posts
    assert send_owner_notices(run_id=run_id) == 2
    assert send_plan_notices() == 0  # nothing twice

    # Submission: every approver but the author, in their own language; twice, as it was submitted twice.
    assert _to(smtp_settings, second_approver) == ["[Dusk] « Retire X » attend votre approbation"] * 2
    to_arjun = _to(smtp_settings, approver)
    assert to_arjun.count("[Dusk] “Retire X” waits for your approval") == 2
    to_maya = _to(smtp_settings, manager)
    assert "[Dusk] “Retire X” waits for your approval" not in to_maya
    # Send-back and approval: the author, with the comment; the run's start and failure: both owners.
    assert to_maya.count("[Dusk] “Retire X” was sent back to you") == 1
    assert to_maya.count("[Dusk] “Retire X” is approved") == 1
    started = "[Dusk] “Retire X”: the Hard close phase has started"
    assert to_maya.count(started) == to_arjun.count(started) == 1
    assert sum("phase failed" in s for s in to_maya) == sum("phase failed" in s for s in to_arjun) == 1
    mails = {str(m.message["Subject"]).strip(): m.message for m in smtp_settings.messages}
    sent_back = mails["[Dusk] “Retire X” was sent back to you"].get_content()
    assert sent_back.startswith("arjun sent your sunset plan “Retire X” back. Their comment:")
    assert "Name the phone line in the French reply." in sent_back and f"/plans/{plan.pk}/" in sent_back
    assert f"/runs/{run_id}/" in mails[started].get_content()
    ids = [m.message["Message-ID"] for m in smtp_settings.messages]
    assert len(ids) == len(set(ids)) and all(i.startswith("<dusk-") for i in ids)

    posts = notify_webhook.posts()
    assert [p["event"] for p in posts] == [
        "submitted",
        "sent_back",
        "submitted",
        "approved",
        "run_started",
        "run_failed",
    ]
    assert len({p["id"] for p in posts}) == 6
    assert posts[1]["comment"] == "Name the phone line in the French reply."
    assert posts[1]["text"] == "arjun sent “Retire X” back to its author."
    assert posts[4]["run"]["id"] == run_id and posts[4]["run"]["url"].endswith(f"/runs/{run_id}/")
    assert posts[5]["text"] == "The Hard close phase of “Retire X” failed and the plan stopped."
    assert all(p["plan"] == {"id": plan.pk, "title": "Retire X", "url": posts[0]["plan"]["url"]} for p in posts)


def test_a_failed_run_is_emailed_to_each_owner_in_their_language(manager, approver, smtp_settings):
    UserProfile.objects.create(user=approver, language="fr")
    plan = hard_close_plan(manager=manager, channels=[ChannelFactory(kind="x")], title="Retire X")
    submit_plan(actor=manager, plan=plan)
    approve_plan(actor=approver, plan=plan)
    (run_id,) = claim_due_phases(now=plan.phases.get().instant + timedelta(seconds=1))
    approver.groups.remove(Group.objects.get(name="approver"))
    assert run_cutover(run_id=run_id, worker_id="t") == "failed"

    send_plan_notices()
    assert send_owner_notices(run_id=run_id) == 2
    assert "[Dusk] Retire X: the Hard close phase failed" in _to(smtp_settings, manager)
    assert sorted(_to(smtp_settings, approver)) == [
        "[Dusk] Retire X : la phase « Fermeture définitive » a échoué",
        "[Dusk] « Retire X » : la phase « Fermeture définitive » a commencé",
        "[Dusk] « Retire X » attend votre approbation",
    ]
    failure = next(m.message for m in smtp_settings.messages if "a échoué" in str(m.message["Subject"]))
    assert failure.get_content().startswith("La phase « Fermeture définitive » de Retire X a échoué")


def test_a_webhook_that_answers_500_is_posted_again_by_the_worker_and_delivered_once(
    transactional_db, manager, approver, smtp_settings, notify_webhook, celery_workers
):
    notify_webhook.fail_next(500)
    worker = celery_workers(
        DUSK_NOTIFY_WEBHOOK_URL=notify_webhook.url, DUSK_NOTIFY_INTERVAL="0.5", DUSK_NOTIFY_BACKOFF_BASE="1"
    )
    worker.wait_ready()
    plan = hard_close_plan(manager=manager, channels=[ChannelFactory(kind="x")], title="Retire X")
    submit_plan(actor=manager, plan=plan)

    post = wait_for(
        lambda: PlanNotice.objects.filter(channel=NoticeChannel.WEBHOOK, state="sent").first(),
        timeout=30,
        message=f"the webhook post to be delivered\n{worker.log()[-3000:]}",
    )
    wait_for(lambda: _to(smtp_settings, approver), timeout=30, message="the approver's email")
    time.sleep(2)  # a few more beats: nothing is sent again
    assert (post.attempts, post.last_error) == (2, "")
    assert [p["event"] for p in notify_webhook.posts()] == ["submitted", "submitted"]
    assert notify_webhook.posts()[0]["id"] == notify_webhook.posts()[1]["id"] == post.delivery_id
    assert _to(smtp_settings, approver) == ["[Dusk] “Retire X” waits for your approval"]
    assert notify_webhook.url.split("/services/")[1] not in worker.log()  # the URL is a secret


@pytest.mark.parametrize(
    ("url", "allow_private", "refusal"),
    [
        # The cloud metadata service: refused even where private hosts are allowed.
        ("http://169.254.169.254/latest/meta-data/", True, "not a public address"),
        # Loopback, where private hosts are not allowed (production).
        ("https://{listener}", False, "not a public address"),
        ("http://{listener}", False, "Use an https:// URL"),
    ],
)
def test_a_webhook_url_naming_a_host_dusk_must_not_reach_is_refused(settings, manager, url, allow_private, refusal):
    with FakeWebhook() as listener:
        settings.DUSK_NOTIFY_WEBHOOK_URL = url.format(listener=listener.url.removeprefix("http://"))
        plan = hard_close_plan(manager=manager, channels=[ChannelFactory(kind="x")])
        submit_plan(actor=manager, plan=plan)
        settings.DUSK_ALLOW_PRIVATE_PLATFORM_HOSTS = allow_private

        assert send_plan_notices() == 0
        assert listener.received == []
    post = PlanNotice.objects.get(channel=NoticeChannel.WEBHOOK)
    assert post.state == "failed" and refusal in post.last_error
    assert "meta-data" not in post.last_error and "s3cr3t" not in post.last_error
    failure = AuditEvent.objects.get(action="plan.notice_failed")
    assert (failure.object_type, failure.object_id) == ("sunsetplan", str(plan.pk))  # the plan's History
    assert failure.after["event"] == "submitted" and failure.after["channel"] == "webhook"


def test_a_webhook_post_waits_for_its_backoff_and_is_given_up_after_the_last_attempt(settings, manager, notify_webhook):
    settings.DUSK_NOTIFY_WEBHOOK_ATTEMPTS = 2
    notify_webhook.fail_next(503, times=2)
    plan = hard_close_plan(manager=manager, channels=[ChannelFactory(kind="x")])
    submit_plan(actor=manager, plan=plan)

    assert send_plan_notices() == 0
    post = PlanNotice.objects.get(channel=NoticeChannel.WEBHOOK)
    assert (post.state, post.attempts, post.last_error) == ("pending", 1, f"{_shown(notify_webhook)} answered HTTP 503")
    assert post.next_attempt_at >= post.claimed_at + timedelta(seconds=settings.DUSK_NOTIFY_BACKOFF_BASE)
    assert send_plan_notices() == 0 and len(notify_webhook.received) == 1  # not before its time
    assert send_plan_notices(now=post.next_attempt_at) == 0
    assert len(notify_webhook.received) == 2
    post.refresh_from_db()
    assert (post.state, post.attempts) == ("failed", 2)
    failure = AuditEvent.objects.get(action="plan.notice_failed", object_id=str(plan.pk))
    assert failure.after["attempts"] == 2 and failure.after["error"].endswith("answered HTTP 503")
    assert "s3cr3t" not in failure.after["error"]


def _shown(fake: FakeWebhook) -> str:
    return fake.base_url + "/[redacted]"


def test_a_webhook_that_refuses_for_good_is_not_retried(manager, notify_webhook):
    notify_webhook.fail_next(404)
    plan = hard_close_plan(manager=manager, channels=[ChannelFactory(kind="x")])
    submit_plan(actor=manager, plan=plan)
    send_plan_notices()
    send_plan_notices()
    assert len(notify_webhook.received) == 1
    post = PlanNotice.objects.get(channel=NoticeChannel.WEBHOOK)
    assert post.state == "failed" and post.last_error.endswith("answered HTTP 404")
    assert AuditEvent.objects.filter(action="plan.notice_failed", object_id=str(plan.pk)).count() == 1


def test_without_a_webhook_url_nothing_is_posted(settings, manager, approver):
    settings.DUSK_NOTIFY_WEBHOOK_URL = ""
    plan = hard_close_plan(manager=manager, channels=[ChannelFactory(kind="x")])
    submit_plan(actor=manager, plan=plan)
    assert list(PlanNotice.objects.values_list("channel", "recipient")) == [("email", approver.email)]


def test_production_refuses_a_plain_http_webhook_url(settings):
    settings.DUSK_PRODUCTION = True
    settings.DUSK_NOTIFY_WEBHOOK_URL = "http://hooks.example.com/services/x"
    assert "dusk.E601" in {m.id for m in checks.run_checks(include_deployment_checks=True)}
    settings.DUSK_NOTIFY_WEBHOOK_URL = "https://hooks.example.com/services/x"
    assert "dusk.E601" not in {m.id for m in checks.run_checks(include_deployment_checks=True)}


def test_logs_show_the_webhook_host_never_its_secret_path():
    url = "https://hooks.slack.com/services/T000/B000/XXXXsecret"
    record = logging.LogRecord("httpx", logging.INFO, "", 0, 'HTTP Request: POST %s "HTTP/1.1 500"', (url,), None)
    RedactSecrets(urls=[url]).filter(record)
    assert record.getMessage() == 'HTTP Request: POST https://hooks.slack.com/[redacted] "HTTP/1.1 500"'
