"""The landing pages through the WSGI callable gunicorn serves (portal/handlers.py: the landing
handler, DUSK_LANDING_MIDDLEWARE): the same page, headers and CSRF protection as through the full
middleware stack, without sessions or sign-in. Django's test client always uses MIDDLEWARE, so
these requests go through portal.wsgi.application itself."""

import re

import httpx
import pytest
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from channels_app.handoff import views
from channels_app.models import HandoffRequest, LandingVisit
from channels_app.tests.support.helpers import BROWSER
from portal import asgi, handlers, wsgi

pytestmark = pytest.mark.django_db

HEADERS = (
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
    "X-Robots-Tag",
    "Content-Language",
)
FORM = {"name": "Camille", "email": "camille@example.com", "message": "Where is my order?", "website": ""}


def _app(environ, start_response):
    """portal.wsgi.application without the request signals closing the test's connection (as in
    tests/web/test_wsgi.py)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        response = wsgi.application(environ, start_response)
        try:
            return list(response)
        finally:
            response.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def served():
    with httpx.Client(
        transport=httpx.WSGITransport(app=_app), base_url="http://testserver", headers={"User-Agent": BROWSER}
    ) as http:
        yield http


def test_the_page_through_the_landing_handler_is_the_full_stacks_and_records_the_visit(served, branded):
    conversation, _plan = branded
    path = reverse("tracked_redirect", args=[conversation.reference])
    lean = served.get(path, headers={"Accept-Language": "fr"})
    full = Client(HTTP_USER_AGENT=BROWSER).get(path, HTTP_ACCEPT_LANGUAGE="fr")
    assert lean.status_code == full.status_code == 200
    assert LandingVisit.objects.filter(conversation=conversation).count() == 2
    token = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')
    assert token.sub("", lean.text) == token.sub("", full.content.decode())
    for name in HEADERS:
        assert lean.headers.get(name) == full.headers.get(name), name
        assert lean.headers.get(name), name
    assert "Accept-Language" in lean.headers["vary"]  # LocaleMiddleware ran
    # A CSRF cookie and nothing of the sign-in stack: no session cookie.
    assert set(lean.cookies) == {settings.CSRF_COOKIE_NAME}


def test_the_contact_form_needs_its_csrf_token_through_the_landing_handler(served, branded):
    conversation, _plan = branded
    page = served.get(reverse("tracked_redirect", args=[conversation.reference])).text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    contact = reverse("landing_contact", args=[conversation.reference])
    assert served.post(contact, data=FORM).status_code == 403  # the cookie alone does not do
    assert not HandoffRequest.objects.exists()
    response = served.post(contact, data={**FORM, "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert HandoffRequest.objects.filter(conversation=conversation).count() == 1
    # The choice beacon is a POST too.
    beacon = reverse("landing_choose", args=[conversation.reference, 1])
    assert served.post(beacon).status_code == 403
    assert served.post(beacon, headers={"X-CSRFToken": token}).status_code == 204


def test_a_nul_byte_is_refused_by_the_landing_handler_without_a_session(served, branded):
    conversation, _plan = branded
    page = served.get(reverse("tracked_redirect", args=[conversation.reference])).text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = served.post(
        reverse("landing_contact", args=[conversation.reference]),
        data={**FORM, "message": "bad\x00byte", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 400
    assert not HandoffRequest.objects.exists()


def test_an_unknown_path_under_the_landing_prefixes_is_a_404(served, branded):
    for path in ("/r/DSK-NOPE0000", "/r/DSK-NOPE0000/go/9", "/r/a/b/c/d", "/landing/", "/landing/1/logo-1"):
        assert served.get(path).status_code == 404, path


def test_only_the_landing_views_resolve_under_the_landing_prefixes():
    # The landing handler runs no sign-in middleware: no other view may be reached through it.
    public = {views.landing, views.landing_choose, views.landing_contact, views.landing_brand_css, views.landing_logo}

    def routes(resolver, prefix=""):
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                yield from routes(entry, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                yield prefix + str(entry.pattern), entry.callback

    found = {}
    for route, view in routes(get_resolver()):
        # The literal start of the route; a route that is all literal matches only itself.
        head = re.split(r"[<(\[\\^$.*+?{|]", route.removeprefix("^"), maxsplit=1)[0]
        literal = head == route
        under = any(
            ("/" + head).startswith(p) or (not literal and p.startswith("/" + head)) for p in handlers.LANDING_PREFIXES
        )
        if under:
            found[route] = view
    assert found and set(found.values()) == public, found


def test_the_landing_middleware_is_a_subset_of_the_projects_in_the_same_order():
    in_order = [m for m in settings.MIDDLEWARE if m in settings.DUSK_LANDING_MIDDLEWARE]
    assert in_order == settings.DUSK_LANDING_MIDDLEWARE
    for kept in ("django.middleware.csrf.CsrfViewMiddleware", "django.middleware.security.SecurityMiddleware"):
        assert kept in settings.DUSK_LANDING_MIDDLEWARE
    for application in (wsgi.landing_application, asgi.landing_application):
        assert application.middleware == settings.DUSK_LANDING_MIDDLEWARE
        assert "django.contrib.sessions.middleware.SessionMiddleware" not in application.middleware
