"""Only people count: link previews, crawlers, HEAD requests and repeats are recorded apart, and
the watchdog's redirect share counts people."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from channels_app.handoff.selectors import is_crawler
from channels_app.handoff.services.landing import record_landing
from channels_app.models import LandingVisit, RedirectClick
from channels_app.tests.support.helpers import BROWSER

pytestmark = pytest.mark.django_db

# As each service sends it when a link is pasted (or its page indexed).
UNFURLERS = {
    "Twitterbot": "Twitterbot/1.0",
    "facebookexternalhit": "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Slackbot-LinkExpanding": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Discordbot": "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "Discourse Forum Onebox": "Discourse Forum Onebox v3.2.0",
    "Googlebot": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "bingbot": "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "WhatsApp": "WhatsApp/2.23.20.0 A",
}
PEOPLE = [
    BROWSER,
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36",
]


@pytest.mark.parametrize("name", list(UNFURLERS))
def test_an_unfurler_sees_the_page_but_is_not_counted(client, moved, name):
    conversation, _plan = moved
    response = client.get(reverse("tracked_redirect", args=[conversation.reference]), HTTP_USER_AGENT=UNFURLERS[name])
    assert response.status_code == 200  # the preview still reads the page
    assert list(LandingVisit.objects.values_list("kind", flat=True)) == ["crawler"]
    # ...and a robot following a choice writes no click-through.
    client.get(reverse("landing_choose", args=[conversation.reference, 1]), HTTP_USER_AGENT=UNFURLERS[name])
    assert not RedirectClick.objects.exists()


@pytest.mark.parametrize("agent", PEOPLE)
def test_browsers_are_people(agent):
    assert not is_crawler(agent)


def test_a_head_request_and_an_empty_user_agent_are_not_people(client, moved):
    conversation, _plan = moved
    url = reverse("tracked_redirect", args=[conversation.reference])
    assert client.head(url, HTTP_USER_AGENT=BROWSER).status_code == 200
    assert client.get(url).status_code == 200  # no User-Agent at all
    assert sorted(LandingVisit.objects.values_list("kind", flat=True)) == ["crawler", "head"]


def test_the_same_person_twice_in_a_day_counts_once_and_again_the_next_day(moved):
    conversation, _plan = moved
    now = timezone.now()
    kinds = [
        record_landing(conversation=conversation, visitor="v1", user_agent=BROWSER, method="GET", now=now),
        record_landing(
            conversation=conversation, visitor="v1", user_agent=BROWSER, method="GET", now=now + timedelta(hours=5)
        ),
        record_landing(conversation=conversation, visitor="v2", user_agent=BROWSER, method="GET", now=now),
        record_landing(
            conversation=conversation, visitor="v1", user_agent=BROWSER, method="GET", now=now + timedelta(hours=30)
        ),
    ]
    assert kinds == ["human", "repeat", "human", "human"]


def test_another_address_or_browser_is_another_visitor(client, moved):
    conversation, _plan = moved
    url = reverse("tracked_redirect", args=[conversation.reference])
    client.get(url, HTTP_USER_AGENT=PEOPLE[0], REMOTE_ADDR="203.0.113.7")
    client.get(url, HTTP_USER_AGENT=PEOPLE[0], REMOTE_ADDR="203.0.113.7")
    client.get(url, HTTP_USER_AGENT=PEOPLE[1], REMOTE_ADDR="203.0.113.7")
    client.get(url, HTTP_USER_AGENT=PEOPLE[0], REMOTE_ADDR="198.51.100.2")
    assert sorted(LandingVisit.objects.values_list("kind", flat=True)) == ["human", "human", "human", "repeat"]
    # The visitor is a keyed hash, never the address or the browser.
    assert not LandingVisit.objects.filter(visitor__contains="203.0.113").exists()
