"""Real HTTP/SMTP/IMAP servers on 127.0.0.1: X, YouTube, Discourse, Messenger, a mail relay, a mailbox.

Each fake checks every request it receives (method, path, headers, body) against what the
platform demands and records violations instead of answering politely to anything: tests assert
``fake.violations == []``. Answers can be scripted (429 with Retry-After, 500, 400, slow
answers) with ``fake.fail_next(...)``, also after doing the work (``after_effect=True``: the reply
is posted, the answer says otherwise); ``fake.latency`` delays every normal answer after the
work is done. Everything received is kept in ``fake.received``. Each platform also answers the
lookup the outbox makes before resending a reply in doubt (X recent search, YouTube
comments.list, Discourse user_actions, Messenger conversations).

Use them as context managers (``with FakeX() as fake: fake.base_url``) or through the pytest
fixtures of channels_app/tests/conftest.py (``fake_x``, ``fake_youtube``, ``fake_discourse``,
``fake_messenger``, ``fake_smtp``, ``fake_imap``, ``http_client``).
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import itertools
import json
import random
import re
import socket
import ssl
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from channels_app.core.textrules import weighted_length


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

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
    after_effect: bool = False  # scripted: do the normal work first, then answer this

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
        if len(body) < length:
            # The client went away mid-request (a killed worker): a platform drops such a
            # request without acting on it.
            self.close_connection = True
            return
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
        self.identity_checks: list[Received] = []
        self.violations: list[str] = []
        self._script: deque[tuple[str | None, Answer]] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._ids = itertools.count(1)
        self.connections: set[socket.socket] = set()  # open keep-alive connections
        self.latency: float | tuple[float, float] = 0.0  # seconds (or a random range) per answer
        # Every request answered 401 (revoked credentials), until set back: the sandbox's switch.
        self.refuse_credentials = False

    # lifecycle ---------------------------------------------------------------------------
    def start(self, port: int = 0) -> FakePlatform:
        self._server = _Server(("127.0.0.1", port), _Handler)
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
        after_effect: bool = False,
        path: str | None = None,
    ) -> None:
        """Answer the next `times` well-routed requests (to `path` only, when given) with this
        instead of the normal answer (the request is still checked and recorded). With
        `after_effect`, the normal work is done first (the reply exists on the platform) and
        then this is answered."""
        default_body = {"errors": [{"message": f"scripted {status}"}]}
        for _ in range(times):
            answer = Answer(status, default_body if body is None else body, headers or {}, delay, after_effect)
            self._script.append((path, answer))

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

    # The read-only identity call the preflight makes (GET /2/users/me...): recorded apart in
    # `identity_checks`, so `received` holds what the outbox and pollers sent.
    identity_path = ""

    def route_for(self, received: Received) -> Route | None:
        return self.routes().get((received.method, received.path))

    def dispatch(self, received: Received) -> Answer:
        with self._lock:
            if received.method == "GET" and received.path == self.identity_path:
                self.identity_checks.append(received)
            else:
                self.received.append(received)
        route = self.route_for(received)
        if route is None:
            self.violation(received, "no such endpoint")
            return Answer(404, {"errors": [{"message": "not found"}]})
        if self.refuse_credentials:
            return self.unauthorized()
        check, respond = route
        check(received)
        with self._lock:
            scripted = next((item for item in self._script if item[0] in (None, received.path)), None)
            if scripted is not None:
                self._script.remove(scripted)
                scripted = scripted[1]
        if scripted is not None:
            if scripted.after_effect:
                respond(received)
            return scripted
        answer = respond(received)
        latency = random.uniform(*self.latency) if isinstance(self.latency, tuple) else self.latency
        answer.delay = max(answer.delay, latency)
        return answer

    def unauthorized(self) -> Answer:
        """The platform's answer to credentials it does not accept."""
        return Answer(401, {"errors": [{"message": "Unauthorized", "code": 89}]})

    @staticmethod
    def stamp(at: datetime | None = None) -> str:
        return (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# ----------------------------------------------------------------------------------------------
# X
# ----------------------------------------------------------------------------------------------


class FakeX(FakePlatform):
    """POST /2/tweets (replies) and GET /2/tweets/search/recent; direct messages: POST
    /2/dm_conversations/with/:participant_id/messages and GET .../dm_events (API v2, as X
    documents them: docs.x.com/x-api/direct-messages); all with a bearer token."""

    name = "x"
    identity_path = "/2/users/me"
    _QUERY = re.compile(r"in_reply_to_tweet_id:(\d+)(?: from:(\S+))?")

    def __init__(self, bearer_token: str = "x-bearer-token", account_id: str = "783214") -> None:
        super().__init__()
        self.bearer_token = bearer_token
        self.account_id = account_id  # the user the token posts as
        self.tweets: list[dict[str, Any]] = []
        self.dms: list[dict[str, Any]] = []  # direct messages the brand sent

    def routes(self) -> dict[tuple[str, str], Route]:
        return {
            ("POST", "/2/tweets"): (self._check_tweet, self._create_tweet),
            ("GET", "/2/tweets/search/recent"): (self._check_search, self._search),
            ("GET", "/2/users/me"): (self._check_me, self._me),
        }

    _DM_PATH = re.compile(r"/2/dm_conversations/with/([^/]+)/(messages|dm_events)")

    def route_for(self, received: Received) -> Route | None:
        match = self._DM_PATH.fullmatch(received.path)
        if match is None:
            return super().route_for(received)
        if (received.method, match.group(2)) == ("POST", "messages"):
            return self._check_dm, self._create_dm
        if (received.method, match.group(2)) == ("GET", "dm_events"):
            return self._check_dm_events, self._dm_events
        return None

    def dms_to(self, participant_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dm for dm in self.dms if dm["participant"] == participant_id]

    def _participant(self, received: Received) -> str:
        match = self._DM_PATH.fullmatch(received.path)
        return match.group(1) if match else ""

    def _check_dm(self, received: Received) -> None:
        self.expect_bearer(received, self.bearer_token)
        participant = self._participant(received)
        self.expect(received, participant.isdigit(), f"participant_id must be a numeric user id, got {participant!r}")
        self.expect(received, participant != self.account_id, "a DM to the brand's own account")
        body = self.expect_json_object(received)
        self.expect(received, set(body) <= {"text", "attachments"}, f"unexpected keys {sorted(body)}")
        text = body.get("text")
        if self.expect(received, isinstance(text, str) and text != "", "text must be a non-empty string"):
            self.expect(received, len(text) <= 10_000, f"text is {len(text)} characters (max 10,000)")

    def _create_dm(self, received: Received) -> Answer:
        participant = self._participant(received)
        event_id = str(1_860_000_000_000_000_000 + self.next_id())
        low, high = sorted((participant, self.account_id), key=lambda v: (len(v), v))
        now = datetime.now(UTC)
        with self._lock:
            self.dms.append(
                {
                    "id": event_id,
                    "text": received.json()["text"],
                    "participant": participant,
                    "sender_id": self.account_id,
                    "dm_conversation_id": f"{low}-{high}",
                    "created_at": self.stamp(now),
                    "at": now,
                }
            )
        return Answer(201, {"data": {"dm_conversation_id": f"{low}-{high}", "dm_event_id": event_id}})

    def _check_dm_events(self, received: Received) -> None:
        self.expect_bearer(received, self.bearer_token)
        size = received.param("max_results") or "100"
        self.expect(received, size.isdigit() and 1 <= int(size) <= 100, "max_results must be 1..100")
        fields = set((received.param("dm_event.fields") or "").split(","))
        self.expect(
            received, {"sender_id", "created_at", "text"} <= fields, "dm_event.fields lacks sender/created/text"
        )

    def _dm_events(self, received: Received) -> Answer:
        found = [
            {
                "id": dm["id"],
                "text": dm["text"],
                "event_type": "MessageCreate",
                "sender_id": dm["sender_id"],
                "dm_conversation_id": dm["dm_conversation_id"],
                "created_at": dm["created_at"],
            }
            for dm in reversed(self.dms_to(self._participant(received)))
        ]
        body: dict[str, Any] = {"meta": {"result_count": len(found)}}
        if found:
            body["data"] = found
        return Answer(200, body)

    def _check_me(self, received: Received) -> None:
        self.expect_bearer(received, self.bearer_token)

    def _me(self, received: Received) -> Answer:
        if received.headers.get("authorization") != f"Bearer {self.bearer_token}":
            return self.unauthorized()
        return Answer(200, {"data": {"id": self.account_id, "name": "Brand support", "username": "brand_support"}})

    def replies_to(self, tweet_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [t for t in self.tweets if t["in_reply_to"] == tweet_id]

    def _check_search(self, received: Received) -> None:
        self.expect_bearer(received, self.bearer_token)
        query = received.param("query") or ""
        self.expect(received, self._QUERY.fullmatch(query) is not None, f"unsupported query {query!r}")
        start = received.param("start_time") or ""
        self.expect(
            received,
            re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", start) is not None,
            f"start_time must be YYYY-MM-DDTHH:mm:ssZ, got {start!r}",
        )
        size = received.param("max_results") or "10"
        self.expect(received, size.isdigit() and 10 <= int(size) <= 100, "max_results must be 10..100")
        fields = set((received.param("tweet.fields") or "").split(","))
        self.expect(received, {"author_id", "referenced_tweets"} <= fields, "tweet.fields lacks author_id/referenced")

    def _search(self, received: Received) -> Answer:
        match = self._QUERY.fullmatch(received.param("query") or "")
        if match is None:
            return Answer(400, {"errors": [{"message": "bad query"}]})
        target, author = match.groups()
        start = datetime.strptime(received.param("start_time") or "1970-01-01T00:00:00Z", "%Y-%m-%dT%H:%M:%SZ")
        start = start.replace(tzinfo=UTC)
        found = [
            {
                "id": t["id"],
                "text": t["text"],
                "author_id": t["author_id"],
                "created_at": t["created_at"],
                "referenced_tweets": [{"type": "replied_to", "id": t["in_reply_to"]}],
            }
            for t in reversed(self.replies_to(target))
            if (author is None or t["author_id"] == author) and t["at"] >= start
        ]
        body: dict[str, Any] = {"meta": {"result_count": len(found)}}
        if found:
            body["data"] = found
        return Answer(200, body)

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
        now = datetime.now(UTC)
        with self._lock:
            self.tweets.append(
                {
                    **tweet,
                    "in_reply_to": body["reply"]["in_reply_to_tweet_id"],
                    "author_id": self.account_id,
                    "created_at": self.stamp(now),
                    "at": now,
                }
            )
        return Answer(
            201, {"data": {"id": tweet["id"], "text": tweet["text"], "edit_history_tweet_ids": [tweet["id"]]}}
        )


# ----------------------------------------------------------------------------------------------
# Discourse
# ----------------------------------------------------------------------------------------------


class FakeDiscourse(FakePlatform):
    """POST /posts.json with Api-Key / Api-Username headers."""

    name = "discourse"
    identity_path = "/session/current.json"

    def __init__(self, api_key: str = "discourse-key", api_username: str = "dusk-bot") -> None:
        super().__init__()
        self.api_key = api_key
        self.api_username = api_username
        self.posts: list[dict[str, Any]] = []

    def routes(self) -> dict[tuple[str, str], Route]:
        return {
            ("POST", "/posts.json"): (self._check_post, self._create_post),
            ("GET", "/user_actions.json"): (self._check_actions, self._actions),
            ("GET", "/session/current.json"): (self._check_api_headers, self._current_user),
        }

    def _current_user(self, received: Received) -> Answer:
        if received.headers.get("api-key") != self.api_key:
            return Answer(403, {"errors": ["You are not permitted to view the requested resource."]})
        return Answer(200, {"current_user": {"id": 7, "username": received.headers.get("api-username")}})

    def _check_api_headers(self, received: Received) -> None:
        headers = received.headers
        self.expect(received, headers.get("api-key") == self.api_key, "wrong or missing Api-Key")
        self.expect(received, headers.get("api-username") == self.api_username, "wrong or missing Api-Username")

    def _check_actions(self, received: Received) -> None:
        self._check_api_headers(received)
        self.expect(received, received.param("username") == self.api_username, "username must be the API user")
        self.expect(received, received.param("filter") == "5", "filter must be 5 (replies)")
        offset = received.param("offset") or "0"
        self.expect(received, offset.isdigit(), "offset must be a number")

    def _actions(self, received: Received) -> Answer:
        offset = int(received.param("offset") or 0)
        with self._lock:
            posts = list(reversed(self.posts))  # newest first, 30 a page, as Discourse
        page = posts[offset : offset + 30]
        return Answer(
            200,
            {
                "user_actions": [
                    {
                        "action_type": 5,
                        "post_id": p["id"],
                        "topic_id": p["topic_id"],
                        "post_number": p["post_number"],
                        "reply_to_post_number": p["reply_to_post_number"],
                        "created_at": p["created_at"],
                        "username": p["username"],
                        "excerpt": p["raw"][:300],
                    }
                    for p in page
                ]
            },
        )

    def _check_post(self, received: Received) -> None:
        self._check_api_headers(received)
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
            "created_at": self.stamp(),
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

    def __init__(self, page_access_token: str = "page-token", api_version: str = "v19.0", page_id: str = "") -> None:
        super().__init__()
        self.page_access_token = page_access_token
        self.api_version = api_version
        self.page_id = page_id or "page-1"
        self.identity_path = f"/{api_version}/me"
        self.messages: list[dict[str, Any]] = []

    def routes(self) -> dict[tuple[str, str], Route]:
        return {
            ("POST", f"/{self.api_version}/me/messages"): (self._check_message, self._send_message),
            ("GET", f"/{self.api_version}/me/conversations"): (self._check_conversations, self._conversations),
            ("GET", f"/{self.api_version}/me"): (self._check_me, self._me),
        }

    def _check_me(self, received: Received) -> None:
        self.expect(received, received.param("access_token") == self.page_access_token, "wrong or missing access_token")

    def _me(self, received: Received) -> Answer:
        if received.param("access_token") != self.page_access_token:
            return Answer(400, graph_error(190, "Invalid OAuth access token."))
        return Answer(200, {"id": self.page_id, "name": "Brand page"})

    def _check_conversations(self, received: Received) -> None:
        self.expect(received, received.param("access_token") == self.page_access_token, "wrong or missing access_token")
        self.expect(received, received.param("platform") == "messenger", "platform must be messenger")
        self.expect(received, bool(received.param("user_id")), "user_id missing")
        self.expect(received, "messages" in (received.param("fields") or ""), "fields must ask for messages")

    def _conversations(self, received: Received) -> Answer:
        user = received.param("user_id") or ""
        with self._lock:
            sent = [m for m in reversed(self.messages) if m["to"] == user]
        if not sent:
            return Answer(200, {"data": []})
        messages = [
            {"id": m["mid"], "message": m["text"], "from": {"id": self.page_id}, "created_time": m["created_time"]}
            for m in sent
        ]
        return Answer(200, {"data": [{"id": f"t_{user}", "messages": {"data": messages}}]})

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
            self.messages.append(
                {
                    "mid": message_id,
                    "to": body["recipient"]["id"],
                    "text": body["message"]["text"],
                    "created_time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000"),
                }
            )
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
    identity_path = "/youtube/v3/channels"

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
            ("GET", "/youtube/v3/comments"): (self._check_replies, self._list_replies),
            ("GET", "/youtube/v3/channels"): (self._check_channels, self._channels),
        }

    def _check_channels(self, received: Received) -> None:
        self._check_auth(received)
        self.expect(received, "id" in (received.param("part") or "").split(","), "part must include id")
        by_key = received.param("key") is not None
        self.expect(
            received,
            (received.param("mine") == "true") != by_key or bool(received.param("id")),
            "mine=true needs an OAuth token; with an API key, name the channel (id=)",
        )

    def _channels(self, received: Received) -> Answer:
        mine = (
            received.param("mine") == "true" and received.headers.get("authorization") == f"Bearer {self.access_token}"
        )
        named = received.param("id") == self.channel_id
        items = (
            [{"kind": "youtube#channel", "id": self.channel_id, "snippet": {"title": "Brand"}}] if mine or named else []
        )
        return Answer(200, {"kind": "youtube#channelListResponse", "items": items})

    def _check_replies(self, received: Received) -> None:
        self._check_auth(received)
        self.expect(received, received.param("part") == "snippet", "part must be snippet")
        self.expect(received, bool(received.param("parentId")), "parentId missing")
        size = received.param("maxResults") or "20"
        self.expect(received, size.isdigit() and 1 <= int(size) <= 100, "maxResults must be 1..100")

    def _list_replies(self, received: Received) -> Answer:
        parent = received.param("parentId")
        with self._lock:
            items = [r for r in self.replies if r["snippet"]["parentId"] == parent]
        return Answer(200, {"kind": "youtube#commentListResponse", "items": items})

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
        snippet = dict(received.json()["snippet"])
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        snippet.update(
            textDisplay=snippet["textOriginal"],
            authorChannelId={"value": self.channel_id},
            publishedAt=stamp,
            updatedAt=stamp,
        )
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


