"""Real HTTP/SMTP servers on 127.0.0.1 that play X, YouTube, Discourse, Messenger and a mail relay.

Each fake checks every request it receives (method, path, headers, body) against what the
platform demands and records violations instead of answering politely to anything: tests assert
``fake.violations == []``. Answers can be scripted (429 with Retry-After, 500, 400, slow
answers) with ``fake.fail_next(...)``. Everything received is kept in ``fake.received``.

Use them as context managers (``with FakeX() as fake: fake.base_url``) or through the pytest
fixtures at the bottom (``fake_x``, ``fake_youtube``, ``fake_discourse``, ``fake_messenger``,
``fake_smtp``, ``http_client``), which a conftest can import.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import itertools
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from channels_app.textrules import weighted_length


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Answer:
    status: int
    body: Any = None  # dict/list -> JSON, str/bytes as is
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to sleep before answering (timeouts)

    def encode(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        if self.body is None:
            return b"", "application/json"
        return json.dumps(self.body).encode(), "application/json"


Route = tuple[Callable[[Received], None], Callable[[Received], Answer]]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        received = Received(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        answer = self.server.platform.dispatch(received)  # type: ignore[attr-defined]
        if answer.delay:
            time.sleep(answer.delay)
        payload, content_type = answer.encode()
        self.send_response(answer.status)
        headers = {"Content-Type": content_type, **answer.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the client may have timed out and gone
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without NODELAY, delayed ACKs add ~40 ms each.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.platform.connections.add(self.connection)  # type: ignore[attr-defined]

    def finish(self) -> None:
        self.server.platform.connections.discard(self.connection)  # type: ignore[attr-defined]
        with contextlib.suppress(OSError):
            super().finish()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out or a platform stopped mid-request closes the socket under
        # us; that is part of the tests, not a failure worth a traceback on stderr.
        import sys

        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class FakePlatform:
    """Base: a threaded HTTP server on an ephemeral 127.0.0.1 port with checks and scripting."""

    name = "platform"

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.violations: list[str] = []
        self._script: deque[Answer] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._ids = itertools.count(1)
        self.connections: set[socket.socket] = set()  # open keep-alive connections

    # lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakePlatform:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.platform = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        # A stopped platform must look down to clients holding keep-alive connections too.
        for connection in list(self.connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self.connections.clear()

    def __enter__(self) -> FakePlatform:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "fake not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # scripting ---------------------------------------------------------------------------
    def fail_next(
        self,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        body: Any = None,
        times: int = 1,
        delay: float = 0.0,
    ) -> None:
        """Answer the next `times` well-routed requests with this instead of the normal answer
        (the request is still checked and recorded)."""
        default_body = {"errors": [{"message": f"scripted {status}"}]}
        for _ in range(times):
            self._script.append(Answer(status, default_body if body is None else body, headers or {}, delay))

    def rate_limit_next(self, retry_after: str = "7", times: int = 1) -> None:
        self.fail_next(429, headers={"Retry-After": retry_after}, times=times)

    # checks ------------------------------------------------------------------------------
    def violation(self, received: Received, message: str) -> None:
        with self._lock:
            self.violations.append(f"{self.name} {received.method} {received.path}: {message}")

    def expect(self, received: Received, condition: bool, message: str) -> bool:
        if not condition:
            self.violation(received, message)
        return condition

    def expect_json_object(self, received: Received) -> dict[str, Any]:
        self.expect(
            received,
            received.headers.get("content-type", "").startswith("application/json"),
            "Content-Type must be application/json",
        )
        try:
            body = received.json()
        except ValueError:
            self.violation(received, "body is not JSON")
            return {}
        if not isinstance(body, dict):
            self.violation(received, "body is not a JSON object")
            return {}
        return body

    def expect_bearer(self, received: Received, token: str) -> None:
        self.expect(
            received,
            received.headers.get("authorization") == f"Bearer {token}",
            f"Authorization must be 'Bearer {token}', got {received.headers.get('authorization')!r}",
        )

    def next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    # dispatch ----------------------------------------------------------------------------
    def routes(self) -> dict[tuple[str, str], Route]:
        return {}

    def dispatch(self, received: Received) -> Answer:
        with self._lock:
            self.received.append(received)
        route = self.routes().get((received.method, received.path))
        if route is None:
            self.violation(received, "no such endpoint")
            return Answer(404, {"errors": [{"message": "not found"}]})
        check, respond = route
        check(received)
        with self._lock:
            scripted = self._script.popleft() if self._script else None
        return scripted if scripted is not None else respond(received)


# ----------------------------------------------------------------------------------------------
# X
# ----------------------------------------------------------------------------------------------


class FakeX(FakePlatform):
    """POST /2/tweets (replies) with a bearer token."""

    name = "x"

    def __init__(self, bearer_token: str = "x-bearer-token") -> None:
        super().__init__()
        self.bearer_token = bearer_token
        self.tweets: list[dict[str, Any]] = []

    def routes(self) -> dict[tuple[str, str], Route]:
        return {("POST", "/2/tweets"): (self._check_tweet, self._create_tweet)}

    def _check_tweet(self, received: Received) -> None:
        self.expect_bearer(received, self.bearer_token)
        body = self.expect_json_object(received)
        self.expect(received, set(body) <= {"text", "reply"}, f"unexpected keys {sorted(body)}")
        text = body.get("text")
        if self.expect(received, isinstance(text, str) and text != "", "text must be a non-empty string"):
            length = weighted_length(text)
            self.expect(received, length <= 280, f"text is {length} weighted characters (max 280)")
        reply = body.get("reply")
        if self.expect(received, isinstance(reply, dict), "reply object missing"):
            target = reply.get("in_reply_to_tweet_id")
            self.expect(
                received,
                isinstance(target, str) and target.isdigit(),
                f"reply.in_reply_to_tweet_id must be a numeric string, got {target!r}",
            )

    def _create_tweet(self, received: Received) -> Answer:
        body = received.json()
        tweet = {"id": str(1_850_000_000_000_000_000 + self.next_id()), "text": body["text"]}
        with self._lock:
            self.tweets.append({**tweet, "in_reply_to": body["reply"]["in_reply_to_tweet_id"]})
        return Answer(
            201, {"data": {"id": tweet["id"], "text": tweet["text"], "edit_history_tweet_ids": [tweet["id"]]}}
        )


# ----------------------------------------------------------------------------------------------
# Discourse
# ----------------------------------------------------------------------------------------------


class FakeDiscourse(FakePlatform):
    """POST /posts.json with Api-Key / Api-Username headers."""

    name = "discourse"

    def __init__(self, api_key: str = "discourse-key", api_username: str = "dusk-bot") -> None:
        super().__init__()
        self.api_key = api_key
        self.api_username = api_username
        self.posts: list[dict[str, Any]] = []

    def routes(self) -> dict[tuple[str, str], Route]:
        return {("POST", "/posts.json"): (self._check_post, self._create_post)}

    def _check_post(self, received: Received) -> None:
        headers = received.headers
        self.expect(received, headers.get("api-key") == self.api_key, "wrong or missing Api-Key")
        self.expect(received, headers.get("api-username") == self.api_username, "wrong or missing Api-Username")
        body = self.expect_json_object(received)
        self.expect(received, isinstance(body.get("topic_id"), int), "topic_id must be an integer")
        raw = body.get("raw")
        self.expect(received, isinstance(raw, str) and 0 < len(raw) <= 32000, "raw must be 1..32000 chars")
        if "reply_to_post_number" in body:
            self.expect(received, isinstance(body["reply_to_post_number"], int), "reply_to_post_number not int")
        self.expect(
            received,
            set(body) <= {"topic_id", "raw", "reply_to_post_number"},
            f"unexpected keys {sorted(body)}",
        )

    def _create_post(self, received: Received) -> Answer:
        body = received.json()
        post = {
            "id": 9000 + self.next_id(),
            "topic_id": body["topic_id"],
            "raw": body["raw"],
            "reply_to_post_number": body.get("reply_to_post_number"),
            "username": self.api_username,
        }
        with self._lock:
            self.posts.append(post)
            post["post_number"] = sum(1 for p in self.posts if p["topic_id"] == body["topic_id"]) + 1
        return Answer(200, post)


# ----------------------------------------------------------------------------------------------
# Messenger
# ----------------------------------------------------------------------------------------------


class FakeMessenger(FakePlatform):
    """POST /{version}/me/messages?access_token=... (Send API)."""

    name = "messenger"

    def __init__(self, page_access_token: str = "page-token", api_version: str = "v19.0") -> None:
        super().__init__()
        self.page_access_token = page_access_token
        self.api_version = api_version
        self.messages: list[dict[str, Any]] = []

    def routes(self) -> dict[tuple[str, str], Route]:
        return {("POST", f"/{self.api_version}/me/messages"): (self._check_message, self._send_message)}

    def _check_message(self, received: Received) -> None:
        self.expect(received, received.param("access_token") == self.page_access_token, "wrong or missing access_token")
        body = self.expect_json_object(received)
        recipient = body.get("recipient") or {}
        self.expect(received, isinstance(recipient.get("id"), str) and recipient["id"] != "", "recipient.id missing")
        self.expect(received, body.get("messaging_type") == "RESPONSE", "messaging_type must be RESPONSE")
        text = (body.get("message") or {}).get("text")
        self.expect(received, isinstance(text, str) and 0 < len(text) <= 2000, "message.text must be 1..2000 chars")

    def _send_message(self, received: Received) -> Answer:
        body = received.json()
        message_id = f"m_fake{self.next_id()}"
        with self._lock:
            self.messages.append({"mid": message_id, "to": body["recipient"]["id"], "text": body["message"]["text"]})
        return Answer(200, {"recipient_id": body["recipient"]["id"], "message_id": message_id})


def graph_error(code: int, message: str = "error", *, transient: bool = False) -> dict[str, Any]:
    """A Graph API error body, for fail_next(400, body=graph_error(613))."""
    return {"error": {"message": message, "type": "OAuthException", "code": code, "is_transient": transient}}


# ----------------------------------------------------------------------------------------------
# YouTube
# ----------------------------------------------------------------------------------------------


class FakeYouTube(FakePlatform):
    """GET /youtube/v3/commentThreads (paged, newest first) and POST /youtube/v3/comments."""

    name = "youtube"

    def __init__(
        self,
        channel_id: str = "UCfakechannel0000000000",
        access_token: str = "yt-oauth-token",
        api_key: str = "AIzaFakeKey",
        page_size: int = 100,
    ) -> None:
        super().__init__()
        self.channel_id = channel_id
        self.access_token = access_token
        self.api_key = api_key
        self.page_size = page_size  # the server may give fewer than maxResults, as YouTube does
        self.threads: list[dict[str, Any]] = []  # insertion order
        self.replies: list[dict[str, Any]] = []

    def add_comment(
        self,
        comment_id: str,
        text: str,
        published_at: datetime,
        author_channel_id: str = "UCcustomer000000000000",
        author_name: str = "@customer",
        video_id: str = "vid00000001",
    ) -> dict[str, Any]:
        stamp = published_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # second precision, as YouTube
        snippet = {
            "channelId": self.channel_id,
            "videoId": video_id,
            "textDisplay": text,
            "textOriginal": text,
            "authorDisplayName": author_name,
            "authorChannelId": {"value": author_channel_id},
            "publishedAt": stamp,
            "updatedAt": stamp,
        }
        thread = {
            "kind": "youtube#commentThread",
            "id": comment_id,
            "snippet": {
                "channelId": self.channel_id,
                "videoId": video_id,
                "topLevelComment": {"kind": "youtube#comment", "id": comment_id, "snippet": snippet},
                "totalReplyCount": 0,
            },
        }
        with self._lock:
            self.threads.append(thread)
        return thread

    def routes(self) -> dict[tuple[str, str], Route]:
        return {
            ("GET", "/youtube/v3/commentThreads"): (self._check_list, self._list),
            ("POST", "/youtube/v3/comments"): (self._check_reply, self._reply),
        }

    def _check_auth(self, received: Received) -> None:
        key = received.param("key")
        bearer = received.headers.get("authorization")
        self.expect(
            received,
            key == self.api_key or bearer == f"Bearer {self.access_token}",
            f"needs key={self.api_key} or a bearer token (key={key!r}, authorization={bearer!r})",
        )

    def _check_list(self, received: Received) -> None:
        self._check_auth(received)
        self.expect(received, "snippet" in (received.param("part") or "").split(","), "part must include snippet")
        scope = received.param("allThreadsRelatedToChannelId")
        self.expect(
            received,
            scope == self.channel_id or bool(received.param("videoId")),
            f"allThreadsRelatedToChannelId must be {self.channel_id}",
        )
        self.expect(received, received.param("order") == "time", "order must be time")
        max_results = received.param("maxResults") or "20"
        self.expect(received, max_results.isdigit() and 1 <= int(max_results) <= 100, "maxResults must be 1..100")
        token = received.param("pageToken")
        if token is not None:
            self.expect(received, token.startswith("p") and token[1:].isdigit(), f"unknown pageToken {token!r}")

    def _ordered(self) -> list[dict[str, Any]]:
        with self._lock:
            threads = list(reversed(self.threads))  # newer insertions first among equal times
        key = "publishedAt"
        return sorted(threads, key=lambda t: t["snippet"]["topLevelComment"]["snippet"][key], reverse=True)

    def _list(self, received: Received) -> Answer:
        token = received.param("pageToken")
        offset = int(token[1:]) if token and token[1:].isdigit() else 0
        size = min(int(received.param("maxResults") or 20), self.page_size)
        # Offsets into the live list, so comments posted between two page reads shift items
        # to the next page, as they do on YouTube.
        ordered = self._ordered()
        video = received.param("videoId")
        if video:
            ordered = [t for t in ordered if t["snippet"]["videoId"] == video]
        page = ordered[offset : offset + size]
        body: dict[str, Any] = {"kind": "youtube#commentThreadListResponse", "items": page}
        if offset + size < len(ordered):
            body["nextPageToken"] = f"p{offset + size}"
        return Answer(200, body)

    def _check_reply(self, received: Received) -> None:
        self.expect_bearer(received, self.access_token)
        self.expect(received, received.param("part") == "snippet", "part must be snippet")
        body = self.expect_json_object(received)
        snippet = body.get("snippet") or {}
        with self._lock:
            known = {t["id"] for t in self.threads}
        self.expect(received, snippet.get("parentId") in known, f"unknown parentId {snippet.get('parentId')!r}")
        text = snippet.get("textOriginal")
        self.expect(received, isinstance(text, str) and 0 < len(text) <= 10000, "textOriginal must be 1..10000")

    def _reply(self, received: Received) -> Answer:
        snippet = received.json()["snippet"]
        reply = {"id": f"{snippet['parentId']}.reply{self.next_id()}", "snippet": snippet}
        with self._lock:
            self.replies.append(reply)
        return Answer(200, {"kind": "youtube#comment", **reply})


def google_error(status: int, reason: str) -> dict[str, Any]:
    """A Google API error body, for fail_next(403, body=google_error(403, 'quotaExceeded'))."""
    return {"error": {"code": status, "message": reason, "errors": [{"reason": reason, "domain": "youtube"}]}}


# ----------------------------------------------------------------------------------------------
# SMTP
# ----------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


class FakeSMTP:
    """An aiosmtpd server on 127.0.0.1 that records mail; RCPT/DATA answers can be scripted."""

    def __init__(self) -> None:
        self.messages: list[ReceivedMail] = []
        self.rcpt_answers: deque[str] = deque()
        self.data_answers: deque[str] = deque()
        self._controller: Any = None
        self.host = "127.0.0.1"
        self.port = 0

    def reject_next_rcpt(self, answer: str = "550 5.1.1 No such user") -> None:
        self.rcpt_answers.append(answer)

    def reject_next_data(self, answer: str = "451 4.3.0 Try again later") -> None:
        self.data_answers.append(answer)

    # aiosmtpd handler hooks -------------------------------------------------------------
    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if self.rcpt_answers:
            return self.rcpt_answers.popleft()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_answers:
            return self.data_answers.popleft()
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        self.messages.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    # lifecycle --------------------------------------------------------------------------
    def start(self) -> FakeSMTP:
        from aiosmtpd.controller import Controller

        last_error: Exception | None = None
        for _ in range(5):  # free_port() can race with another process: try again
            self.port = free_port()
            controller = Controller(self, hostname=self.host, port=self.port)
            try:
                controller.start()
            except (OSError, RuntimeError) as exc:
                last_error = exc
                continue
            self._controller = controller
            return self
        raise RuntimeError(f"could not start fake SMTP server: {last_error!r}")

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> FakeSMTP:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ----------------------------------------------------------------------------------------------
# Webhook payload builders (what the platforms send to Dusk)
# ----------------------------------------------------------------------------------------------


def x_created_at(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%a %b %d %H:%M:%S +0000 %Y")


def build_tweet(
    tweet_id: str,
    text: str,
    user_id: str,
    screen_name: str,
    *,
    name: str | None = None,
    created_at: str | None = None,
    in_reply_to: str | None = None,
    lang: str | None = "en",
) -> dict[str, Any]:
    """A v1.1 tweet object as Account Activity delivers it."""
    return {
        "created_at": created_at or x_created_at(datetime.now(UTC)),
        "id": int(tweet_id),
        "id_str": tweet_id,
        "text": text,
        "truncated": False,
        "in_reply_to_status_id": int(in_reply_to) if in_reply_to else None,
        "in_reply_to_status_id_str": in_reply_to,
        "user": {"id": int(user_id), "id_str": user_id, "name": name or screen_name, "screen_name": screen_name},
        "lang": lang,
    }


def build_account_activity(for_user_id: str, tweets: list[dict[str, Any]]) -> dict[str, Any]:
    return {"for_user_id": for_user_id, "tweet_create_events": tweets}


# ----------------------------------------------------------------------------------------------
# pytest fixtures
# ----------------------------------------------------------------------------------------------


def _serve(fake: Any) -> Iterator[Any]:
    with fake:
        yield fake
    # Every request a test made must have been a valid one; tests that send bad requests on
    # purpose clear fake.violations after asserting on them.
    assert getattr(fake, "violations", []) == [], fake.violations


@pytest.fixture
def fake_x() -> Iterator[FakeX]:
    yield from _serve(FakeX())


@pytest.fixture
def fake_discourse() -> Iterator[FakeDiscourse]:
    yield from _serve(FakeDiscourse())


@pytest.fixture
def fake_messenger() -> Iterator[FakeMessenger]:
    yield from _serve(FakeMessenger())


@pytest.fixture
def fake_youtube() -> Iterator[FakeYouTube]:
    yield from _serve(FakeYouTube())


@pytest.fixture
def fake_smtp() -> Iterator[FakeSMTP]:
    with FakeSMTP() as server:
        yield server


@pytest.fixture
def http_client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=httpx.Timeout(5.0, connect=2.0)) as client:
        yield client


__all__ = [
    "Answer",
    "FakeDiscourse",
    "FakeMessenger",
    "FakePlatform",
    "FakeSMTP",
    "FakeX",
    "FakeYouTube",
    "Received",
    "ReceivedMail",
    "build_account_activity",
    "build_tweet",
    "fake_discourse",
    "fake_messenger",
    "fake_smtp",
    "fake_x",
    "fake_youtube",
    "free_port",
    "google_error",
    "graph_error",
    "http_client",
    "x_created_at",
]
