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


@dataclass
class Hold:
    """A request the fake keeps open (``fake.hold_next()``): ``arrived`` is set when it comes in;
    the work is done and the answer sent only once the test sets ``release``, for example after it
    killed the client, whose answer is then lost while the work stands."""

    path: str | None = None
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    timeout: float = 120.0  # released anyway after this long: a forgotten hold ends the test, not the server


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
        self._holds: deque[Hold] = deque()
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

    def hold_next(self, *, path: str | None = None) -> Hold:
        """Keep the next well-routed request (to `path` only, when given) that no scripted answer
        takes open until the test releases it; then do the work and answer as usual."""
        hold = Hold(path)
        with self._lock:
            self._holds.append(hold)
        return hold

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
        with self._lock:
            hold = next((item for item in self._holds if item.path in (None, received.path)), None)
            if hold is not None:
                self._holds.remove(hold)
        if hold is not None:
            hold.arrived.set()
            hold.release.wait(hold.timeout)
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
    """POST /2/tweets (replies, and posts of the brand's own without a reply object) and GET
    /2/tweets/search/recent; direct messages: POST /2/dm_conversations/with/:participant_id/
    messages and GET .../dm_events (API v2, as X documents them: docs.x.com/x-api/direct-messages);
    the public notice: DELETE /2/tweets/:id and the user's timeline GET /2/users/:id/tweets
    (docs.x.com "Manage Posts", "User Posts timeline"); all with a bearer token. `posts()` is
    what the brand's timeline shows now."""

    name = "x"
    identity_path = "/2/users/me"
    _QUERY = re.compile(r"in_reply_to_tweet_id:(\d+)(?: from:(\S+))?")

    def __init__(self, bearer_token: str = "x-bearer-token", account_id: str = "783214") -> None:
        super().__init__()
        self.bearer_token = bearer_token
        self.account_id = account_id  # the user the token posts as
        self.tweets: list[dict[str, Any]] = []
        self.dms: list[dict[str, Any]] = []  # direct messages the brand sent
        self.deleted: list[str] = []  # ids of tweets deleted through DELETE /2/tweets/:id

    def posts(self) -> list[dict[str, Any]]:
        """The brand's own posts (not replies) still on its timeline, oldest first."""
        with self._lock:
            return [t for t in self.tweets if t["in_reply_to"] is None and t["id"] not in self.deleted]

    def _check_delete(self, received: Received) -> None:
        self.expect_bearer(received, self.bearer_token)
        self.expect(received, not received.body, "DELETE /2/tweets/:id takes no body")

    def _delete_tweet(self, received: Received) -> Answer:
        match = self._TWEET_PATH.fullmatch(received.path)
        tweet_id = match.group(1) if match else ""
        with self._lock:
            tweet = next((t for t in self.tweets if t["id"] == tweet_id and t["id"] not in self.deleted), None)
            if tweet is None:
                return Answer(404, {"errors": [{"message": "Not Found"}], "title": "Not Found Error"})
            if tweet["author_id"] != self.account_id:
                return Answer(403, {"title": "Forbidden", "detail": "You are not allowed to delete this Tweet."})
            self.deleted.append(tweet_id)
        return Answer(200, {"data": {"deleted": True}})

    def _check_timeline(self, received: Received) -> None:
        self.expect_bearer(received, self.bearer_token)
        size = received.param("max_results") or "10"
        self.expect(received, size.isdigit() and 5 <= int(size) <= 100, "max_results must be 5..100")
        start = received.param("start_time")
        if start is not None:
            self.expect(
                received,
                re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", start) is not None,
                f"start_time must be YYYY-MM-DDTHH:mm:ssZ, got {start!r}",
            )
        exclude = set((received.param("exclude") or "").split(",")) - {""}
        self.expect(received, exclude <= {"replies", "retweets"}, f"exclude must be replies,retweets, got {exclude}")

    def _timeline(self, received: Received) -> Answer:
        match = self._TIMELINE_PATH.fullmatch(received.path)
        user = match.group(1) if match else ""
        start = datetime.strptime(received.param("start_time") or "1970-01-01T00:00:00Z", "%Y-%m-%dT%H:%M:%SZ")
        start = start.replace(tzinfo=UTC)
        no_replies = "replies" in (received.param("exclude") or "")
        with self._lock:
            tweets = [
                t
                for t in reversed(self.tweets)
                if t["author_id"] == user
                and t["id"] not in self.deleted
                and t["at"] >= start
                and not (no_replies and t["in_reply_to"] is not None)
            ]
        found = [{"id": t["id"], "text": t["text"], "created_at": t["created_at"]} for t in tweets]
        body: dict[str, Any] = {"meta": {"result_count": len(found)}}
        if found:
            body["data"] = found
        return Answer(200, body)

    def routes(self) -> dict[tuple[str, str], Route]:
        return {
            ("POST", "/2/tweets"): (self._check_tweet, self._create_tweet),
            ("GET", "/2/tweets/search/recent"): (self._check_search, self._search),
            ("GET", "/2/users/me"): (self._check_me, self._me),
        }

    _DM_PATH = re.compile(r"/2/dm_conversations/with/([^/]+)/(messages|dm_events)")

    _TWEET_PATH = re.compile(r"/2/tweets/([0-9]+)")
    _TIMELINE_PATH = re.compile(r"/2/users/([0-9]+)/tweets")

    def route_for(self, received: Received) -> Route | None:
        if received.method == "DELETE" and self._TWEET_PATH.fullmatch(received.path):
            return self._check_delete, self._delete_tweet
        if received.method == "GET" and self._TIMELINE_PATH.fullmatch(received.path):
            return self._check_timeline, self._timeline
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
        # A post of the brand's own (the public notice) has no reply object; a reply has one.
        reply = body.get("reply")
        if "reply" in body and self.expect(received, isinstance(reply, dict), "reply must be an object"):
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
                    "in_reply_to": (body.get("reply") or {}).get("in_reply_to_tweet_id"),
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
    """POST /posts.json with Api-Key / Api-Username headers; the public notice: topics created
    with a title and an external_id, found by it, pinned globally through their status, deleted,
    and categories' group permissions read and replaced (Discourse's OpenAPI, see the adapter).
    `topics` and `categories` hold the forum's state."""

    name = "discourse"
    identity_path = "/session/current.json"

    def __init__(self, api_key: str = "discourse-key", api_username: str = "dusk-bot") -> None:
        super().__init__()
        self.api_key = api_key
        self.api_username = api_username
        self.posts: list[dict[str, Any]] = []
        # The public notice's state: topics by id (title, raw, category_id, external_id,
        # pinned_globally, deleted) and categories by id (name, permissions {group: type}).
        self.topics: dict[int, dict[str, Any]] = {}
        self.categories: dict[int, dict[str, Any]] = {
            12: {"name": "Support", "permissions": {"everyone": 1}},
            13: {"name": "Billing help", "permissions": {"trust_level_1": 2, "staff": 1, "everyone": 3}},
        }
        # The API user may be a moderator (pin, make read-only) or not: answered 403 then.
        self.api_user_is_staff = True

    def topic(self, topic_id: int | str) -> dict[str, Any] | None:
        """A live topic's state, None when there is none or it was deleted."""
        with self._lock:
            topic = self.topics.get(int(topic_id))
            return None if topic is None or topic["deleted"] else dict(topic)

    def live_topics(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(t) for t in self.topics.values() if not t["deleted"]]

    _TOPIC = re.compile(r"/t/([0-9]+)\.json")
    _TOPIC_STATUS = re.compile(r"/t/([0-9]+)/status\.json")
    _BY_EXTERNAL_ID = re.compile(r"/t/external_id/([^/]+)\.json")
    _CATEGORY_SHOW = re.compile(r"/c/([0-9]+)/show\.json")
    _CATEGORY_UPDATE = re.compile(r"/categories/([0-9]+)\.json")
    _POST = re.compile(r"/posts/([0-9]+)\.json")

    def route_for(self, received: Received) -> Route | None:
        method, path = received.method, received.path
        if method in ("GET", "DELETE") and self._TOPIC.fullmatch(path):
            return self._check_api_headers, (self._get_topic if method == "GET" else self._delete_topic)
        if method == "PUT" and self._TOPIC_STATUS.fullmatch(path):
            return self._check_status, self._set_status
        if method == "GET" and self._BY_EXTERNAL_ID.fullmatch(path):
            return self._check_api_headers, self._by_external_id
        if method == "GET" and self._CATEGORY_SHOW.fullmatch(path):
            return self._check_api_headers, self._show_category
        if method == "PUT" and self._CATEGORY_UPDATE.fullmatch(path):
            return self._check_category_update, self._update_category
        if method == "GET" and self._POST.fullmatch(path):
            return self._check_api_headers, self._get_post
        if method == "PUT" and self._POST.fullmatch(path):
            return self._check_edit_post, self._edit_post
        return super().route_for(received)

    def _topic_of_post(self, post_id: int) -> dict[str, Any] | None:
        return next((t for t in self.topics.values() if t["post_id"] == post_id and not t["deleted"]), None)

    def _get_post(self, received: Received) -> Answer:
        post_id = self._id(self._POST, received)
        with self._lock:
            topic = self._topic_of_post(post_id)
            if topic is None:
                return self._not_found()
            return Answer(
                200,
                {
                    "id": post_id,
                    "topic_id": topic["id"],
                    "post_number": 1,
                    "raw": topic["raw"],
                    "version": topic["version"],
                },
            )

    def _check_edit_post(self, received: Received) -> None:
        self._check_api_headers(received)
        body = self.expect_json_object(received)
        self.expect(received, set(body) == {"post"} and isinstance(body["post"], dict), "the body is {post: {...}}")
        post = body.get("post") or {}
        self.expect(received, set(post) <= {"raw", "edit_reason"}, f"unexpected post keys {sorted(post)}")
        raw = post.get("raw")
        self.expect(received, isinstance(raw, str) and 20 <= len(raw) <= 32000, "raw must be 20..32000 chars")

    def _edit_post(self, received: Received) -> Answer:
        post_id = self._id(self._POST, received)
        post = received.json()["post"]
        with self._lock:
            topic = self._topic_of_post(post_id)
            if topic is None:
                return self._not_found()
            topic["raw"] = post["raw"]
            topic["version"] += 1
            topic["edit_reasons"].append(post.get("edit_reason") or "")
            return Answer(200, {"post": {"id": post_id, "raw": topic["raw"], "version": topic["version"]}})

    def _id(self, pattern: re.Pattern[str], received: Received) -> int:
        match = pattern.fullmatch(received.path)
        return int(match.group(1)) if match else 0

    def _not_found(self) -> Answer:
        return Answer(404, {"errors": ["The requested URL or resource could not be found."], "error_type": "not_found"})

    def _forbidden(self) -> Answer:
        return Answer(
            403, {"errors": ["You are not permitted to view the requested resource."], "error_type": "invalid_access"}
        )

    def _topic_json(self, topic: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": topic["id"],
            "title": topic["title"],
            "category_id": topic["category_id"],
            "archetype": "regular",
            "pinned_globally": topic["pinned_globally"],
            "pinned": topic["pinned_globally"],
            "pinned_until": topic["pinned_until"],
            "post_stream": {"posts": [{"id": topic["post_id"], "post_number": 1, "cooked": f"<p>{topic['raw']}</p>"}]},
        }

    def _get_topic(self, received: Received) -> Answer:
        topic = self.topic(self._id(self._TOPIC, received))
        return self._not_found() if topic is None else Answer(200, self._topic_json(topic))

    def _delete_topic(self, received: Received) -> Answer:
        # The API user may delete the topics it created (all of them here), staff or not.
        topic_id = self._id(self._TOPIC, received)
        with self._lock:
            topic = self.topics.get(topic_id)
            if topic is None or topic["deleted"]:
                return self._not_found()
            topic["deleted"] = True
            topic["pinned_globally"] = False
        return Answer(200, "")

    def _by_external_id(self, received: Received) -> Answer:
        match = self._BY_EXTERNAL_ID.fullmatch(received.path)
        external_id = match.group(1) if match else ""
        with self._lock:
            topic = next(
                (t for t in self.topics.values() if t["external_id"] == external_id and not t["deleted"]), None
            )
        if topic is None:
            return self._not_found()
        # Discourse redirects to the topic's own URL.
        return Answer(301, "", {"Location": f"/t/{topic['id']}.json"})

    def _check_status(self, received: Received) -> None:
        self._check_api_headers(received)
        body = self.expect_json_object(received)
        self.expect(
            received,
            body.get("status") in ("closed", "pinned", "pinned_globally", "archived", "visible"),
            f"unknown status {body.get('status')!r}",
        )
        self.expect(received, body.get("enabled") in ("true", "false"), "enabled must be 'true' or 'false'")
        if body.get("status") in ("pinned", "pinned_globally") and body.get("enabled") == "true":
            self.expect(received, bool(body.get("until")), "until is required to pin")
        self.expect(received, set(body) <= {"status", "enabled", "until"}, f"unexpected keys {sorted(body)}")

    def _set_status(self, received: Received) -> Answer:
        if not self.api_user_is_staff:
            return self._forbidden()
        body = received.json()
        topic_id = self._id(self._TOPIC_STATUS, received)
        with self._lock:
            topic = self.topics.get(topic_id)
            if topic is None or topic["deleted"]:
                return self._not_found()
            if body.get("status") == "pinned_globally":
                pinned = body.get("enabled") == "true"
                topic["pinned_globally"] = pinned
                topic["pinned_until"] = body.get("until") if pinned else None
                topic["pin_changes"] += 1
        return Answer(200, {"success": "OK", "topic_status_update": None})

    def _show_category(self, received: Received) -> Answer:
        category_id = self._id(self._CATEGORY_SHOW, received)
        with self._lock:
            category = self.categories.get(category_id)
            if category is None:
                return self._not_found()
            groups = [
                {"permission_type": kind, "group_name": name, "group_id": index}
                for index, (name, kind) in enumerate(category["permissions"].items())
            ]
        return Answer(200, {"category": {"id": category_id, "name": category["name"], "group_permissions": groups}})

    def _check_category_update(self, received: Received) -> None:
        self._check_api_headers(received)
        body = self.expect_json_object(received)
        self.expect(received, isinstance(body.get("name"), str) and body["name"] != "", "name is required")
        permissions = body.get("permissions")
        if "permissions" in body and self.expect(received, isinstance(permissions, dict), "permissions not an object"):
            self.expect(
                received,
                all(isinstance(v, int) and v in (1, 2, 3) for v in permissions.values()),
                f"permission types must be 1, 2 or 3: {permissions}",
            )

    def _update_category(self, received: Received) -> Answer:
        if not self.api_user_is_staff:
            return self._forbidden()
        body = received.json()
        category_id = self._id(self._CATEGORY_UPDATE, received)
        with self._lock:
            category = self.categories.get(category_id)
            if category is None:
                return self._not_found()
            category["name"] = body["name"]
            if "permissions" in body:
                category["permissions"] = dict(body["permissions"])  # the whole table, as given
        return Answer(200, {"success": "OK", "category": {"id": category_id, "name": body["name"]}})

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
        if "title" in body:
            self._check_new_topic(received, body)
            return
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

    def _check_new_topic(self, received: Received, body: dict[str, Any]) -> None:
        title = body.get("title")
        self.expect(received, isinstance(title, str) and 15 <= len(title) <= 255, "title must be 15..255 chars")
        raw = body.get("raw")
        self.expect(received, isinstance(raw, str) and 20 <= len(raw) <= 32000, "raw must be 20..32000 chars")
        self.expect(received, isinstance(body.get("category"), int), "category must be an integer")
        external_id = body.get("external_id")
        if "external_id" in body:
            self.expect(
                received,
                isinstance(external_id, str) and 0 < len(external_id) <= 50,
                "external_id must be 1..50 chars",
            )
        self.expect(
            received, set(body) <= {"title", "raw", "category", "external_id"}, f"unexpected keys {sorted(body)}"
        )

    def _create_topic(self, received: Received) -> Answer:
        body = received.json()
        with self._lock:
            if body.get("category") not in self.categories:
                return Answer(422, {"errors": ["Category can't be blank"], "error_type": "invalid_parameters"})
            external_id = body.get("external_id")
            if external_id and any(t["external_id"] == external_id for t in self.topics.values()):
                return Answer(422, {"errors": ["External ID has already been taken"]})
        topic_id = 300 + self.next_id()
        post_id = 9000 + self.next_id()
        with self._lock:
            self.topics[topic_id] = {
                "id": topic_id,
                "title": body["title"],
                "raw": body["raw"],
                "category_id": body["category"],
                "external_id": body.get("external_id"),
                "pinned_globally": False,
                "pinned_until": None,
                "pin_changes": 0,
                "deleted": False,
                "post_id": post_id,
                "version": 1,
                "edit_reasons": [],
            }
        return Answer(200, {"id": post_id, "topic_id": topic_id, "post_number": 1, "raw": body["raw"]})

    def _create_post(self, received: Received) -> Answer:
        body = received.json()
        if "title" in body:
            return self._create_topic(received)
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
    """POST /{version}/me/messages?access_token=... (Send API); the Messenger Profile API (GET,
    POST, DELETE /{version}/me/messenger_profile) keeping the page's greeting and ice breakers
    in `profile`, refusing what Meta refuses (no default locale, a greeting over 160
    characters, more than 4 ice breakers) with a Graph error."""

    name = "messenger"

    def __init__(self, page_access_token: str = "page-token", api_version: str = "v19.0", page_id: str = "") -> None:
        super().__init__()
        self.page_access_token = page_access_token
        self.api_version = api_version
        self.page_id = page_id or "page-1"
        self.identity_path = f"/{api_version}/me"
        self.messages: list[dict[str, Any]] = []
        # The page's Messenger profile as the Messenger Profile API keeps it: properties set
        # (greeting, ice_breakers, get_started...), absent when never set or deleted.
        self.profile: dict[str, Any] = {}
        self.profile_writes = 0

    def routes(self) -> dict[tuple[str, str], Route]:
        profile = f"/{self.api_version}/me/messenger_profile"
        return {
            ("GET", profile): (self._check_profile_get, self._get_profile),
            ("POST", profile): (self._check_profile_post, self._set_profile),
            ("DELETE", profile): (self._check_profile_delete, self._delete_profile),
            ("POST", f"/{self.api_version}/me/messages"): (self._check_message, self._send_message),
            ("GET", f"/{self.api_version}/me/conversations"): (self._check_conversations, self._conversations),
            ("GET", f"/{self.api_version}/me"): (self._check_me, self._me),
        }

    PROFILE_PROPERTIES = frozenset({"greeting", "ice_breakers", "get_started", "persistent_menu"})

    def _check_token(self, received: Received) -> None:
        self.expect(received, received.param("access_token") == self.page_access_token, "wrong or missing access_token")

    def _check_profile_get(self, received: Received) -> None:
        self._check_token(received)
        fields = set((received.param("fields") or "").split(",")) - {""}
        self.expect(received, bool(fields), "fields is required")
        self.expect(received, fields <= self.PROFILE_PROPERTIES, f"unknown fields {sorted(fields)}")

    def _get_profile(self, received: Received) -> Answer:
        if received.param("access_token") != self.page_access_token:
            return Answer(400, graph_error(190, "Invalid OAuth access token."))
        fields = (received.param("fields") or "").split(",")
        with self._lock:
            found = {name: json.loads(json.dumps(self.profile[name])) for name in fields if name in self.profile}
        return Answer(200, {"data": [found] if found else []})

    def profile_error(self, body: dict[str, Any]) -> str:
        """Why the Messenger Profile API refuses these properties, "" when it takes them."""
        greeting = body.get("greeting")
        if greeting is not None:
            if not isinstance(greeting, list) or not all(isinstance(g, dict) for g in greeting):
                return "(#100) greeting must be an array of objects"
            if not any(g.get("locale") == "default" for g in greeting):
                return "(#100) greeting must include the default locale"
            for item in greeting:
                text = item.get("text")
                if not isinstance(text, str) or not 0 < len(text) <= 160:
                    return "(#100) greeting text must be 1 to 160 characters"
        breakers = body.get("ice_breakers")
        if breakers is not None:
            if not isinstance(breakers, list) or not any(
                isinstance(b, dict) and b.get("locale") == "default" for b in breakers
            ):
                return "(#100) ice_breakers must include the default locale"
            for item in breakers:
                actions = item.get("call_to_actions") or []
                if not 0 < len(actions) <= 4 or not all(a.get("question") and a.get("payload") for a in actions):
                    return "(#100) ice_breakers take 1 to 4 call_to_actions with a question and a payload"
        return ""

    def _check_profile_post(self, received: Received) -> None:
        self._check_token(received)
        body = self.expect_json_object(received)
        self.expect(received, bool(body) and set(body) <= self.PROFILE_PROPERTIES, f"unexpected keys {sorted(body)}")

    def _set_profile(self, received: Received) -> Answer:
        if received.param("access_token") != self.page_access_token:
            return Answer(400, graph_error(190, "Invalid OAuth access token."))
        body = received.json()
        error = self.profile_error(body)
        if error:
            return Answer(400, graph_error(100, error))
        with self._lock:
            self.profile.update(body)  # properties not sent are left as they are
            self.profile_writes += 1
        return Answer(200, {"result": "success"})

    def _check_profile_delete(self, received: Received) -> None:
        self._check_token(received)
        body = self.expect_json_object(received)
        fields = body.get("fields")
        self.expect(
            received,
            isinstance(fields, list) and bool(fields) and set(fields) <= self.PROFILE_PROPERTIES,
            f"fields must list profile properties, got {fields!r}",
        )

    def _delete_profile(self, received: Received) -> Answer:
        if received.param("access_token") != self.page_access_token:
            return Answer(400, graph_error(190, "Invalid OAuth access token."))
        with self._lock:
            for name in received.json().get("fields") or []:
                self.profile.pop(name, None)
            self.profile_writes += 1
        return Answer(200, {"result": "success"})

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
    """GET /youtube/v3/commentThreads (paged, newest first) and POST /youtube/v3/comments; the
    channel's `branding` read with channels.list (part=brandingSettings) and replaced whole by
    channels.update (PUT, part=brandingSettings, OAuth only); its `localizations` the same way
    (part=localizations, one part a request, refused while the channel has no default language)."""

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
        # The channel's branding settings, replaced whole by channels.update (part=brandingSettings):
        # a property not sent back is gone, as YouTube documents.
        self.branding: dict[str, Any] = {
            "channel": {
                "title": "Brand",
                "description": "Official Brand channel. Support: reply to any video.",
                "keywords": "brand support help",
                "unsubscribedTrailer": "vid00000001",
                "defaultLanguage": "en",
                "country": "FR",
            },
            "image": {"bannerExternalUrl": "https://yt3.googleusercontent.example/banner"},
        }
        self.branding_writes = 0
        # The channel's translations of its title and description, by language.
        self.localizations: dict[str, dict[str, str]] = {"de": {"title": "Brand", "description": "Offizieller Kanal."}}
        self.localization_writes = 0
        # The channel's owner may not have given the token the right to translate it: 403.
        self.refuse_localizations = False

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
            ("PUT", "/youtube/v3/channels"): (self._check_update_channel, self._update_channel),
        }

    def _check_update_channel(self, received: Received) -> None:
        self.expect_bearer(received, self.access_token)
        part = received.param("part")
        self.expect(received, part in ("brandingSettings", "localizations"), "part must be one updatable part")
        body = self.expect_json_object(received)
        self.expect(received, body.get("id") == self.channel_id, f"id must be {self.channel_id}")
        self.expect(received, isinstance(body.get(part or ""), dict), f"{part} missing")
        self.expect(received, set(body) <= {"id", "kind", "etag", part}, f"unexpected keys {sorted(body)}")
        if part == "localizations":
            for language, value in (body.get("localizations") or {}).items():
                self.expect(
                    received,
                    isinstance(value, dict)
                    and set(value) == {"title", "description"}
                    and all(isinstance(v, str) for v in value.values()),
                    f"localization {language!r} must have a title and a description",
                )

    def _update_channel(self, received: Received) -> Answer:
        if received.headers.get("authorization") != f"Bearer {self.access_token}":
            return Answer(401, google_error(401, "authError"))
        body = received.json()
        if received.param("part") == "localizations":
            return self._update_localizations(body)
        branding = body.get("brandingSettings") or {}
        description = (branding.get("channel") or {}).get("description") or ""
        if len(description) > 1000:
            return Answer(400, google_error(400, "channelDescriptionTooLong"))
        if body.get("id") != self.channel_id:
            return Answer(403, google_error(403, "channelForbidden"))
        with self._lock:
            self.branding = json.loads(json.dumps(branding))
            self.branding_writes += 1
        return Answer(200, {"kind": "youtube#channel", "id": self.channel_id, "brandingSettings": branding})

    def _update_localizations(self, body: dict[str, Any]) -> Answer:
        localizations = body.get("localizations") or {}
        if self.refuse_localizations:
            return Answer(403, google_error(403, "forbidden"))
        if body.get("id") != self.channel_id:
            return Answer(403, google_error(403, "channelForbidden"))
        if any(len((v or {}).get("description") or "") > 1000 for v in localizations.values()):
            return Answer(400, google_error(400, "channelDescriptionTooLong"))
        with self._lock:
            if localizations and not (self.branding.get("channel") or {}).get("defaultLanguage"):
                return Answer(400, google_error(400, "defaultLanguageNotSet"))
            self.localizations = json.loads(json.dumps(localizations))
            self.localization_writes += 1
        return Answer(200, {"kind": "youtube#channel", "id": self.channel_id, "localizations": localizations})

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
        item: dict[str, Any] = {"kind": "youtube#channel", "id": self.channel_id, "snippet": {"title": "Brand"}}
        parts = (received.param("part") or "").split(",")
        with self._lock:
            if "brandingSettings" in parts:
                item["brandingSettings"] = json.loads(json.dumps(self.branding))
            if "localizations" in parts:
                item["localizations"] = json.loads(json.dumps(self.localizations))
        items = [item] if mine or named else []
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
    """Zendesk Support's Tickets API as the hand-off uses it: create a ticket (POST
    /api/v2/tickets.json {"ticket": {...}} -> 201 {"ticket": {...}}), list tickets by external_id
    (GET /api/v2/tickets.json?external_id=... -> {"tickets", "next_page", "previous_page",
    "count"}), as developer.zendesk.com/api-reference/ticketing/tickets/tickets/ documents them
    ("Create Ticket"; "List Tickets", whose external_id parameter "lists tickets by external id",
    which need not be unique). It checks Basic authentication ("<email>/token" and the API token),
    each ticket's shape (subject, comment.body holding the reference, requester name and email,
    external_id the DSK- reference) and that a list names the external_id it looks for."""

    name = "zendesk"
    path = "/api/v2/tickets.json"

    def __init__(self, email: str = "agent@brand.example", token: str = "zd-api-token") -> None:
        super().__init__()
        self.credential = f"{email}/token:{token}"
        self.tickets: list[dict[str, Any]] = []

    def routes(self) -> dict[tuple[str, str], Route]:
        return {
            ("POST", self.path): (self._check_create, self._create),
            ("GET", self.path): (self._check_list, self._list),
        }

    def _check_list(self, received: Received) -> None:
        self._check_auth(received)
        self.expect(received, bool(received.param("external_id")), "a look-up names its external_id")

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


