"""Discourse: webhooks in (ping, post_created, post_destroyed, topic_destroyed), posts.json
replies out."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx

from channels_app.platforms.adapters.base import (
    Account,
    Deletion,
    Event,
    Identity,
    InboundMessage,
    PermanentSendError,
    Platform,
    PublicChange,
    Published,
    ReplyContext,
    ReplyTarget,
    RetryableSendError,
    SendResult,
    Timeout,
    WebhookAnswer,
    WebhookRequest,
    check_signature,
    error_text,
    html_to_text,
    join_url,
    parse_retry_after,
    pick_reply,
    raise_for_platform_status,
    request,
    response_json,
    sha256_hex_signature,
    utc_from_iso,
)

SIGNATURE_HEADER = "X-Discourse-Event-Signature"
EVENT_HEADER = "X-Discourse-Event"
REGULAR_POST = 1  # post_type: 2 moderator action, 3 small action, 4 whisper


def verify_signature(secret: str, raw_body: bytes, header_value: str | None) -> None:
    check_signature(sha256_hex_signature(secret, raw_body), header_value)


def parse_post(post: dict[str, Any]) -> InboundMessage:
    raw_text = post.get("raw")
    text = raw_text if raw_text is not None else html_to_text(post.get("cooked") or "")
    username = post.get("username") or ""
    return InboundMessage(
        platform_message_id=str(post["id"]),
        thread_id=str(post["topic_id"]),
        customer_id=str(post.get("user_id") or username),
        customer_handle=username,
        customer_name=post.get("name") or username,
        text=text,
        lang=None,  # Discourse posts carry no language
        created_at=utc_from_iso(post["created_at"]),
        # Discourse replies point at a post *number* in the topic, not a post id; the number
        # stays in raw["post_number"] / raw["reply_to_post_number"] for the reply.
        in_reply_to=None,
        raw=post,
    )


def is_customer(post: dict[str, Any], own_username: str | None) -> bool:
    """Who counts as a customer on a forum: the author of a regular post (not a whisper, small
    action or moderator action) who is neither staff, moderator nor admin (WebHookPostSerializer's
    `staff`, `moderator`, `admin`) nor the channel's own account (our auto-replies coming back).
    A private message to the support account is a customer's like a public post."""
    if post.get("post_type", REGULAR_POST) != REGULAR_POST:
        return False
    if post.get("staff") or post.get("moderator") or post.get("admin"):
        return False
    return not (own_username and (post.get("username") or "").lower() == own_username.lower())


PRIVATE_MESSAGE = "private_message"  # a topic's archetype when it is a personal message


def parse_event(event: str | None, payload: dict[str, Any], own_username: str | None = None) -> list[Event]:
    """Customers' new posts and deleted posts or topics in one delivery; ping, edits, users,
    likes and every other event give []."""
    if event == "post_destroyed":
        post = payload.get("post") or {}
        return [Deletion(platform_message_id=str(post["id"]), reason="the post was deleted on the forum")]
    if event == "topic_destroyed":
        topic = payload.get("topic") or {}
        return [Deletion(thread_id=str(topic["id"]), reason="the topic was deleted on the forum")]
    if event != "post_created":
        return []
    post = payload.get("post") or {}
    if not post or not is_customer(post, own_username):
        return []
    return [parse_post(post)]


def _headers(api_key: str, api_username: str) -> dict[str, str]:
    return {"Api-Key": api_key, "Api-Username": api_username, "Accept": "application/json"}


def _raise_for_forum_status(response: httpx.Response) -> None:
    if response.status_code == 429:
        # Discourse says how long in the body (extras.wait_seconds) as well as Retry-After.
        extras = (response_json(response) or {}).get("extras") or {}
        wait = parse_retry_after(response.headers)
        if wait is None and extras.get("wait_seconds") is not None:
            wait = float(extras["wait_seconds"])
        raise RetryableSendError(wait, error_text(response), 429)
    raise_for_platform_status(response)


