"""portal/wsgi.py: webhooks are served by a lean handler (portal/handlers.py: DUSK_WEBHOOK_MIDDLEWARE
and DUSK_WEBHOOK_URLCONF); everything else by the full middleware stack. Requests here go through the
real WSGI callable gunicorn serves, not Django's test client (which always uses MIDDLEWARE)."""

from wsgiref.util import setup_testing_defaults

import httpx
import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.urls import URLPattern, URLResolver, get_resolver

from channels_app.models import AuditEvent, Message, OutboxMessage
from channels_app.tests.support.fakeplatforms import build_tweet
from channels_app.tests.support.inbound_helpers import signed_x_delivery
from portal import handlers, wsgi

pytestmark = pytest.mark.django_db

SECURITY_HEADERS = (
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
    "Content-Length",
)


def _app(environ, start_response):
    """portal.wsgi.application without the request signals closing the test's connection (the
    test runs in a transaction), as Django's test client does for each request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        response = wsgi.application(environ, start_response)
        try:
            return list(response)
        finally:
            # What a WSGI server does once the body is sent: it sends request_finished, which
            # (among others) puts this thread back on the root URLconf after a webhook's.
            response.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def served():
    """An HTTP client for the WSGI callable gunicorn serves."""
    with httpx.Client(transport=httpx.WSGITransport(app=_app), base_url="http://testserver") as http:
        yield http


def _post(http, channel, body, headers):
    return http.post(f"/hooks/{channel.pk}/x", content=body, headers={**headers, "content-type": "application/json"})


def test_a_delivery_through_the_lean_handler_is_stored_and_keeps_the_security_headers(served, client, retired_x):
    body, headers = signed_x_delivery([build_tweet("1001", "@brand where is my parcel?", "42", "ana")])
    response = _post(served, retired_x, body, headers)
    assert response.status_code == 200
    assert response.json() == {"stored": 1, "duplicates": 0, "replies_queued": 1}
    assert Message.objects.count() == 1 and OutboxMessage.objects.count() == 1
    # The same headers as the full stack gives the same request (here: a duplicate).
    full = client.post(f"/hooks/{retired_x.pk}/x", body, content_type="application/json", headers=headers)
    assert full.json() == {"stored": 0, "duplicates": 1, "replies_queued": 0}
    again = _post(served, retired_x, body, headers)
    for name in SECURITY_HEADERS:
        assert again.headers.get(name) == full.headers.get(name), name
        assert again.headers.get(name), name
    # Nothing of the browser stack: no session or CSRF cookie, no language negotiation.
    assert "set-cookie" not in again.headers and "content-language" not in again.headers


def test_the_lean_handler_still_refuses_a_bad_signature(served, retired_x):
    body, headers = signed_x_delivery([build_tweet("1001", "hello", "42", "ana")])
    response = _post(served, retired_x, body.replace(b"hello", b"hellO"), headers)
    assert response.status_code == 403
    assert response.json()["error"].startswith("Signature check failed")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert not Message.objects.exists() and not OutboxMessage.objects.exists()


def test_the_crc_check_is_answered_by_the_lean_handler(served, retired_x):
    response = served.get(f"/hooks/{retired_x.pk}/x", params={"crc_token": "abc"})
    assert response.status_code == 200 and response.json()["response_token"].startswith("sha256=")


def test_only_webhooks_resolve_under_the_hooks_prefix(served, retired_x):
    # A path under /hooks/ never reaches another view without the browser middleware.
    for path in ("/hooks/1/x/", "/hooks/", "/hooks/1/x/admin/"):
        response = served.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"error": f"No webhook at {path}."}
    # Nor with dot segments a proxy passed on as they are (httpx would normalise them).
    environ = {}
    setup_testing_defaults(environ)
    environ.update(PATH_INFO="/hooks/../admin/", HTTP_HOST="testserver")
    status = []
    _app(environ, lambda line, headers, exc_info=None: status.append(line))
    assert status[0].startswith("404")


def test_other_paths_keep_the_full_middleware(served):
    response = served.get("/")
    assert response.status_code == 302 and "/accounts/login/" in response.headers["location"]
    assert "Accept-Language" in response.headers.get("vary", "")  # LocaleMiddleware ran


def test_the_webhook_urlconf_holds_exactly_the_projects_hooks():
    def routes(resolver, prefix=""):
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                yield from routes(entry, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                yield prefix + str(entry.pattern), entry.callback

    hooks = dict(routes(get_resolver(settings.DUSK_WEBHOOK_URLCONF)))
    project = {
        route: view for route, view in routes(get_resolver()) if ("/" + route).startswith(handlers.WEBHOOK_PREFIX)
    }
    assert hooks and hooks == project


def test_the_webhook_middleware_is_a_subset_of_the_projects_in_the_same_order():
    in_order = [m for m in settings.MIDDLEWARE if m in settings.DUSK_WEBHOOK_MIDDLEWARE]
    assert in_order == settings.DUSK_WEBHOOK_MIDDLEWARE
    assert "django.middleware.security.SecurityMiddleware" in settings.DUSK_WEBHOOK_MIDDLEWARE


def test_building_the_lean_handler_leaves_the_projects_middleware_alone(settings):
    # Nothing else may see MIDDLEWARE change, not even while the lean chain is built.
    before = list(settings.MIDDLEWARE)
    seen = []
    settings.DUSK_WEBHOOK_MIDDLEWARE = [*settings.DUSK_WEBHOOK_MIDDLEWARE, f"{__name__}.RecordingMiddleware"]
    RecordingMiddleware.seen = seen
    handler = handlers.WebhookWSGIHandler()
    assert handler.middleware == settings.DUSK_WEBHOOK_MIDDLEWARE
    assert seen == [before]
    assert list(settings.MIDDLEWARE) == before


class RecordingMiddleware:
    """Records settings.MIDDLEWARE as it is while the chain holding it is built."""

    seen: list = []

    def __init__(self, get_response):
        self.seen.append(list(settings.MIDDLEWARE))
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)


def test_a_server_error_under_the_hooks_prefix_is_json_and_acknowledges_nothing(served, retired_x, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr("channels_app.platforms.views.webhooks.receive_events", broken)
    body, headers = signed_x_delivery([build_tweet("1001", "hello", "42", "ana")])
    response = _post(served, retired_x, body, headers)
    assert response.status_code == 500
    assert "Nothing was acknowledged" in response.json()["error"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_refused_delivery_through_the_lean_handler_is_a_security_event(served, retired_x):
    cache.clear()  # the security events' rate-limit counters
    response = _post(served, retired_x, b"{}", {"x-twitter-webhooks-signature": "sha256=forged"})
    assert response.status_code == 403
    event = AuditEvent.objects.get(action="security.webhook_refused")
    assert event.after["path"] == f"/hooks/{retired_x.pk}/x" and event.after["status"] == 403