class FakeFreshdesk(FakePlatform):
    """Freshdesk's Tickets API v2 as the hand-off uses it: create a ticket, search tickets by tag.
    It checks Basic authentication (the API key and "X"), each ticket's shape (subject,
    description holding the reference, a requester email, status 2..5, priority 1..4, tags with
    the DSK- reference) and the search query's syntax (the whole query in double quotes, a string
    value in single ones); it answers a wrong key 401 as Freshdesk does."""

    name = "freshdesk"
    path = "/api/v2/tickets"
    search_path = "/api/v2/search/tickets"

    def __init__(self, api_key: str = "fd-api-key") -> None:
        super().__init__()
        self.credential = api_key
        self.tickets: list[dict[str, Any]] = []

    def routes(self) -> dict[tuple[str, str], Route]:
        return {
            ("POST", self.path): (self._check_create, self._create),
            ("GET", self.search_path): (self._check_search, self._search),
        }

    def _authorized(self, received: Received) -> bool:
        import base64

        expected = "Basic " + base64.b64encode(f"{self.credential}:X".encode()).decode()
        return received.headers.get("authorization") == expected

    def unauthorized(self) -> Answer:
        return Answer(
            401, {"code": "invalid_credentials", "message": "You have to be logged in to perform this action."}
        )

    def dispatch(self, received: Received) -> Answer:
        if not self._authorized(received) and self.route_for(received) is not None:
            with self._lock:
                self.received.append(received)
            return self.unauthorized()
        return super().dispatch(received)

    def _check_create(self, received: Received) -> None:
        ticket = self.expect_json_object(received)
        tags = ticket.get("tags") or []
        references = [t for t in tags if str(t).startswith("DSK-")]
        self.expect(received, len(references) == 1, "tags: the DSK- reference once")
        reference = references[0] if references else "DSK-?"
        self.expect(received, isinstance(ticket.get("subject"), str) and ticket["subject"].strip(), "a subject")
        description = ticket.get("description")
        self.expect(
            received, isinstance(description, str) and reference in description, "description with the reference"
        )
        self.expect(received, "<script" not in str(description).lower(), "description: escaped HTML")
        self.expect(received, "@" in str(ticket.get("email")), "a requester email")
        self.expect(received, ticket.get("status") in (2, 3, 4, 5), "status: 2, 3, 4 or 5")
        self.expect(received, ticket.get("priority") in (1, 2, 3, 4), "priority: 1 to 4")
        self.expect(received, "unique_external_id" not in ticket, "no contact external id")

    def _create(self, received: Received) -> Answer:
        ticket = received.json()
        with self._lock:
            stored = {**ticket, "id": 1001 + len(self.tickets), "requester_id": 77}
            self.tickets.append(stored)
        return Answer(201, stored)

    SEARCH = re.compile(r"^\"tag:'([A-Za-z0-9_-]+)'\"$")

    def _check_search(self, received: Received) -> None:
        query = received.param("query") or ""
        self.expect(
            received, self.SEARCH.match(query) is not None, "query=\"tag:'<tag>'\" (double, then single quotes)"
        )

    def _search(self, received: Received) -> Answer:
        match = self.SEARCH.match(received.param("query") or "")
        if match is None:
            return Answer(
                400,
                {
                    "description": "Validation failed",
                    "errors": [{"field": "query", "message": "Invalid query", "code": "invalid_value"}],
                },
            )
        with self._lock:
            found = [t for t in self.tickets if match[1] in (t.get("tags") or [])]
        return Answer(200, {"results": found, "total": len(found)})