def _forum_request(
    client: httpx.Client,
    method: str,
    base_url: str,
    api_key: str,
    api_username: str,
    path: str,
    *,
    timeout: httpx.Timeout | float | None,
    **kwargs: Any,
) -> httpx.Response | None:
    """One call to the forum's API as the channel's user; None when the forum answers 404 (the
    topic or post is gone), the forum's refusal raised otherwise."""
    response = request(
        client, method, join_url(base_url, path), headers=_headers(api_key, api_username), timeout=timeout, **kwargs
    )
    if response.status_code == 404:
        return None
    _raise_for_forum_status(response)
    return response


def send_reply(
    client: httpx.Client,
    base_url: str,
    api_key: str,
    api_username: str,
    topic_id: int | str,
    text: str,
    reply_to_post_number: int | None = None,
    *,
    timeout: httpx.Timeout | float | None = None,
) -> SendResult:
    body: dict[str, Any] = {"topic_id": int(topic_id), "raw": text}
    if reply_to_post_number is not None:
        body["reply_to_post_number"] = int(reply_to_post_number)
    response = request(
        client,
        "POST",
        join_url(base_url, "/posts.json"),
        json=body,
        headers=_headers(api_key, api_username),
        timeout=timeout,
    )
    _raise_for_forum_status(response)
    post_id = (response_json(response) or {}).get("id")
    if post_id is None:
        raise PermanentSendError(f"no post id in the answer ({error_text(response)})", response.status_code)
    return SendResult(platform_id=str(post_id), status_code=response.status_code)


_REPLY_ACTION = 5  # UserAction::REPLY: a post in a topic someone else started


def find_reply(
    client: httpx.Client,
    base_url: str,
    api_key: str,
    api_username: str,
    topic_id: int | str,
    reply_to_post_number: int | None,
    text: str,
    since: datetime,
    *,
    max_pages: int = 20,
    timeout: httpx.Timeout | float | None = None,
) -> str | None:
    """The id of our post in the topic (answering that post number) made since `since`, or
    None: the API user's replies (GET /user_actions.json, newest first) back to `since`.
    Raises SendError when the forum cannot say."""
    candidates: list[tuple[str, str]] = []
    offset = 0
    for _ in range(max_pages):
        response = request(
            client,
            "GET",
            join_url(base_url, "/user_actions.json"),
            params={"username": api_username, "filter": str(_REPLY_ACTION), "offset": str(offset)},
            headers=_headers(api_key, api_username),
            timeout=timeout,
        )
        raise_for_platform_status(response)
        actions = (response_json(response) or {}).get("user_actions") or []
        older = False
        for action in actions:
            if utc_from_iso(action["created_at"]) < since:
                older = True
                continue
            if str(action.get("topic_id")) != str(topic_id):
                continue
            if reply_to_post_number is not None and action.get("reply_to_post_number") != int(reply_to_post_number):
                continue
            candidates.append((str(action["post_id"]), html_to_text(action.get("excerpt") or "")))
        if older or not actions:
            break
        offset += len(actions)
    return pick_reply(candidates, text, author_known=True)


def whoami(
    client: httpx.Client,
    base_url: str,
    api_key: str,
    api_username: str,
    *,
    timeout: httpx.Timeout | float | None = None,
) -> Identity:
    """GET /session/current.json: the user the API key acts as."""
    response = request(
        client,
        "GET",
        join_url(base_url, "/session/current.json"),
        headers=_headers(api_key, api_username),
        timeout=timeout,
    )
    raise_for_platform_status(response)
    user = (response_json(response) or {}).get("current_user") or {}
    if not user.get("username"):
        raise PermanentSendError(f"no current user in answer: {response.text[:300]}", response.status_code)
    # The channel's account id on a forum is the username the key posts as.
    return Identity(account_id=str(user["username"]), name=str(user["username"]))