def self_signed_certificate(directory: Path, *names: str, stem: str = "server") -> tuple[Path, Path]:
    """A throwaway self-signed certificate (its own CA) for ``names`` (IP addresses or DNS
    names, the first one is also the CN), valid one day: (cert file, key file) in directory,
    made with the openssl command line. Trust it by pointing DUSK_IMAP_CA_FILE at the cert file."""
    cert, key = directory / f"{stem}.crt", directory / f"{stem}.key"
    san = ",".join(
        f"IP:{name}" if re.fullmatch(r"[\d.]+|[\da-fA-F:]*:[\da-fA-F:]*", name) else f"DNS:{name}" for name in names
    )
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", f"/CN={names[0]}", "-addext", f"subjectAltName={san}"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


class FakeWebhook(FakePlatform):
    """An incoming webhook as Slack and Microsoft Teams offer one: a secret URL that takes a JSON
    POST with a one-line ``text``. It checks the rest of what Dusk promises too (an event, the
    plan with id, title and link, a stable ``id`` repeated in Idempotency-Key)."""

    name = "webhook"
    path = "/services/T0DUSK/B0DUSK/s3cr3t-webhook-token"
    events = {"submitted", "sent_back", "approved", "run_started", "run_failed", "delivery_failures"}

    @property
    def url(self) -> str:
        return self.base_url + self.path

    def routes(self) -> dict[tuple[str, str], Route]:
        return {("POST", self.path): (self._check, lambda received: Answer(200, "ok"))}

    def _check(self, received: Received) -> None:
        body = self.expect_json_object(received)
        text = body.get("text")
        self.expect(received, isinstance(text, str) and text.strip() and "\n" not in text, "text: one line")
        self.expect(received, body.get("event") in self.events, f"unknown event {body.get('event')!r}")
        plan = body.get("plan") or {}
        self.expect(
            received,
            isinstance(plan.get("id"), int) and plan.get("title") and str(plan.get("url", "")).startswith("http"),
            "plan needs id, title and url",
        )
        self.expect(
            received,
            bool(body.get("id")) and received.headers.get("idempotency-key") == body.get("id"),
            "a stable id, repeated in Idempotency-Key",
        )

    def posts(self) -> list[dict[str, Any]]:
        """What was posted and answered 2xx is not known here; every post received, in order."""
        return [r.json() for r in self.received]


