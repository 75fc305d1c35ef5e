"""The platform fakes as one sandbox: the tests' default platforms and the demo's (`manage.py
serve_sandbox`, started by `make run`).

A sandbox runs FakeX, FakeYouTube, FakeDiscourse and FakeMessenger on 127.0.0.1 (ephemeral ports
for tests, fixed ones for the demo), says which environment variables point channels at them
(`environment()`), can refuse every request with 401 (`refuse()`, the revoked-token story), and
renders what each fake received as a small HTML page (`page()`), which serve_sandbox serves.
"""

from __future__ import annotations

import html
import os
import secrets
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from channels_app.tests.support.fakeplatforms import FakeDiscourse, FakeMessenger, FakePlatform, FakeX, FakeYouTube

# The order the fixed ports follow: X on the first port, YouTube on the next...
KINDS = ("x", "youtube", "discourse", "messenger")

# The credentials each fake accepts (its defaults) and the account it answers as.
TOKENS = {"x": "x-bearer-token", "youtube": "yt-oauth-token", "discourse": "discourse-key", "messenger": "page-token"}
ACCOUNTS = {"x": "783214", "youtube": "UCfakechannel0000000000", "discourse": "dusk-bot", "messenger": "page-1"}


# The demo's channels (seed_demo) name these variables; `make run` sets them to what the sandbox
# accepts. Where each platform listens: DUSK_SANDBOX_<KIND>_URL, else 127.0.0.1 from
# DUSK_SANDBOX_PORT in KINDS order (the page listing what they received on the port after).
DEMO_TOKEN_ENV = {kind: f"DUSK_CHANNEL_DEMO_{kind.upper()}_TOKEN" for kind in KINDS}
SANDBOX_URL_ENV = {kind: f"DUSK_SANDBOX_{kind.upper()}_URL" for kind in KINDS}


def public_face(kind: str, fake: FakePlatform) -> list[tuple[str, str]]:
    """What the platform shows everyone, as (what, value) rows: the brand's posts on X, the
    forum's topics and category permissions, the Messenger greeting, the YouTube description."""
    rows: list[tuple[str, str]] = []
    if isinstance(fake, FakeX):
        rows += [(f"post {p['id']}", p["text"]) for p in fake.posts()]
    elif isinstance(fake, FakeDiscourse):
        for topic in fake.live_topics():
            pinned = "pinned globally" if topic["pinned_globally"] else "not pinned"
            what = f"topic {topic['id']} in category {topic['category_id']}, {pinned}, version {topic['version']}"
            rows.append((what, f"{topic['title']}\n\n{topic['raw']}"))
        for number, category in sorted(fake.categories.items()):
            permissions = ", ".join(f"{group}: {kind}" for group, kind in category["permissions"].items())
            rows.append((f"category {number} {category['name']}", f"{permissions} (1 full, 2 post, 3 read)"))
    elif isinstance(fake, FakeMessenger):
        for greeting in fake.profile.get("greeting") or []:
            rows.append((f"greeting {greeting['locale']}", greeting["text"]))
        for breakers in fake.profile.get("ice_breakers") or []:
            questions = [b.get("question", "") for b in breakers.get("call_to_actions") or []]
            rows.append(("ice breakers", " · ".join(questions)))
    elif isinstance(fake, FakeYouTube):
        rows.append(("description", str((fake.branding.get("channel") or {}).get("description") or "")))
        for language, value in sorted(fake.localizations.items()):
            rows.append((f"description {language}", str(value.get("description") or "")))
    return rows


def sandbox_url(kind: str, first_port: int) -> str:
    return os.environ.get(SANDBOX_URL_ENV[kind]) or f"http://127.0.0.1:{first_port + KINDS.index(kind)}"


def demo_channel(kind: str, first_port: int) -> dict[str, str]:
    """A demo channel's fields pointing it at the sandbox (nothing for kinds it does not play)."""
    if kind not in KINDS:
        return {}
    return {
        "api_token_env": DEMO_TOKEN_ENV[kind],
        "api_base_url": sandbox_url(kind, first_port),
        "platform_account_id": ACCOUNTS[kind],
    }


# The variables the benches' channels name, and where the bench sandbox says it listens.
BENCH_TOKEN_ENV = {kind: f"DUSK_CHANNEL_BENCH_{kind.upper()}_TOKEN" for kind in KINDS}
BENCH_URL_ENV = {kind: f"DUSK_BENCH_SANDBOX_{kind.upper()}_URL" for kind in KINDS}


def bench_sandbox() -> Sandbox:
    """A started sandbox with its variables set in this process's environment, so the processes
    a bench starts afterwards (children, workers) inherit them."""
    sandbox = Sandbox(token_env=BENCH_TOKEN_ENV, url_env=BENCH_URL_ENV).start()
    os.environ.update(sandbox.environment())
    return sandbox


def bench_channel(kind: str) -> dict[str, str]:
    """A bench channel's fields pointing it at the bench sandbox (bench_sandbox() started it)."""
    return {
        "api_token_env": BENCH_TOKEN_ENV[kind],
        "api_base_url": os.environ[BENCH_URL_ENV[kind]],
        "platform_account_id": ACCOUNTS[kind],
    }


def _fake(kind: str) -> FakePlatform:
    fake = {"x": FakeX, "youtube": FakeYouTube, "discourse": FakeDiscourse, "messenger": FakeMessenger}[kind]()
    if isinstance(fake, FakeMessenger):  # the page's welcome before any public notice
        fake.profile = {"greeting": [{"locale": "default", "text": "Hi {{user_first_name}}! Ask us anything."}]}
    return fake