# --------------------------------------------------------------------------------------------
# The public notice: an announcement topic pinned globally, categories made read-only. Shapes
# from Discourse's OpenAPI (github.com/discourse/discourse_api_docs, openapi.json):
# createTopicPostPM (POST /posts.json with title, raw, category, external_id), getTopicByExternalId
# (GET /t/external_id/{external_id}.json), getTopic (GET /t/{id}.json: pinned_globally),
# updateTopicStatus (PUT /t/{id}/status.json: status, enabled, until), removeTopic (DELETE
# /t/{id}.json), getCategory (GET /c/{id}/show.json: name, group_permissions) and updateCategory
# (PUT /categories/{id}.json: name, permissions {group name: 1 full, 2 create post, 3 read only},
# the numbers as the discourse_api Ruby client's categories.rb names them).
# --------------------------------------------------------------------------------------------

FULL, CREATE_POST, READ_ONLY = 1, 2, 3  # a category's permission_type per group
# Until when a global pin holds: Discourse asks for an end; the archive step (or a rollback)
# unpins before it anyway.
PIN_UNTIL = "2099-12-31"


def topic_by_external_id(
    client: httpx.Client,
    base_url: str,
    api_key: str,
    api_username: str,
    external_id: str,
    *,
    timeout: httpx.Timeout | float | None = None,
) -> dict[str, Any] | None:
    """The topic created with this external_id (GET /t/external_id/{id}.json, which redirects to
    the topic's JSON), or None when there is none."""
    response = _forum_request(
        client,
        "GET",
        base_url,
        api_key,
        api_username,
        f"/t/external_id/{external_id}.json",
        timeout=timeout,
        follow_redirects=True,
    )
    if response is None:
        return None
    topic = response_json(response) or {}
    if topic.get("id") is None:
        raise PermanentSendError(f"no topic in the answer ({error_text(response)})", response.status_code)
    return topic


def create_topic(
    client: httpx.Client,
    base_url: str,
    api_key: str,
    api_username: str,
    *,
    title: str,
    raw: str,
    category_id: int,
    external_id: str,
    timeout: httpx.Timeout | float | None = None,
) -> str:
    """POST /posts.json with a title: a new topic; its id."""
    response = request(
        client,
        "POST",
        join_url(base_url, "/posts.json"),
        json={"title": title, "raw": raw, "category": category_id, "external_id": external_id},
        headers=_headers(api_key, api_username),
        timeout=timeout,
    )
    _raise_for_forum_status(response)
    topic_id = (response_json(response) or {}).get("topic_id")
    if topic_id is None:
        raise PermanentSendError(f"no topic id in the answer ({error_text(response)})", response.status_code)
    return str(topic_id)


def set_pinned_globally(
    client: httpx.Client,
    base_url: str,
    api_key: str,
    api_username: str,
    topic_id: str,
    pinned: bool,
    *,
    timeout: httpx.Timeout | float | None = None,
) -> None:
    """PUT /t/{id}/status.json status=pinned_globally (enabled "true"/"false", until when pinning)."""
    body = {"status": "pinned_globally", "enabled": "true" if pinned else "false"}
    if pinned:
        body["until"] = PIN_UNTIL
    response = request(
        client,
        "PUT",
        join_url(base_url, f"/t/{int(topic_id)}/status.json"),
        json=body,
        headers=_headers(api_key, api_username),
        timeout=timeout,
    )
    _raise_for_forum_status(response)


def get_topic(
    client: httpx.Client,
    base_url: str,
    api_key: str,
    api_username: str,
    topic_id: str,
    *,
    timeout: httpx.Timeout | float | None = None,
) -> dict[str, Any] | None:
    """GET /t/{id}.json, None when the topic is gone."""
    response = _forum_request(
        client, "GET", base_url, api_key, api_username, f"/t/{int(topic_id)}.json", timeout=timeout
    )
    return None if response is None else response_json(response) or {}


def delete_topic(
    client: httpx.Client,
    base_url: str,
    api_key: str,
    api_username: str,
    topic_id: str,
    *,
    timeout: httpx.Timeout | float | None = None,
) -> None:
    """DELETE /t/{id}.json; a topic already gone is what was wanted."""
    _forum_request(client, "DELETE", base_url, api_key, api_username, f"/t/{int(topic_id)}.json", timeout=timeout)