class FakeZendesk(FakePlatform):
    """Zendesk Support's Tickets API as the hand-off uses it: create a ticket, list tickets by
    external_id. It checks Basic authentication ("<email>/token" and the API token) and each
    ticket's shape (subject, comment.body holding the reference, requester name and email,
    external_id the DSK- reference)."""

    name = "zendesk"
    path = "/api/v2/tickets.json"

    def __init__(self, email: str = "agent@brand.example", token: str = "zd-api-token") -> None:
        super().__init__()
        self.credential = f"{email}/token:{token}"
        self.tickets: list[dict[str, Any]] = []

    def routes(self) -> dict[tuple[str, str], Route]:
        return {
            ("POST", self.path): (self._check_create, self._create),
            ("GET", self.path): (self._check_auth, self._list),
        }

    def _check_auth(self, received: Received) -> None:
        import base64

        expected = "Basic " + base64.b64encode(self.credential.encode()).decode()
        self.expect(received, received.headers.get("authorization") == expected, "Basic <email>/token:<API token>")

    def _check_create(self, received: Received) -> None:
        self._check_auth(received)
        ticket = self.expect_json_object(received).get("ticket") or {}
        requester = ticket.get("requester") or {}
        reference = str(ticket.get("external_id") or "")
        self.expect(received, reference.startswith("DSK-"), "external_id: the DSK- reference")
        self.expect(received, isinstance(ticket.get("subject"), str) and ticket["subject"].strip(), "a subject")
        body = (ticket.get("comment") or {}).get("body")
        self.expect(received, isinstance(body, str) and reference in body, "comment.body with the reference")
        self.expect(received, bool(requester.get("name")) and "@" in str(requester.get("email")), "requester")

    def _create(self, received: Received) -> Answer:
        ticket = received.json()["ticket"]
        with self._lock:
            stored = {**ticket, "id": 35436 + len(self.tickets), "status": "new"}
            self.tickets.append(stored)
        return Answer(201, {"ticket": stored})

    def _list(self, received: Received) -> Answer:
        wanted = received.param("external_id")
        with self._lock:
            found = [t for t in self.tickets if t.get("external_id") == wanted]
        return Answer(200, {"tickets": found, "next_page": None, "previous_page": None, "count": len(found)})


