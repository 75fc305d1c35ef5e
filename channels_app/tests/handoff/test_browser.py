"""The landing page as a French-speaking customer sees it in Debian's Chromium: French, the phone
hours in their own time zone, a refused and then an accepted contact form, no CSP violation and no
request to another host."""

import pytest

from channels_app.models import HandoffRequest
from channels_app.tests.support.browser import RECORD_VIOLATIONS, SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_french_customer_lands_chooses_and_writes(live_server, chromium, branded):
    conversation, _plan = branded
    reference = conversation.reference
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    elsewhere: list[str] = []
    violations: list[str] = []
    context = chromium.new_context(
        locale="fr-FR", timezone_id="America/New_York", viewport={"width": 420, "height": 900}
    )
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    page.on("request", lambda r: elsewhere.append(r.url) if not r.url.startswith(live_server.url) else None)
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    try:
        page.goto(f"{live_server.url}/r/{reference}")
        assert page.locator("h1").inner_text() == "L’assistance sur X a déménagé."
        assert page.locator("#reference").inner_text() == reference
        assert page.get_by_text("Appelez-nous").is_visible()
        # The phone's hours in Paris, and the same hours on a New York clock (six hours earlier).
        local = page.locator(".local-hours-visitor")
        local.wait_for()
        assert "03:00" in local.inner_text() and "America/New_York" in local.inner_text()
        # The honeypot is out of sight.
        box = page.locator("input[name=website]").bounding_box()
        assert box["x"] + box["width"] <= 0
        page.screenshot(path=str(SCREENSHOTS / "landing-fr.png"), full_page=True)

        page.get_by_label("Votre nom").fill("Camille")
        page.get_by_label("Votre adresse e-mail").fill("camille-sans-arobase")
        page.get_by_label("Votre message").fill("Mon colis n’est jamais arrivé.")
        page.get_by_role("button", name="Envoyer").click()
        page.locator(".errorlist").first.wait_for()
        assert "Saisissez une adresse e-mail valide." in page.locator("#contact").inner_text()
        page.screenshot(path=str(SCREENSHOTS / "landing-fr-error.png"), full_page=True)

        page.get_by_label("Votre adresse e-mail").fill("camille@example.com")
        page.get_by_role("button", name="Envoyer").click()
        page.locator(".landing-sent").wait_for()
        assert reference in page.locator(".landing-sent").inner_text()
        page.screenshot(path=str(SCREENSHOTS / "landing-fr-sent.png"), full_page=True)
        violations.extend(page.evaluate("window.__cspViolations || []"))
    finally:
        context.close()
    assert not violations, violations
    assert not elsewhere, elsewhere
    stored = HandoffRequest.objects.get()
    assert (stored.email, stored.conversation_id) == ("camille@example.com", conversation.pk)


def test_a_manager_reads_the_hand_offs_and_the_funnel(live_server, chromium, branded, manager):
    from channels_app.models import HandoffDelivery, HandoffDestination, HandoffRequest
    from channels_app.tests.support.browser import Session

    conversation, plan = branded
    destination = HandoffDestination.objects.create(
        plan=plan, position=1, kind="zendesk", url="https://brand.zendesk.com", credential_env="DUSK_CHANNEL_ZD"
    )
    request = HandoffRequest.objects.create(
        conversation=conversation,
        plan=plan,
        name="C",
        email="c@example.com",
        message="m",
        created_at=conversation.opened_at,
    )
    HandoffDelivery.objects.create(
        request=request,
        destination=destination,
        state="failed",
        attempts=8,
        last_error="Zendesk create ticket: HTTP 422",
    )
    session = Session(chromium, live_server.url, "handoffs")
    try:
        session.login(manager.username)
        page = session.goto(f"/plans/{plan.pk}/handoffs/")
        assert "Zendesk create ticket: HTTP 422" in page.locator("main").inner_text()
        session.shot("plan-handoffs")
        page = session.goto(f"/plans/{plan.pk}/funnel/")
        assert "Where did the customers go?" in page.locator("h1").inner_text()
        assert "No conversation has been moved by this plan's runs yet" in page.locator("main").inner_text()
        session.shot("plan-funnel")
    finally:
        session.close()
    assert not session.violations, session.violations