def first_post(
    client: httpx.Client,
    base_url: str,
    api_key: str,
    api_username: str,
    topic_id: str,
    *,
    timeout: httpx.Timeout | float | None = None,
) -> dict[str, Any] | None:
    """{"id", "raw"} of a topic's first post (its id from GET /t/{id}.json, its raw from GET
    /posts/{id}.json), None when the topic or the post is gone."""
    topic = get_topic(client, base_url, api_key, api_username, topic_id, timeout=timeout)
    posts = ((topic or {}).get("post_stream") or {}).get("posts") or []
    if not posts or not isinstance(posts[0], dict) or posts[0].get("id") is None:
        return None
    post_id = str(posts[0]["id"])
    path = f"/posts/{_number(post_id, 'post')}.json"
    response = _forum_request(client, "GET", base_url, api_key, api_username, path, timeout=timeout)
    if response is None:
        return None
    raw = (response_json(response) or {}).get("raw")
    if not isinstance(raw, str):
        raise PermanentSendError(f"no raw text in the answer ({error_text(response)})", response.status_code)
    return {"id": post_id, "raw": raw}


def edit_post(
    client: httpx.Client,
    base_url: str,
    api_key: str,
    api_username: str,
    post_id: str,
    raw: str,
    edit_reason: str,
    *,
    timeout: httpx.Timeout | float | None = None,
) -> None:
    """PUT /posts/{id}.json {"post": {"raw", "edit_reason"}}: the post's new text (a revision
    the forum keeps)."""
    response = request(
        client,
        "PUT",
        join_url(base_url, f"/posts/{_number(post_id, 'post')}.json"),
        json={"post": {"raw": raw, "edit_reason": edit_reason}},
        headers=_headers(api_key, api_username),
        timeout=timeout,
    )
    _raise_for_forum_status(response)


def category_permissions(
    client: httpx.Client,
    base_url: str,
    api_key: str,
    api_username: str,
    category_id: str,
    *,
    timeout: httpx.Timeout | float | None = None,
) -> dict[str, Any]:
    """{"name", "permissions": {group name: permission_type}} of a category (GET /c/{id}/show.json)."""
    response = request(
        client,
        "GET",
        join_url(base_url, f"/c/{int(category_id)}/show.json"),
        headers=_headers(api_key, api_username),
        timeout=timeout,
    )
    _raise_for_forum_status(response)
    category = (response_json(response) or {}).get("category") or {}
    if not category.get("name"):
        raise PermanentSendError(f"no category in the answer ({error_text(response)})", response.status_code)
    permissions = {
        str(p["group_name"]): int(p["permission_type"])
        for p in category.get("group_permissions") or []
        if isinstance(p, dict) and p.get("group_name")
    }
    return {"name": str(category["name"]), "permissions": permissions}


def update_category_permissions(
    client: httpx.Client,
    base_url: str,
    api_key: str,
    api_username: str,
    category_id: str,
    name: str,
    permissions: Mapping[str, int],
    *,
    timeout: httpx.Timeout | float | None = None,
) -> None:
    """PUT /categories/{id}.json with the category's name (required) and the whole permission
    table: groups left out lose their access, so the table given is the table the forum keeps."""
    response = request(
        client,
        "PUT",
        join_url(base_url, f"/categories/{int(category_id)}.json"),
        json={"name": name, "permissions": dict(permissions)},
        headers=_headers(api_key, api_username),
        timeout=timeout,
    )
    _raise_for_forum_status(response)


# The revision notes the forum shows on the announcement's edits.
EDIT_REASON = "Support has moved"
RESTORE_REASON = "Support move rolled back"

# Read-only for everyone, staff keep posting (to answer what is left, to post the moved notice).
READ_ONLY_PERMISSIONS = {"everyone": READ_ONLY, "staff": FULL}


