"""The landing page at the tracked link: what it says, in which language, where its choices lead,
and what it refuses."""

import re

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from channels_app.models import HandoffRequest, LandingPage, LandingVisit, RedirectClick, RedirectTarget
from channels_app.plans.services.landing import save_landing_page
from channels_app.tests.support.factories import ConversationFactory
from channels_app.tests.support.helpers import BROWSER

pytestmark = pytest.mark.django_db


def landing(client, reference, **headers):
    headers.setdefault("HTTP_USER_AGENT", BROWSER)
    return client.get(reverse("tracked_redirect", args=[reference]), **headers)


def test_the_page_says_where_support_went_with_the_reference_and_every_target(client, branded):
    conversation, plan = branded
    response = landing(client, conversation.reference, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Support on X has moved." in html
    assert f'Your reference: <strong id="reference">{conversation.reference}</strong>' in html
    for label in ("Phone support", "Web form", "Brand app", "+33 1 23 45 67 89"):
        assert label in html
    assert "09:00–18:00 (Europe/Paris)" in html
    assert "Brand Co" in html
    # A choice goes through the portal (so it is counted), never straight to the target.
    for position in (0, 1, 2):
        assert reverse("landing_choose", args=[conversation.reference, position]) in html
    assert "help.example.com" not in html


def test_the_page_shows_no_message_and_no_customer_data(client, branded):
    conversation, _plan = branded
    html = landing(client, conversation.reference).content.decode()
    for private in ("Camille", "4411", "never arrived", conversation.customer_handle, conversation.customer_id):
        assert private not in html


def test_the_page_speaks_the_conversations_language_before_the_browsers(client, moved):
    conversation, _plan = moved
    conversation.locale = "id"
    conversation.save(update_fields=["locale"])
    response = landing(client, conversation.reference, HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9")
    assert response["Content-Language"] == "id"
    assert "Layanan dukungan di X telah pindah." in response.content.decode()


def test_without_a_known_language_the_browsers_is_used(client, moved):
    conversation, _plan = moved
    response = landing(client, conversation.reference, HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9,en;q=0.5")
    assert response["Content-Language"] == "fr"
    assert "L’assistance sur X a déménagé." in response.content.decode()
    assert "Votre référence" in response.content.decode()


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        (0, "tel:+33123456789"),
        (1, "https://help.example.com/contact?topic=moved&ref={ref}"),
        (2, "https://app.example.com/support?ref={ref}"),
    ],
)
def test_a_choice_is_recorded_then_leads_to_its_target_with_the_reference(client, branded, position, expected):
    conversation, plan = branded
    response = client.get(reverse("landing_choose", args=[conversation.reference, position]), HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 302
    assert response["Location"] == expected.format(ref=conversation.reference)
    click = RedirectClick.objects.get()
    assert (click.conversation, click.target.position) == (conversation, position)


def test_the_reference_parameter_is_configurable_and_may_be_off(client, branded):
    conversation, plan = branded
    LandingPage.objects.filter(plan=plan).update(reference_param="")
    response = client.get(reverse("landing_choose", args=[conversation.reference, 1]), HTTP_USER_AGENT=BROWSER)
    assert response["Location"] == "https://help.example.com/contact?topic=moved"
    LandingPage.objects.filter(plan=plan).update(reference_param="case")
    response = client.get(reverse("landing_choose", args=[conversation.reference, 1]), HTTP_USER_AGENT=BROWSER)
    assert response["Location"] == f"https://help.example.com/contact?topic=moved&case={conversation.reference}"


@pytest.mark.parametrize("reference", ["DSK-NOPE0000", "x" * 200, "DSK-<script>", "%00"])
def test_an_unknown_or_malformed_reference_gets_a_helpful_404(client, reference):
    response = client.get(f"/r/{reference}", HTTP_USER_AGENT=BROWSER, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code in (400, 404)
    if response.status_code == 404:
        html = response.content.decode()
        assert "We could not find this reference" in html
        assert "<script>" not in html
        assert "Traceback" not in html
    assert not LandingVisit.objects.exists()


def test_an_unknown_choice_is_a_404_and_records_nothing(client, branded):
    conversation, _plan = branded
    response = client.get(reverse("landing_choose", args=[conversation.reference, 9]), HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 404
    assert not RedirectClick.objects.exists()


def test_the_page_loads_nothing_from_elsewhere_and_has_no_inline_style_or_script(client, branded):
    conversation, plan = branded
    response = landing(client, conversation.reference)
    html = response.content.decode()
    assert "style=" not in html
    assert "<style" not in html
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert url.startswith("/") or url == "data:,", url  # "data:," : no favicon at all
    assert "default-src 'self'" in response["Content-Security-Policy"]


def test_the_accent_colour_comes_from_a_generated_stylesheet(client, branded):
    conversation, plan = branded
    page = LandingPage.objects.get(plan=plan)
    css_url = reverse("landing_brand_css", args=[plan.pk, page.version])
    assert css_url in landing(client, conversation.reference).content.decode()
    css = client.get(css_url)
    assert css["Content-Type"].startswith("text/css")
    assert css.content.decode() == ":root { --landing-accent: #aa3300; }\n"


def test_a_page_without_branding_still_works(client, moved):
    conversation, _plan = moved
    response = landing(client, conversation.reference)
    assert response.status_code == 200
    assert "landing_brand_css" not in response.content.decode()


def test_a_landing_costs_one_query(client, branded, django_assert_num_queries):
    conversation, _plan = branded
    landing(client, conversation.reference)  # a person's first visit; the next is a repeat
    # One statement: the conversation, the plan it was moved by (else its channel's newest approved
    # plan, as here), the targets and the branding, and the INSERT of the visit (its kind decided
    # inside it). The page itself comes from the process's rendered copy.
    with django_assert_num_queries(1):
        assert landing(client, conversation.reference).status_code == 200
    with django_assert_num_queries(1):
        assert client.head(reverse("tracked_redirect", args=[conversation.reference])).status_code == 200
    with django_assert_num_queries(1):
        assert landing(client, conversation.reference, HTTP_USER_AGENT="Twitterbot/1.0").status_code == 200
    kinds = list(LandingVisit.objects.order_by("id").values_list("kind", flat=True))
    assert kinds == ["human", "repeat", "head", "crawler"]


def _prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
def test_the_page_is_read_with_a_prepared_statement_past_the_bound_and_on_a_choice(client, branded, settings):
    conversation, _plan = branded
    settings.DUSK_TRACKED_LINK_RATE = 1
    assert landing(client, conversation.reference).status_code == 200  # recorded: the recording statement
    assert landing(client, conversation.reference).status_code == 200  # past the bound: read only
    assert client.get(reverse("landing_choose", args=[conversation.reference, 1])).status_code == 302
    # Planning the page's query costs PostgreSQL more than running it: the read-only path and the
    # choice read it through the statement the connection prepared, not a fresh one each time.
    reads = [s for s in _prepared_statements() if "WHERE c.reference = $1" in s and "INSERT" not in s]
    assert len(reads) == 1
    assert len([s for s in _prepared_statements() if "INSERT INTO channels_app_landingvisit" in s]) == 1
    # Past the bound, neither the second landing nor the choice is recorded.
    assert LandingVisit.objects.filter(conversation=conversation).count() == 1
    assert not RedirectClick.objects.filter(conversation=conversation).exists()


def test_an_unknown_reference_records_nothing_in_its_one_query(client, branded, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert landing(client, "DSK-NOPE0000").status_code == 404
    assert not LandingVisit.objects.exists()


def test_each_reference_gets_its_own_page_from_the_rendered_copy(client, branded):
    conversation, plan = branded
    other = ConversationFactory(channel=conversation.channel, locale="")
    first = landing(client, conversation.reference, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    second = landing(client, other.reference, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f'<strong id="reference">{other.reference}</strong>' in second
    assert reverse("landing_contact", args=[other.reference]) in second
    assert conversation.reference not in second
    assert (
        first.replace(conversation.reference, other.reference).split("csrfmiddlewaretoken")[0]
        == (second.split("csrfmiddlewaretoken")[0])
    )


def test_an_edit_of_the_branding_or_the_targets_shows_at_once(client, branded, manager):
    conversation, plan = branded
    assert "Brand Co" in landing(client, conversation.reference).content.decode()
    page = LandingPage.objects.get(plan=plan)
    save_landing_page(
        actor=manager,
        plan=plan,
        display_name="Brand Company",
        accent="#112233",
        reference_param="ref",
        phone_opens=page.phone_opens,
        phone_closes=page.phone_closes,
        phone_zone=page.phone_zone,
    )
    html = landing(client, conversation.reference).content.decode()
    assert "Brand Company" in html
    assert reverse("landing_brand_css", args=[plan.pk, page.version + 1]) in html
    RedirectTarget.objects.filter(plan=plan, position=1).update(label="Contact form")
    html = landing(client, conversation.reference).content.decode()
    assert "Contact form" in html
    assert "Web form" not in html


def test_the_contact_form_of_the_rendered_copy_passes_csrf(branded):
    conversation, _plan = branded
    browser = Client(enforce_csrf_checks=True, HTTP_USER_AGENT=BROWSER)
    for _visit in range(2):  # the rendered copy is made, then served
        html = browser.get(reverse("tracked_redirect", args=[conversation.reference])).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    response = browser.post(
        reverse("landing_contact", args=[conversation.reference]),
        {
            "name": "Camille",
            "email": "camille@example.com",
            "message": "Where is my order?",
            "website": "",
            "csrfmiddlewaretoken": token,
        },
    )
    assert response.status_code == 302
    assert HandoffRequest.objects.filter(conversation=conversation).count() == 1


def test_an_address_is_recorded_at_most_the_bound_per_minute_and_still_gets_the_page(client, branded, settings):
    conversation, _plan = branded
    settings.DUSK_TRACKED_LINK_RATE = 2
    for _visit in range(4):
        response = landing(client, conversation.reference)
        assert response.status_code == 200 and conversation.reference in response.content.decode()
    assert LandingVisit.objects.filter(conversation=conversation).count() == 2
    # Another address has its own bound.
    assert landing(client, conversation.reference, REMOTE_ADDR="203.0.113.9").status_code == 200
    assert LandingVisit.objects.filter(conversation=conversation).count() == 3