class FakeChatwoot(FakePlatform):
    """Chatwoot's Application API as the hand-off uses it, for one account and one API inbox:
    contacts (search, create with a contact inbox, add a contact inbox), conversations (create,
    list a contact's) and messages (create, list). It checks the api_access_token header, each
    body's required fields (inbox_id, source_id of a contact inbox of that inbox, content) and
    keeps state, refusing a second contact with the same email (422) as Chatwoot does."""

    name = "chatwoot"

    def __init__(self, token: str = "cw-user-token", account: int = 3, inbox: int = 7) -> None:
        super().__init__()
        self.credential = token
        self.account, self.inbox = account, inbox
        self.contacts: dict[int, dict[str, Any]] = {}
        self.source_ids: dict[str, int] = {}  # source_id -> contact id
        self.conversations: dict[int, dict[str, Any]] = {}
        self.messages: dict[int, list[dict[str, Any]]] = {}

    @property
    def url(self) -> str:
        return f"{self.base_url}/api/v1/accounts/{self.account}/inboxes/{self.inbox}"

    @property
    def api(self) -> str:
        return f"/api/v1/accounts/{self.account}"

    def unauthorized(self) -> Answer:
        return Answer(401, {"error": "Invalid Access Token"})

    def route_for(self, received: Received) -> Route | None:
        api = self.api
        path, method = received.path, received.method
        fixed = {
            ("GET", f"{api}/contacts/search"): (self._check_search, self._search),
            ("POST", f"{api}/contacts"): (self._check_contact, self._create_contact),
            ("POST", f"{api}/conversations"): (self._check_conversation, self._create_conversation),
        }
        if (method, path) in fixed:
            return fixed[(method, path)]
        patterns = [
            ("POST", rf"^{api}/contacts/(\d+)/contact_inboxes$", (self._check_contact_inbox, self._contact_inbox)),
            ("GET", rf"^{api}/contacts/(\d+)/conversations$", (lambda r: None, self._contact_conversations)),
            ("POST", rf"^{api}/conversations/(\d+)/messages$", (self._check_message, self._create_message)),
            ("GET", rf"^{api}/conversations/(\d+)/messages$", (lambda r: None, self._list_messages)),
        ]
        for verb, pattern, route in patterns:
            if method == verb and re.match(pattern, path):
                return route
        return None

    def dispatch(self, received: Received) -> Answer:
        if self.route_for(received) is not None and received.headers.get("api_access_token") != self.credential:
            with self._lock:
                self.received.append(received)
            return self.unauthorized()
        return super().dispatch(received)

    @staticmethod
    def _id(received: Received) -> int:
        return int(re.findall(r"/(\d+)/", received.path + "/")[-1])

    def _check_search(self, received: Received) -> None:
        self.expect(received, bool(received.param("q")), "q: what to search for")

    def _search(self, received: Received) -> Answer:
        q = (received.param("q") or "").lower()
        with self._lock:
            found = [c for c in self.contacts.values() if q and q in str(c.get("email", "")).lower()]
        return Answer(200, {"meta": {"count": len(found), "current_page": 1}, "payload": found})

    def _check_contact(self, received: Received) -> None:
        body = self.expect_json_object(received)
        self.expect(received, body.get("inbox_id") == self.inbox, f"inbox_id: {self.inbox}")
        self.expect(received, "@" in str(body.get("email")), "an email")

    def _create_contact(self, received: Received) -> Answer:
        body = received.json()
        with self._lock:
            if any(c["email"] == body.get("email") for c in self.contacts.values()):
                return Answer(422, {"message": "Email has already been taken", "attributes": ["email"]})
            contact_id = 500 + len(self.contacts)
            self.contacts[contact_id] = {"id": contact_id, "name": body.get("name"), "email": body.get("email")}
            source_id = f"src-{contact_id}-{len(self.source_ids)}"
            self.source_ids[source_id] = contact_id
        inbox = {"id": self.inbox, "name": "Dusk hand-offs", "channel_type": "Channel::Api"}
        return Answer(
            200,
            {
                "payload": {
                    "contact": self.contacts[contact_id],
                    "contact_inbox": {"source_id": source_id, "inbox": inbox},
                }
            },
        )

    def _check_contact_inbox(self, received: Received) -> None:
        body = self.expect_json_object(received)
        self.expect(received, body.get("inbox_id") == self.inbox, f"inbox_id: {self.inbox}")
        self.expect(received, self._id(received) in self.contacts, "an existing contact")

    def _contact_inbox(self, received: Received) -> Answer:
        contact_id = self._id(received)
        with self._lock:
            source_id = f"src-{contact_id}-{len(self.source_ids)}"
            self.source_ids[source_id] = contact_id
        return Answer(200, {"source_id": source_id, "inbox": {"id": self.inbox}})

    def _check_conversation(self, received: Received) -> None:
        body = self.expect_json_object(received)
        self.expect(received, body.get("source_id") in self.source_ids, "source_id: a contact inbox's")
        self.expect(received, body.get("inbox_id") == self.inbox, f"inbox_id: {self.inbox}")
        self.expect(
            received, self.source_ids.get(body.get("source_id")) == body.get("contact_id"), "contact_id: the source's"
        )
        attributes = body.get("custom_attributes") or {}
        self.expect(received, str(attributes.get("dusk_reference", "")).startswith("DSK-"), "the DSK- reference")

    def _create_conversation(self, received: Received) -> Answer:
        body = received.json()
        with self._lock:
            conversation_id = 90 + len(self.conversations)
            stored = {
                "id": conversation_id,
                "account_id": self.account,
                "inbox_id": self.inbox,
                "status": body.get("status") or "open",
                "contact_id": body.get("contact_id"),
                "custom_attributes": body.get("custom_attributes") or {},
            }
            self.conversations[conversation_id] = stored
            self.messages[conversation_id] = []
        return Answer(200, {k: v for k, v in stored.items() if k != "contact_id"})

    def _contact_conversations(self, received: Received) -> Answer:
        contact_id = self._id(received)
        with self._lock:
            found = [
                {k: v for k, v in c.items() if k != "contact_id"}
                for c in self.conversations.values()
                if c["contact_id"] == contact_id
            ]
        return Answer(200, {"payload": found})

    def _check_message(self, received: Received) -> None:
        body = self.expect_json_object(received)
        self.expect(received, self._id(received) in self.conversations, "an existing conversation")
        self.expect(received, isinstance(body.get("content"), str) and body["content"].strip(), "content")
        self.expect(received, body.get("message_type") in (None, "outgoing", "incoming"), "message_type")

    def _create_message(self, received: Received) -> Answer:
        body = received.json()
        conversation_id = self._id(received)
        with self._lock:
            message = {"id": 4000 + sum(len(m) for m in self.messages.values()), **body}
            self.messages.setdefault(conversation_id, []).append(message)
        return Answer(200, message)

    def _list_messages(self, received: Received) -> Answer:
        with self._lock:
            found = list(self.messages.get(self._id(received), []))
        return Answer(200, {"meta": {}, "payload": found})


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
    "FakeChatwoot",
    "FakeFreshdesk",
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
    "Hold",
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
