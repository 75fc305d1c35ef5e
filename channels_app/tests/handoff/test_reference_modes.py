"""How each redirect target is told the customer's reference: the landing page's parameter by
default, or per target a query parameter, a form field (a small form that submits it, GET or
POST, with the page's form-action policy naming the target) or nothing; hostile names refused."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from channels_app.models import RedirectClick, RedirectTarget
from channels_app.plans.services.plans import RedirectInput, create_plan
from channels_app.tests.support.factories import ChannelFactory, ConversationFactory
from channels_app.tests.support.helpers import BROWSER, approved_plan, utc_phase

pytestmark = pytest.mark.django_db

TARGETS = [
    RedirectInput("phone", "Phone support", "+33 1 23 45 67 89"),
    RedirectInput("url", "Web form", "https://help.example.com/contact?topic=moved", 0, "form_post", "ticket_ref"),
    RedirectInput("url", "Search", "https://kb.example.com/find?lang=fr&case=old", 0, "form_get", "case"),
    RedirectInput("app", "Brand app", "https://app.example.com/support", 0, "query", "case"),
    RedirectInput("url", "Status page", "https://status.example.com/", 0, "none", ""),
    RedirectInput("url", "Community", "https://community.example.com/new"),  # the landing page's own
]


@pytest.fixture
def modes(manager, approver):
    channel = ChannelFactory(kind="x", name="Brand on X")
    conversation = ConversationFactory(channel=channel, locale="")
    plan = approved_plan(manager=manager, approver=approver, channels=[channel], redirects=TARGETS)
    return conversation, plan


def choose(client, conversation, position):
    return client.get(reverse("landing_choose", args=[conversation.reference, position]), HTTP_USER_AGENT=BROWSER)


def test_a_post_form_target_gets_the_reference_in_a_hidden_field(client, modes):
    conversation, _plan = modes
    response = client.get(reverse("tracked_redirect", args=[conversation.reference]), HTTP_USER_AGENT=BROWSER)
    html = response.content.decode()
    ref = conversation.reference
    assert (
        '<form class="landing-choice-form" method="post" action="https://help.example.com/contact?topic=moved"' in html
    )
    assert f'<input type="hidden" name="ticket_ref" value="{ref}">' in html
    # The portal's CSRF token never travels to the target: only in a data attribute for the beacon.
    form = html.split('action="https://help.example.com/contact?topic=moved"')[1].split("</form>")[0]
    assert 'name="csrfmiddlewaretoken"' not in form
    # The strict policy names the forms' targets, and nothing else.
    policy = response["Content-Security-Policy"]
    assert "form-action 'self' https://help.example.com https://kb.example.com;" in policy
    assert "script-src 'self';" in policy


def test_a_get_form_keeps_the_targets_own_query_as_hidden_fields(client, modes):
    conversation, _plan = modes
    html = client.get(reverse("tracked_redirect", args=[conversation.reference]), HTTP_USER_AGENT=BROWSER)
    html = html.content.decode()
    assert '<form class="landing-choice-form" method="get" action="https://kb.example.com/find"' in html
    form = html.split('action="https://kb.example.com/find"')[1].split("</form>")[0]
    assert '<input type="hidden" name="lang" value="fr">' in form
    assert f'<input type="hidden" name="case" value="{conversation.reference}">' in form
    assert 'value="old"' not in form  # the target's own "case" gives way to the reference


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        (3, "https://app.example.com/support?case={ref}"),  # query parameter, its own name
        (4, "https://status.example.com/"),  # not passed on
        (5, "https://community.example.com/new?ref={ref}"),  # the landing page's parameter (ref)
    ],
)
def test_links_carry_the_reference_as_their_target_says(client, modes, position, expected):
    conversation, _plan = modes
    assert choose(client, conversation, position)["Location"] == expected.format(ref=conversation.reference)


def test_a_form_choice_is_recorded_by_the_beacon(client, modes):
    conversation, _plan = modes
    url = reverse("landing_choose", args=[conversation.reference, 1])
    response = client.post(url, HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 204
    click = RedirectClick.objects.get()
    assert (click.conversation, click.target.position) == (conversation, 1)


@pytest.mark.parametrize(
    ("mode", "name", "kind", "value"),
    [
        ("query", 'x"><script>alert(1)</script>', "url", "https://help.example.com/"),
        ("form_post", "ref name", "url", "https://help.example.com/"),
        ("form_get", "", "url", "https://help.example.com/"),
        ("query", "9ref", "url", "https://help.example.com/"),
        ("query", "ref", "phone", "+33 1 23 45 67 89"),
        ("none", "ref", "url", "https://help.example.com/"),
        ("javascript", "ref", "url", "https://help.example.com/"),
    ],
)
def test_a_hostile_or_meaningless_reference_setting_is_refused(manager, mode, name, kind, value):
    channel = ChannelFactory(kind="x")
    with pytest.raises(ValidationError) as refused:
        create_plan(
            actor=manager,
            title="Sunset",
            channel_ids=[channel.pk],
            phases=[utc_phase("hard_close", timezone.now() + timedelta(days=30))],
            redirects=[RedirectInput(kind, "Target", value, 0, mode, name)],
        )
    assert "redirects" in refused.value.message_dict
    assert not RedirectTarget.objects.exists()


def test_the_database_refuses_a_hostile_name_too(modes):
    _conversation, plan = modes
    with pytest.raises(IntegrityError), transaction.atomic():
        RedirectTarget.objects.filter(plan=plan, position=3).update(reference_name='"><b>')