class FakeHandoffReceiver(FakePlatform):
    """A system taking Dusk's signed hand-off webhook: it verifies the HMAC over timestamp and
    body, refuses a stale timestamp (401), and drops a resend with an Idempotency-Key it saw."""

    name = "handoff-receiver"
    path = "/dusk/handoff"

    def __init__(self, secret: str = "handoff-webhook-secret", tolerance: float = 300.0) -> None:
        super().__init__()
        self.secret = secret
        self.tolerance = tolerance
        self.accepted: dict[str, dict[str, Any]] = {}

    @property
    def url(self) -> str:
        return self.base_url + self.path

    def routes(self) -> dict[tuple[str, str], Route]:
        return {("POST", self.path): (self._check, self._take)}

    def _signed(self, received: Received) -> bool:
        from channels_app.handoff.adapters.webhook import verify

        return verify(
            self.secret,
            received.headers.get("x-dusk-timestamp", ""),
            received.body,
            received.headers.get("x-dusk-signature", ""),
            now=time.time(),
            tolerance=self.tolerance,
        )

    def _check(self, received: Received) -> None:
        body = self.expect_json_object(received)
        self.expect(received, self._signed(received), "a fresh X-Dusk-Timestamp and a valid X-Dusk-Signature")
        self.expect(received, body.get("event") == "handoff", "event: handoff")
        self.expect(received, str(body.get("reference", "")).startswith("DSK-"), "the DSK- reference")
        self.expect(
            received,
            bool(body.get("id")) and received.headers.get("idempotency-key") == body.get("id"),
            "a stable id, repeated in Idempotency-Key",
        )

    def _take(self, received: Received) -> Answer:
        if not self._signed(received):
            return Answer(401, {"error": "bad or stale signature"})
        body = received.json()
        with self._lock:
            self.accepted.setdefault(body["id"], body)
        return Answer(200, {"id": f"recv-{body['id']}"})


