"""portal/asgi.py: the same split as portal/wsgi.py. Webhooks get the lean handler
(DUSK_WEBHOOK_MIDDLEWARE and DUSK_WEBHOOK_URLCONF), everything else the full middleware stack.
Requests here are ASGI calls (scope, receive, send) on portal.asgi.application itself, what an
ASGI server runs; Django's AsyncClient would bypass it."""

import asyncio
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from channels_app.models import Message, OutboxMessage
from channels_app.tests.support.fakeplatforms import build_tweet
from channels_app.tests.support.inbound_helpers import signed_x_delivery
from portal import asgi

pytestmark = pytest.mark.django_db

SECURITY_HEADERS = (
    "content-security-policy",
    "x-frame-options",
    "x-content-type-options",
    "referrer-policy",
    "cross-origin-opener-policy",
    "content-length",
)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    cookies: list[str]
    body: bytes


async def _call(app, scope: dict, body: bytes) -> Answer:
    """One HTTP request as an ASGI server makes it: the body, then (once the response is sent)
    the client's disconnect."""
    sent: list[dict] = []
    responded = asyncio.Event()
    request_sent = False

    async def receive():
        nonlocal request_sent
        if not request_sent:
            request_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await responded.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            responded.set()

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    raw = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in start["headers"]]
    return Answer(
        status=start["status"],
        headers={k: v for k, v in raw if k != "set-cookie"},
        cookies=[v for k, v in raw if k == "set-cookie"],
        body=b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"),
    )


def serve(method: str, path: str, *, body: bytes = b"", headers: dict | None = None, query=None, root_path=""):
    """portal.asgi.application, driven from this (synchronous) test: async_to_sync runs the sync
    views back on this thread, on the test's database connection, as an ASGI server's thread
    pool would on its own. The request signals are unhooked as in test_wsgi.py: they would close
    the connection the test holds open in a transaction."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": root_path + path,
        "raw_path": (root_path + path).encode(),
        "root_path": root_path,
        "query_string": urlencode(query or {}).encode(),
        "headers": [(b"host", b"testserver")]
        + [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        return async_to_sync(_call)(asgi.application, scope, body)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_a_delivery_through_asgi_gets_the_lean_stack(retired_x):
    body, headers = signed_x_delivery([build_tweet("1001", "@brand where is my parcel?", "42", "ana")])
    # No CSRF cookie or token, no session: a platform sends neither.
    answer = serve(
        "POST", f"/hooks/{retired_x.pk}/x", body=body, headers={**headers, "content-type": "application/json"}
    )
    assert answer.status == 200, answer.body
    assert answer.body == b'{"stored": 1, "duplicates": 0, "replies_queued": 1}'
    assert Message.objects.count() == 1 and OutboxMessage.objects.count() == 1
    # The middleware that shapes a response ran...
    for name in SECURITY_HEADERS:
        assert answer.headers.get(name), name
    # ...and nothing of the browser stack: no session or CSRF cookie, no language negotiation.
    assert answer.cookies == []
    assert "content-language" not in answer.headers
    assert "Accept-Language" not in answer.headers.get("vary", "")


def test_the_asgi_lean_handler_is_built_from_the_webhook_middleware_only():
    assert asgi.webhook_application.middleware == settings.DUSK_WEBHOOK_MIDDLEWARE
    for browser_only in (
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
    ):
        assert browser_only not in asgi.webhook_application.middleware


def test_the_crc_check_is_answered_through_asgi(retired_x):
    answer = serve("GET", f"/hooks/{retired_x.pk}/x", query={"crc_token": "abc"})
    assert answer.status == 200 and b'"response_token": "sha256=' in answer.body


@pytest.mark.parametrize(
    "path", ["/hooks/1/x/", "/hooks/", "/hooks/1/x/admin/", "/hooks/../admin/", "/hooks/accounts/login/"]
)
def test_only_webhooks_resolve_under_the_hooks_prefix_through_asgi(path):
    answer = serve("GET", path)
    assert answer.status == 404
    assert answer.headers["content-type"] == "application/json"
    assert answer.body == f'{{"error": "No webhook at {path}."}}'.encode()


def test_the_prefix_is_matched_below_the_root_path():
    # Mounted under /dusk, /dusk/hooks/... is a webhook path and /dusk/... a portal one.
    answer = serve("GET", "/hooks/1/x/admin/", root_path="/dusk")
    assert answer.status == 404 and answer.body == b'{"error": "No webhook at /dusk/hooks/1/x/admin/."}'
    portal = serve("GET", "/", root_path="/dusk")
    assert portal.status == 302 and portal.headers["location"].startswith("/dusk/accounts/login/")


def test_other_paths_keep_the_full_middleware_through_asgi():
    answer = serve("GET", "/")
    assert answer.status == 302 and "/accounts/login/" in answer.headers["location"]
    assert "Accept-Language" in answer.headers.get("vary", "")  # LocaleMiddleware ran
    # CSRF protection ran: a sign-in without the token is refused.
    refused = serve(
        "POST",
        "/accounts/login/",
        body=b"username=maya&password=nope",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert refused.status == 403
    # The sign-in form hands out the CSRF cookie a browser posts back.
    page = serve("GET", "/accounts/login/")
    assert page.status == 200 and any(cookie.startswith("csrftoken=") for cookie in page.cookies)