def test_a_form_target_gets_the_reference_as_a_posted_field_and_the_choice_is_counted(
    live_server, chromium, manager, approver
):
    """A target that takes the reference as a POST form field: Chromium submits the landing
    page's small form to it (the page's form-action policy names its origin: no violation), the
    target receives the reference and nothing else, and the beacon counts the choice."""
    from channels_app.models import RedirectClick
    from channels_app.plans.services.plans import RedirectInput
    from channels_app.tests.support.factories import ChannelFactory, ConversationFactory
    from channels_app.tests.support.fakeplatforms import Answer, FakePlatform
    from channels_app.tests.support.helpers import approved_plan, wait_for

    class FormTarget(FakePlatform):
        name = "form-target"

        def routes(self):
            return {
                ("POST", "/contact"): (
                    self._check,
                    lambda r: Answer(200, "<h1>Thanks</h1>", {"Content-Type": "text/html"}),
                )
            }

        def _check(self, received):
            content_type = received.headers.get("content-type", "")
            self.expect(received, content_type.startswith("application/x-www-form-urlencoded"), "a form post")

    target = FormTarget().start()
    try:
        channel = ChannelFactory(kind="x", name="Brand on X")
        conversation = ConversationFactory(channel=channel, locale="")
        url = f"{target.base_url}/contact"
        approved_plan(
            manager=manager,
            approver=approver,
            channels=[channel],
            redirects=[
                RedirectInput("phone", "Phone support", "+33 1 23 45 67 89"),
                RedirectInput("url", "Web form", url, 0, "form_post", "ticket_ref"),
            ],
        )
        violations: list[str] = []
        context = chromium.new_context(locale="en-GB", viewport={"width": 420, "height": 800})
        context.add_init_script(RECORD_VIOLATIONS)
        page = context.new_page()
        page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
        try:
            page.goto(f"{live_server.url}/r/{conversation.reference}")
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "landing-form-target.png"), full_page=True)
            violations.extend(page.evaluate("window.__cspViolations || []"))
            page.get_by_role("button", name="Go online Web form").click()
            wait_for(lambda: target.received, timeout=10, message="the form posted to its target")
            page.wait_for_url(url)
        finally:
            context.close()
        assert not violations, violations
        # After the post the browser asks the target for its favicon too: not Dusk's business.
        [posted] = [r for r in target.received if r.path != "/favicon.ico"]
        assert posted.method == "POST"
        assert posted.body.decode() == f"ticket_ref={conversation.reference}"
        wait_for(lambda: RedirectClick.objects.filter(conversation=conversation).exists(), timeout=10, message="beacon")
    finally:
        target.stop()
    assert [v for v in target.violations if "favicon.ico" not in v] == [], target.violations


def test_a_manager_reads_the_funnel_by_language_over_a_week(live_server, chromium, counted, manager):
    """The hand-counted plan, its activity spread over the last week, on the page of a manager in
    Jakarta: the breakdown by language, the chart's lines, the figures behind the chart."""
    from datetime import timedelta

    from django.utils import timezone

    from channels_app.accounts.services import update_profile
    from channels_app.models import HandoffArrival, LandingVisit, RedirectClick
    from channels_app.tests.support.browser import Session

    update_profile(actor=manager, time_zone="Asia/Jakarta")
    now = timezone.now()
    for i, visit in enumerate(LandingVisit.objects.order_by("id")):
        LandingVisit.objects.filter(pk=visit.pk).update(at=now - timedelta(days=i % 6, hours=1))
    for i, click in enumerate(RedirectClick.objects.order_by("id")):
        RedirectClick.objects.filter(pk=click.pk).update(at=now - timedelta(days=i % 5, minutes=30))
    for i, arrival in enumerate(HandoffArrival.objects.order_by("id")):
        HandoffArrival.objects.filter(pk=arrival.pk).update(at=now - timedelta(days=i % 3))
    session = Session(chromium, live_server.url, "funnel")
    try:
        session.login(manager.username)
        page = session.goto(f"/plans/{counted.pk}/funnel/?range=7d")
        assert page.locator("table.funnel tbody tr").count() == 6
        assert page.locator("svg.funnel-chart polyline").count() == 4
        assert "Asia/Jakarta" in page.locator(".funnel-over-time").inner_text()
        page.get_by_role("link", name="By language").click()
        page.wait_for_url("**by=language**")
        rows = page.locator("table.breakdown tbody tr")
        assert rows.count() == 3
        assert rows.nth(0).locator("th").inner_text() == "English (en)"
        assert rows.nth(0).locator("td").first.inner_text() == "5"
        page.locator("details.figures summary").click()
        assert page.locator("table.series tbody tr").count() == 7
        session.shot("plan-funnel-by-language")
        page.get_by_role("link", name="By destination").click()
        page.wait_for_url("**by=destination**")
        assert "Phone support" in page.locator("table.breakdown").inner_text()
        session.shot("plan-funnel-by-destination")
    finally:
        session.close()
    assert not session.violations, session.violations