class FakeSMTP:
    """An aiosmtpd server on 127.0.0.1 that records mail; RCPT/DATA answers can be scripted."""

    def __init__(self) -> None:
        self.messages: list[ReceivedMail] = []
        self.rcpt_answers: deque[str] = deque()
        self.data_answers: deque[str] = deque()
        # Seconds the server takes to answer each recipient: a sender can be killed in the middle
        # of a batch, before the messages it staged are recorded and terminated.
        self.data_delay = 0.0
        self._controller: Any = None
        self.host = "127.0.0.1"
        self.port = 0

    def reject_next_rcpt(self, answer: str = "550 5.1.1 No such user") -> None:
        self.rcpt_answers.append(answer)

    def reject_next_data(self, answer: str = "451 4.3.0 Try again later") -> None:
        self.data_answers.append(answer)

    # aiosmtpd handler hooks -------------------------------------------------------------
    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
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


class FakeIMAP:
    """A threaded IMAP4rev1 server on 127.0.0.1 holding one mailbox, INBOX.

    ``tls``: "none" (clear text, the default), "implicit" (TLS from the first byte, as on port
    993) or "starttls" (clear until STARTTLS, advertised with LOGINDISABLED until then), with
    ``certificate`` = (cert file, key file), e.g. from ``self_signed_certificate()``. With TLS, a
    LOGIN that arrives in clear is a violation; ``tls_connections`` counts completed handshakes.

    Only what imaplib and the poller need: CAPABILITY, LOGIN, SELECT/EXAMINE (with UIDVALIDITY
    and UIDNEXT), UID SEARCH (UID n:* and SINCE), UID FETCH with BODY[] literals, NOOP, LOGOUT.
    It checks what it receives and records violations: wrong credentials, a FETCH without
    BODY.PEEK (which would set \\Seen; the flag is then set, as a server would), and any STORE,
    EXPUNGE or other command that changes the mailbox. Scripts: ``refuse_login``,
    ``change_uid_validity()`` (the mailbox rebuilt: every UID renumbered), ``drop_after`` (close
    the connection when that command arrives) and ``stall`` (seconds to wait before greeting).
    """

    def __init__(
        self,
        username: str = "support@brand.example",
        password: str = "imap-password",
        *,
        tls: str = "none",
        certificate: tuple[Path, Path] | None = None,
    ) -> None:
        if tls not in ("none", "implicit", "starttls"):
            raise ValueError(f"tls must be none, implicit or starttls, not {tls!r}")
        if tls != "none" and certificate is None:
            raise ValueError("TLS needs a certificate: (cert file, key file)")
        self.tls = tls
        self.certificate = certificate
        self.tls_connections = 0
        self.username = username
        self.password = password
        self.uid_validity = 1_700_000_001
        self.messages: list[dict[str, Any]] = []  # {"uid", "data", "internal_date", "flags"}
        self.uid_next = 1
        self.received: list[str] = []  # every command line, tag stripped
        self.violations: list[str] = []
        self.refuse_login = False
        self.drop_after: str | None = None  # e.g. "UID FETCH": close the connection instead of answering
        self.stall = 0.0
        self.logins = 0
        self.host = "127.0.0.1"
        self.port = 0
        self._lock = threading.Lock()
        self._server: Any = None

    # mailbox ----------------------------------------------------------------------------
    def deliver(self, data: bytes | EmailMessage, *, internal_date: datetime | None = None) -> int:
        if isinstance(data, EmailMessage):
            data = data.as_bytes(policy=email.policy.SMTP)
        with self._lock:
            uid = self.uid_next
            self.uid_next += 1
            self.messages.append(
                {"uid": uid, "data": data, "internal_date": internal_date or datetime.now(UTC), "flags": set()}
            )
        return uid

    def change_uid_validity(self) -> None:
        with self._lock:
            self.uid_validity += 1
            for uid, message in enumerate(self.messages, start=1):
                message["uid"] = uid
            self.uid_next = len(self.messages) + 1

    def seen(self) -> list[int]:
        return [m["uid"] for m in self.messages if "\\Seen" in m["flags"]]

    def url(self, mailbox: str = "INBOX") -> str:
        """The mailbox URL for this server's TLS mode (imaps://, imap:// or imap://…?tls=none)."""
        if self.tls == "implicit":
            return f"imaps://{self.host}:{self.port}/{mailbox}"
        if self.tls == "starttls":
            return f"imap://{self.host}:{self.port}/{mailbox}"
        return f"imap://{self.host}:{self.port}/{mailbox}?tls=none"

    def _server_context(self) -> ssl.SSLContext:
        assert self.certificate is not None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*map(str, self.certificate))
        return context

    # protocol ---------------------------------------------------------------------------
    _TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|(\S+)')

    def _args(self, text: str) -> list[str]:
        return [
            atom if quoted is None else re.sub(r"\\(.)", r"\1", quoted)
            for quoted, atom in (m.groups() for m in self._TOKEN.finditer(text))
        ]

    def _uids(self, spec: str) -> set[int]:
        """A UID set (1,3:5,7:*) as the server reads it: * is the highest UID, so n:* with n above
        every UID still names the last message."""
        highest = max((m["uid"] for m in self.messages), default=0)
        found: set[int] = set()
        for part in spec.split(","):
            low, _, high = part.partition(":")
            a = highest if low == "*" else int(low)
            b = a if not high else (highest if high == "*" else int(high))
            a, b = min(a, b), max(a, b)
            found |= {m["uid"] for m in self.messages if a <= m["uid"] <= b}
        return found

    def handle(self, command: str, args: list[str], selected: dict[str, Any]) -> tuple[list[bytes], str]:
        """(untagged lines, tagged completion) for one command."""
        if command == "CAPABILITY":
            if self.tls == "starttls" and not selected.get("tls"):
                return [b"* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED"], "OK CAPABILITY completed"
            return [b"* CAPABILITY IMAP4rev1 AUTH=PLAIN"], "OK CAPABILITY completed"
        if command == "STARTTLS":
            if self.tls != "starttls" or selected.get("tls"):
                self.violations.append("STARTTLS sent though not advertised")
                return [], "BAD STARTTLS not available"
            selected["upgrade"] = True
            return [], "OK Begin TLS negotiation now"
        if command == "NOOP":
            return [], "OK NOOP completed"
        if command == "LOGOUT":
            return [b"* BYE fake IMAP logging out"], "OK LOGOUT completed"
        if command == "LOGIN":
            if self.tls != "none" and not selected.get("tls"):
                self.violations.append("LOGIN in clear text on a server that requires TLS")
                return [], "NO [PRIVACYREQUIRED] Use STARTTLS first"
            if args != [self.username, self.password]:
                self.violations.append(f"LOGIN with wrong credentials: {args!r}")
                return [], "NO [AUTHENTICATIONFAILED] Invalid credentials"
            if self.refuse_login:
                return [], "NO [AUTHENTICATIONFAILED] Invalid credentials"
            selected["authenticated"] = True
            self.logins += 1
            return [], "OK LOGIN completed"
        if not selected.get("authenticated"):
            self.violations.append(f"{command} before LOGIN")
            return [], "BAD log in first"
        if command in ("SELECT", "EXAMINE"):
            if args != ["INBOX"]:
                return [], "NO [NONEXISTENT] No such mailbox"
            selected["mailbox"] = args[0]
            selected["readonly"] = command == "EXAMINE"
            lines = [
                b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
                f"* {len(self.messages)} EXISTS".encode(),
                b"* 0 RECENT",
                f"* OK [UIDVALIDITY {self.uid_validity}] UIDs valid".encode(),
                f"* OK [UIDNEXT {self.uid_next}] Predicted next UID".encode(),
            ]
            mode = "READ-ONLY" if selected["readonly"] else "READ-WRITE"
            return lines, f"OK [{mode}] {command} completed"
        if "mailbox" not in selected:
            self.violations.append(f"{command} before SELECT")
            return [], "BAD select a mailbox first"
        if command == "UID" and args and args[0].upper() == "SEARCH":
            criteria = [a.upper() for a in args[1:]]
            if criteria[:1] == ["UID"] and len(criteria) == 2:
                uids = self._uids(criteria[1])
            elif criteria[:1] == ["SINCE"] and len(criteria) == 2:
                day = datetime.strptime(args[2], "%d-%b-%Y").date()
                uids = {m["uid"] for m in self.messages if m["internal_date"].date() >= day}
            else:
                self.violations.append(f"unsupported SEARCH {args!r}")
                return [], "BAD unsupported search"
            return [("* SEARCH " + " ".join(map(str, sorted(uids)))).strip().encode()], "OK SEARCH completed"
        if command == "UID" and args and args[0].upper() == "FETCH" and len(args) >= 3:
            items = " ".join(args[2:]).upper()
            if "BODY.PEEK[]" not in items:
                self.violations.append(f"FETCH without BODY.PEEK[] sets \\Seen: {items}")
            wanted = self._uids(args[1])
            lines: list[bytes] = []
            for seq, message in enumerate(self.messages, start=1):
                if message["uid"] not in wanted:
                    continue
                if "BODY.PEEK[]" not in items:
                    message["flags"].add("\\Seen")
                stamp = message["internal_date"].astimezone(UTC).strftime("%d-%b-%Y %H:%M:%S +0000")
                data = message["data"]
                head = f'* {seq} FETCH (UID {message["uid"]} INTERNALDATE "{stamp}" BODY[] {{{len(data)}}}\r\n'
                lines.append(head.encode() + data + b")")
            return lines, "OK FETCH completed"
        self.violations.append(f"{command} {' '.join(args)} is not something the poller may send")
        return [], f"BAD {command} not allowed here"

    # lifecycle --------------------------------------------------------------------------
    def start(self) -> FakeIMAP:
        import socketserver

        fake = self

        context = self._server_context() if self.tls != "none" else None

        class Handler(socketserver.StreamRequestHandler):
            def _upgrade(self) -> None:
                """TLS on the accepted socket (OSError, e.g. ssl.SSLError, if the handshake fails:
                a client that does not trust the certificate hangs up)."""
                assert context is not None
                self.rfile.close()
                self.wfile.close()
                self.request = self.connection = context.wrap_socket(self.request, server_side=True)
                self.rfile = self.connection.makefile("rb", self.rbufsize)
                self.wfile = socketserver._SocketWriter(self.connection)  # type: ignore[attr-defined]
                with fake._lock:
                    fake.tls_connections += 1

            def handle(self) -> None:
                if fake.stall:
                    time.sleep(fake.stall)
                state: dict[str, Any] = {}
                with contextlib.suppress(OSError):
                    if fake.tls == "implicit":
                        self._upgrade()
                        state["tls"] = True
                    self.wfile.write(b"* OK fake IMAP ready\r\n")
                    while True:
                        line = self.rfile.readline()
                        if not line:
                            return
                        tag, _, rest = line.decode("utf-8", "replace").rstrip("\r\n").partition(" ")
                        command, _, text = rest.partition(" ")
                        command = command.upper()
                        args = fake._args(text)
                        full = f"{command} {args[0].upper()}" if command == "UID" and args else command
                        fake.received.append(f"{command} {text}".strip())
                        if fake.drop_after == full:
                            return
                        with fake._lock:
                            lines, done = fake.handle(command, args, state)
                        for untagged in lines:
                            self.wfile.write(untagged + b"\r\n")
                        self.wfile.write(f"{tag} {done}\r\n".encode())
                        if command == "LOGOUT":
                            return
                        if state.pop("upgrade", False):
                            self._upgrade()
                            state["tls"] = True

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server((self.host, 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeIMAP:
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


def build_direct_message(
    event_id: str,
    text: str,
    sender_id: str,
    recipient_id: str,
    *,
    screen_name: str = "",
    name: str = "",
    at: datetime | None = None,
    for_user_id: str = "",
) -> dict[str, Any]:
    """An Account Activity delivery with one `direct_message_events` message_create, as X
    documents it (Account Activity API, "direct_message_events"): the event, and the users.
    `for_user_id` is the subscribed account (the brand): the recipient unless given."""
    stamp = str(int((at or datetime.now(UTC)).timestamp() * 1000))
    return {
        "for_user_id": for_user_id or recipient_id,
        "direct_message_events": [
            {
                "type": "message_create",
                "id": event_id,
                "created_timestamp": stamp,
                "message_create": {
                    "target": {"recipient_id": recipient_id},
                    "sender_id": sender_id,
                    "source_app_id": "268278",
                    "message_data": {
                        "text": text,
                        "entities": {"hashtags": [], "symbols": [], "user_mentions": [], "urls": []},
                    },
                },
            }
        ],
        "apps": {"268278": {"id": "268278", "name": "Twitter Web Client", "url": "http://twitter.com"}},
        "users": {
            sender_id: {
                "id": sender_id,
                "created_timestamp": "1422556069340",
                "name": name or screen_name or sender_id,
                "screen_name": screen_name or f"user{sender_id}",
                "protected": False,
                "verified": False,
                "followers_count": 10,
                "friends_count": 20,
                "statuses_count": 30,
            },
            recipient_id: {
                "id": recipient_id,
                "created_timestamp": "1422556069340",
                "name": "Brand",
                "screen_name": "brand",
                "protected": False,
                "verified": True,
                "followers_count": 1000,
                "friends_count": 5,
                "statuses_count": 5000,
            },
        },
    }


__all__ = [
    "FakeZendesk",
    "FakeHandoffReceiver",
    "Answer",
    "FakeDiscourse",
    "FakeIMAP",
    "FakeMessenger",
    "FakePlatform",
    "FakeSMTP",
    "FakeX",
    "FakeYouTube",
    "Received",
    "ReceivedMail",
    "build_account_activity",
    "build_direct_message",
    "build_tweet",
    "self_signed_certificate",
    "free_port",
    "google_error",
    "graph_error",
    "x_created_at",
]


def serve(fake: Any) -> Iterator[Any]:
    """Run a fake for a fixture; afterwards, it must have seen no invalid request."""
    with fake:
        yield fake
    # Every request a test made must have been a valid one; tests that send bad requests on
    # purpose clear fake.violations after asserting on them.
    assert getattr(fake, "violations", []) == [], fake.violations