class Sandbox:
    """The four HTTP platform fakes. `token_env` maps a kind to the variable that holds its token
    (DUSK_CHANNEL_...); `url_env` to the variable that holds its base URL."""

    def __init__(self, *, token_env: Mapping[str, str], url_env: Mapping[str, str], first_port: int = 0) -> None:
        self.token_env = dict(token_env)
        self.url_env = dict(url_env)
        self.first_port = first_port
        self.fakes: dict[str, FakePlatform] = {kind: _fake(kind) for kind in KINDS}

    def start(self) -> Sandbox:
        for offset, kind in enumerate(KINDS):
            self.fakes[kind].start(self.first_port + offset if self.first_port else 0)
        return self

    def stop(self) -> None:
        for fake in self.fakes.values():
            fake.stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def environment(self) -> dict[str, str]:
        """The variables that point channels at this sandbox, with the tokens it accepts."""
        values = {self.token_env[kind]: TOKENS[kind] for kind in KINDS if kind in self.token_env}
        values.update({self.url_env[kind]: self.fakes[kind].base_url for kind in KINDS if kind in self.url_env})
        return values

    def channel_settings(self, kind: str) -> dict[str, str]:
        """A channel's fields that point it at this sandbox (Channel.objects.create(**...))."""
        return {
            "api_token_env": self.token_env[kind],
            "api_base_url": self.fakes[kind].base_url,
            "platform_account_id": ACCOUNTS[kind],
        }

    def refuse(self, kind: str, refuse: bool = True) -> None:
        """Answer every request to this platform with 401 (revoked credentials), or stop doing so."""
        self.fakes[kind].refuse_credentials = refuse

    def page(self, *, form_token: str = "", limit: int = 50) -> str:
        """What each fake received, newest first, and the 401 switches (when form_token is given)."""
        parts = [
            "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Dusk platform sandbox</title>",
            "<style>body{font:14px system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}"
            "code{white-space:pre-wrap;word-break:break-all}.off{color:#a00}</style></head><body>",
            "<h1>Dusk platform sandbox</h1>",
            "<p>The fakes the tests use, playing the demo's platforms on loopback. Each request they "
            "received is listed, newest first.</p>",
        ]
        for kind in KINDS:
            fake = self.fakes[kind]
            received = sorted([*fake.received, *fake.identity_checks], key=lambda r: r.at)
            state = "answers 401 to everything" if fake.refuse_credentials else "accepts its credentials"
            parts.append(f"<h2 id='{kind}'>{html.escape(fake.name)} · {html.escape(fake.base_url)}</h2>")
            parts.append(
                f"<p class='{'off' if fake.refuse_credentials else ''}'>{len(received)} requests · {state}</p>"
            )
            face = public_face(kind, fake)
            if face:
                parts.append("<table class='face'><caption>What everyone sees</caption>")
                for what, value in face:
                    parts.append(f"<tr><th>{html.escape(what)}</th><td><code>{html.escape(value)}</code></td></tr>")
                parts.append("</table>")
            if form_token:
                action = "accept" if fake.refuse_credentials else "refuse"
                label = "Accept credentials again" if fake.refuse_credentials else "Answer 401 (revoke the token)"
                parts.append(
                    "<form method='post' action='/switch'>"
                    f"<input type='hidden' name='token' value='{form_token}'>"
                    f"<input type='hidden' name='platform' value='{kind}'>"
                    f"<input type='hidden' name='action' value='{action}'>"
                    f"<button type='submit'>{label}</button></form>"
                )
            if received:
                parts.append("<table><tr><th>at (UTC)</th><th>request</th><th>body</th></tr>")
                for item in reversed(received[-limit:]):
                    body = item.body.decode("utf-8", "replace")[:400]
                    parts.append(
                        f"<tr><td>{item.at:%H:%M:%S}</td><td>{html.escape(item.method)} {html.escape(item.path)}"
                        f"</td><td><code>{html.escape(body)}</code></td></tr>"
                    )
                parts.append("</table>")
        parts.append("</body></html>")
        return "".join(parts)

    def summary(self) -> dict[str, Any]:
        return {
            kind: {
                "base_url": fake.base_url,
                "received": len(fake.received),
                "refusing": fake.refuse_credentials,
            }
            for kind, fake in self.fakes.items()
        }


class SandboxPage:
    """The page listing what the sandbox received, on its own loopback port, with the 401 switches
    (POST, with a token only this page knows, so another site cannot flip them)."""

    def __init__(self, sandbox: Sandbox, port: int = 0) -> None:
        self.sandbox = sandbox
        self.port = port
        self.form_token = secrets.token_urlsafe(16)
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> SandboxPage:
        page = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: str, content_type: str = "text/html; charset=utf-8") -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if urlsplit(self.path).path != "/":
                    self._answer(404, "not found", "text/plain")
                    return
                self._answer(200, page.sandbox.page(form_token=page.form_token))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                kind = form.get("platform", "")
                if (
                    urlsplit(self.path).path != "/switch"
                    or kind not in KINDS
                    or form.get("action")
                    not in (
                        "refuse",
                        "accept",
                    )
                ):
                    self._answer(400, "unknown switch", "text/plain")
                    return
                if not secrets.compare_digest(form.get("token", ""), page.form_token):
                    self._answer(403, "bad form token", "text/plain")
                    return
                page.sandbox.refuse(kind, form["action"] == "refuse")
                self.send_response(303)
                self.send_header("Location", f"/#{kind}")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