class DiscoursePlatform(Platform):
    kind = "discourse"
    base_url_label = "the forum's URL"  # every forum is its own site: no default
    webhook_methods = ("POST",)

    def verify_webhook(self, secret: str, request: WebhookRequest) -> None:
        verify_signature(secret, request.body, request.headers.get(SIGNATURE_HEADER))

    def parse_webhook(self, request: WebhookRequest) -> list[Event] | WebhookAnswer:
        payload = request.json_object()
        event = request.headers.get(EVENT_HEADER)
        if event == "ping":
            return WebhookAnswer(json={"ok": True, "event": "ping"})
        return parse_event(event, payload, request.account_id or None)

    def message_meta(self, message: InboundMessage) -> dict[str, Any]:
        # A reply answers a post number, not a post id (see parse_post); a reply in a personal
        # message stays in it (posts.json with its topic id), shown as private in the log.
        raw = message.raw or {}
        meta: dict[str, Any] = {} if raw.get("post_number") is None else {"post_number": raw["post_number"]}
        if raw.get("topic_archetype") == PRIVATE_MESSAGE:
            meta["private"] = True
        return meta

    def reply_target(self, context: ReplyContext) -> ReplyTarget:
        if not context.thread_id.isdigit():
            raise ValueError(f"topic id {context.thread_id!r} is not a number")
        post_number = context.meta.get("post_number")
        if post_number is not None:
            try:
                post_number = str(int(post_number))
            except (TypeError, ValueError):
                raise ValueError(f"post number {post_number!r} is not a number") from None
        return ReplyTarget(thread_id=str(int(context.thread_id)), parent_id=post_number)

    # The API key acts as a forum user: the channel's account, else Discourse's "system" user.
    def send_reply(
        self, client: httpx.Client, account: Account, target: ReplyTarget, text: str, *, timeout: Timeout = None
    ) -> SendResult:
        return send_reply(
            client,
            account.base_url,
            account.token,
            account.account_id or "system",
            target.thread_id,
            text,
            reply_to_post_number=None if target.parent_id is None else int(target.parent_id),
            timeout=timeout,
        )

    def whoami(self, client: httpx.Client, account: Account, *, timeout: Timeout = None) -> Identity:
        return whoami(client, account.base_url, account.token, account.account_id or "system", timeout=timeout)

    def find_reply(
        self,
        client: httpx.Client,
        account: Account,
        target: ReplyTarget,
        text: str,
        since: datetime,
        *,
        timeout: Timeout = None,
    ) -> str | None:
        return find_reply(
            client,
            account.base_url,
            account.token,
            account.account_id or "system",
            target.thread_id,
            None if target.parent_id is None else int(target.parent_id),
            text,
            since,
            timeout=timeout,
        )

    public_actions = {
        "announce": "create the announcement topic in the category and pin it globally",
        "update_topic": "replace the announcement topic's text with the has-moved version",
        "read_only": "make the category read-only for everyone but staff",
        "unpin": "unpin the announcement topic",
    }

    def _forum(self, account: Account) -> tuple[str, str, str]:
        return account.base_url, account.token, account.account_id or "system"

    def read_public_state(
        self, client: httpx.Client, account: Account, change: PublicChange, *, timeout: Timeout = None
    ) -> dict[str, Any]:
        self.check_public_action(change)
        forum = self._forum(account)
        if change.action == "announce":
            return {}  # a new topic: rollback unpins and deletes it
        if change.action == "read_only":
            return category_permissions(client, *forum, _number(change.target, "category"), timeout=timeout)
        if change.action == "update_topic":
            post = first_post(client, *forum, _number(change.target, "topic"), timeout=timeout)
            if post is None:
                raise PermanentSendError(f"the announcement topic {change.target} is gone from the forum")
            return {"post_id": post["id"], "raw": post["raw"]}
        topic = get_topic(client, *forum, _number(change.target, "topic"), timeout=timeout)
        return {"pinned_globally": bool((topic or {}).get("pinned_globally"))}

    def publish(
        self,
        client: httpx.Client,
        account: Account,
        change: PublicChange,
        before: Mapping[str, Any],
        *,
        timeout: Timeout = None,
    ) -> Published:
        self.check_public_action(change)
        forum = self._forum(account)
        if change.action == "announce":
            # The topic carries the publication's key as its external_id: one topic per key
            # whatever happened to earlier attempts (the forum refuses a second one).
            topic = topic_by_external_id(client, *forum, change.key, timeout=timeout)
            topic_id = str(topic["id"]) if topic else ""
            if not topic_id:
                topic_id = create_topic(
                    client,
                    *forum,
                    title=change.title,
                    raw=change.text,
                    category_id=int(_number(change.target, "category")),
                    external_id=change.key,
                    timeout=timeout,
                )
            if topic and topic.get("pinned_globally"):
                return Published(topic_id, recovered=True)  # an earlier attempt did it all
            try:
                set_pinned_globally(client, *forum, topic_id, True, timeout=timeout)
            except PermanentSendError:
                # Refused (the user may not pin): no unpinned announcement is left behind. The
                # key stays taken on the forum: a retry publishes under the next generation's.
                delete_topic(client, *forum, topic_id, timeout=timeout)
                raise
            return Published(topic_id, recovered=topic is not None)
        if change.action == "read_only":
            category = _number(change.target, "category")
            update_category_permissions(
                client, *forum, category, str(before["name"]), READ_ONLY_PERMISSIONS, timeout=timeout
            )
            return Published(category)
        topic_id = _number(change.target, "topic")
        if change.action == "update_topic":
            edit_post(client, *forum, str(before["post_id"]), change.text, EDIT_REASON, timeout=timeout)
            return Published(topic_id)
        set_pinned_globally(client, *forum, topic_id, False, timeout=timeout)
        return Published(topic_id)

    def find_publication(
        self,
        client: httpx.Client,
        account: Account,
        change: PublicChange,
        before: Mapping[str, Any],
        *,
        timeout: Timeout = None,
    ) -> str | None:
        self.check_public_action(change)
        forum = self._forum(account)
        if change.action == "announce":
            topic = topic_by_external_id(client, *forum, change.key, timeout=timeout)
            return str(topic["id"]) if topic and topic.get("pinned_globally") else None
        if change.action == "read_only":
            category = _number(change.target, "category")
            now = category_permissions(client, *forum, category, timeout=timeout)
            return category if now["permissions"] == READ_ONLY_PERMISSIONS else None
        topic_id = _number(change.target, "topic")
        if change.action == "update_topic":
            post = first_post(client, *forum, topic_id, timeout=timeout)
            return topic_id if post is not None and post["raw"] == change.text else None
        topic = get_topic(client, *forum, topic_id, timeout=timeout)
        return topic_id if topic is None or not topic.get("pinned_globally") else None

    def restore(
        self,
        client: httpx.Client,
        account: Account,
        change: PublicChange,
        before: Mapping[str, Any],
        platform_id: str,
        *,
        timeout: Timeout = None,
    ) -> None:
        self.check_public_action(change)
        forum = self._forum(account)
        if change.action == "announce":
            topic_id = platform_id
            if not topic_id:
                topic = topic_by_external_id(client, *forum, change.key, timeout=timeout)
                topic_id = str(topic["id"]) if topic else ""
            if topic_id:
                delete_topic(client, *forum, topic_id, timeout=timeout)
            return
        if change.action == "read_only":
            update_category_permissions(
                client,
                *forum,
                _number(change.target, "category"),
                str(before["name"]),
                {str(k): int(v) for k, v in (before.get("permissions") or {}).items()},
                timeout=timeout,
            )
            return
        if change.action == "update_topic":
            topic_id = _number(change.target, "topic")
            # A topic deleted since (the notice rolled back too) has no text to put back.
            if first_post(client, *forum, topic_id, timeout=timeout) is not None:
                edit_post(client, *forum, str(before["post_id"]), str(before["raw"]), RESTORE_REASON, timeout=timeout)
            return
        if before.get("pinned_globally"):
            topic_id = _number(change.target, "topic")
            if get_topic(client, *forum, topic_id, timeout=timeout) is not None:
                set_pinned_globally(client, *forum, topic_id, True, timeout=timeout)


def _number(value: str, what: str) -> str:
    if not str(value).isdigit():
        raise PermanentSendError(f"the {what} id {value!r} is not a number")
    return str(int(value))


PLATFORM = DiscoursePlatform()
