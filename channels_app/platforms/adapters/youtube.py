"""YouTube Data API v3: comments have no webhooks, so they are polled; replies are comments."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any, NamedTuple

import httpx

from channels_app.platforms.adapters.base import (
    Account,
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
    error_text,
    join_url,
    parse_retry_after,
    pick_reply,
    request,
    response_json,
    utc_from_iso,
)

# 403 reasons that mean "wait" (quota resets daily, rate limits ease) rather than "never".
_RETRYABLE_REASONS = {"quotaExceeded", "rateLimitExceeded", "userRateLimitExceeded", "dailyLimitExceeded"}


def _auth(api_key_or_token: str, auth: str) -> tuple[dict[str, str], dict[str, str]]:
    """(query params, headers). Google API keys start with "AIza"; anything else is OAuth."""
    use_key = auth == "key" or (auth == "auto" and api_key_or_token.startswith("AIza"))
    if use_key:
        return {"key": api_key_or_token}, {}
    return {}, {"Authorization": f"Bearer {api_key_or_token}"}


def _raise_for_google_status(response: httpx.Response) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    body = response_json(response)
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    reasons = {item.get("reason") for item in error.get("errors") or [] if isinstance(item, dict)}
    retry_after = parse_retry_after(response.headers)
    if status == 429 or status >= 500 or (status == 403 and reasons & _RETRYABLE_REASONS):
        raise RetryableSendError(retry_after, error_text(response), status, in_doubt=status >= 500)
    raise PermanentSendError(error_text(response), status)


def is_customer(message: InboundMessage, own_channel_id: str | None) -> bool:
    """Who counts as a customer in YouTube comments: anyone but the brand's own channel (its
    comments and its replies under customers' comments are never answered)."""
    return not (own_channel_id and message.customer_id == own_channel_id)


def parse_thread(item: dict[str, Any]) -> InboundMessage:
    top = item["snippet"]["topLevelComment"]
    snippet = top["snippet"]
    author = (snippet.get("authorChannelId") or {}).get("value") or ""
    name = snippet.get("authorDisplayName") or ""
    return InboundMessage(
        platform_message_id=top["id"],
        thread_id=item.get("id") or top["id"],
        customer_id=author,
        customer_handle=name,
        customer_name=name.lstrip("@"),
        # textOriginal is only guaranteed to the author; textDisplay (plainText) otherwise.
        text=snippet.get("textOriginal") or snippet.get("textDisplay") or "",
        lang=None,
        created_at=utc_from_iso(snippet["publishedAt"]),
        in_reply_to=None,
        raw=item,
    )


def fetch_comment_threads(
    client: httpx.Client,
    base_url: str,
    api_key_or_token: str,
    video_or_channel_id: str,
    page_token: str | None = None,
    *,
    auth: str = "auto",
    timeout: httpx.Timeout | float | None = None,
) -> tuple[list[InboundMessage], str | None]:
    """One page of comment threads, newest first, and the next page token (None at the end).

    Channel ids start with "UC"; anything else is taken as a video id.
    Raises RetryableSendError/PermanentSendError like the senders do.
    """
    params, headers = _auth(api_key_or_token, auth)
    scope = "allThreadsRelatedToChannelId" if video_or_channel_id.startswith("UC") else "videoId"
    params.update(
        {
            "part": "snippet",
            scope: video_or_channel_id,
            "order": "time",
            "maxResults": "100",
            "textFormat": "plainText",
        }
    )
    if page_token:
        params["pageToken"] = page_token
    response = request(
        client,
        "GET",
        join_url(base_url, "/youtube/v3/commentThreads"),
        params=params,
        headers=headers,
        timeout=timeout,
    )
    _raise_for_google_status(response)
    body = response_json(response) or {}
    messages = [parse_thread(item) for item in body.get("items") or []]
    return messages, body.get("nextPageToken") or None


class PollResult(NamedTuple):
    messages: list[InboundMessage]  # new comments, oldest first
    high_water: datetime | None  # newest publishedAt read so far
    boundary_ids: frozenset[str]  # ids published exactly at high_water: pass back as seen_ids
    complete: bool  # False when max_pages ran out before reaching the old high-water mark


def poll_new_comments(
    client: httpx.Client,
    base_url: str,
    api_key_or_token: str,
    video_or_channel_id: str,
    high_water: datetime | None,
    seen_ids: Collection[str] = (),
    *,
    own_channel_id: str | None = None,
    max_pages: int = 50,
    auth: str = "auto",
    timeout: httpx.Timeout | float | None = None,
) -> PollResult:
    """Comments newer than the last poll.

    publishedAt has one-second precision, so several comments can share the high-water
    instant: those are told apart by seen_ids (the previous poll's boundary_ids), which is how
    nothing is read twice and nothing at the boundary is missed. Paging stops at the first
    comment strictly older than high_water (the list is newest first).
    """
    fresh: dict[str, InboundMessage] = {}  # de-duplicates items shifted across pages meanwhile
    seen = set(seen_ids)
    page_token: str | None = None
    complete = False
    for _ in range(max_pages):
        page, page_token = fetch_comment_threads(
            client, base_url, api_key_or_token, video_or_channel_id, page_token, auth=auth, timeout=timeout
        )
        reached_old = False
        for message in page:
            if high_water is not None and message.created_at < high_water:
                reached_old = True
                continue
            if high_water is not None and message.created_at == high_water and message.platform_message_id in seen:
                continue
            fresh.setdefault(message.platform_message_id, message)
        if reached_old or page_token is None:
            complete = True
            break
    return _poll_result(list(fresh.values()), high_water, seen, own_channel_id, complete)


def _poll_result(
    fresh: list[InboundMessage],
    high_water: datetime | None,
    seen: set[str],
    own_channel_id: str | None,
    complete: bool,
) -> PollResult:
    new_high = max([m.created_at for m in fresh] + ([high_water] if high_water else []), default=None)
    boundary = {m.platform_message_id for m in fresh if m.created_at == new_high}
    if new_high is not None and new_high == high_water:
        boundary |= seen  # still the same instant: earlier ones stay seen
    # The channel's own comments advance the mark but are not messages to answer.
    customers = [m for m in reversed(fresh) if is_customer(m, own_channel_id)]
    # The API lists newest first; reversed then stably sorted, same-second comments come out
    # oldest first too.
    customers.sort(key=lambda m: m.created_at)
    return PollResult(customers, new_high, frozenset(boundary), complete)


def send_reply(
    client: httpx.Client,
    base_url: str,
    access_token: str,
    parent_id: str,
    text: str,
    *,
    timeout: httpx.Timeout | float | None = None,
) -> SendResult:
    """Reply under a top-level comment (OAuth token of the channel owner)."""
    response = request(
        client,
        "POST",
        join_url(base_url, "/youtube/v3/comments"),
        params={"part": "snippet"},
        json={"snippet": {"parentId": parent_id, "textOriginal": text}},
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=timeout,
    )
    _raise_for_google_status(response)
    comment_id = (response_json(response) or {}).get("id")
    if not comment_id:
        raise PermanentSendError(f"no comment id in the answer ({error_text(response)})", response.status_code)
    return SendResult(platform_id=str(comment_id), status_code=response.status_code)


def find_reply(
    client: httpx.Client,
    base_url: str,
    access_token: str,
    parent_id: str,
    text: str,
    since: datetime,
    *,
    author_channel_id: str = "",
    max_pages: int = 20,
    timeout: httpx.Timeout | float | None = None,
) -> str | None:
    """The id of our reply under a comment posted since `since`, or None (comments.list by
    parentId). Raises SendError when YouTube cannot say."""
    params: dict[str, str] = {"part": "snippet", "parentId": parent_id, "maxResults": "100", "textFormat": "plainText"}
    candidates: list[tuple[str, str]] = []
    for _ in range(max_pages):
        response = request(
            client,
            "GET",
            join_url(base_url, "/youtube/v3/comments"),
            params=params,
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=timeout,
        )
        _raise_for_google_status(response)
        body = response_json(response) or {}
        for item in body.get("items") or []:
            snippet = item.get("snippet") or {}
            author = (snippet.get("authorChannelId") or {}).get("value") or ""
            if author_channel_id and author != author_channel_id:
                continue
            if not snippet.get("publishedAt") or utc_from_iso(snippet["publishedAt"]) < since:
                continue
            candidates.append((str(item["id"]), snippet.get("textOriginal") or snippet.get("textDisplay") or ""))
        params["pageToken"] = body.get("nextPageToken") or ""
        if not params["pageToken"]:
            break
    return pick_reply(candidates, text, author_known=bool(author_channel_id))


def whoami(
    client: httpx.Client,
    base_url: str,
    api_key_or_token: str,
    channel_id: str = "",
    *,
    auth: str = "auto",
    timeout: httpx.Timeout | float | None = None,
) -> Identity:
    """GET /youtube/v3/channels: the token's own channel (mine=true), or with an API key (which
    has no "mine") the channel the account id names."""
    params, headers = _auth(api_key_or_token, auth)
    params = {**params, "part": "id,snippet"}
    if "key" in params:
        if not channel_id:
            raise PermanentSendError("an API key needs the channel id (the channel's platform account id)")
        params["id"] = channel_id
    else:
        params["mine"] = "true"
    response = request(
        client, "GET", join_url(base_url, "/youtube/v3/channels"), params=params, headers=headers, timeout=timeout
    )
    _raise_for_google_status(response)
    items = (response_json(response) or {}).get("items") or []
    if not items:
        raise PermanentSendError("no channel found for these credentials", response.status_code)
    title = ((items[0].get("snippet") or {}).get("title")) or items[0]["id"]
    return Identity(account_id=str(items[0]["id"]), name=str(title))


# --------------------------------------------------------------------------------------------
# The public notice: the channel's description, brandingSettings.channel.description (1,000
# characters at most), read with channels.list (part=brandingSettings) and written with
# channels.update (PUT /youtube/v3/channels?part=brandingSettings), which "overrides the
# existing values for all of the mutable properties" of the part: the whole brandingSettings
# read is sent back with only the description changed (developers.google.com/youtube/v3/docs/
# channels/update; the channels resource). Needs an OAuth token with the youtube scope.
# The notice's other locales go in the channel's localizations ({language: {title,
# description}}), a part of their own (channels.update takes one part a request), which needs
# the channel's default language (brandingSettings.channel.defaultLanguage) to be set.
# --------------------------------------------------------------------------------------------

DESCRIPTION_LIMIT = 1000


def _read_channel(
    client: httpx.Client,
    base_url: str,
    access_token: str,
    channel_id: str,
    parts: str,
    timeout: httpx.Timeout | float | None,
) -> dict[str, Any]:
    """channels.list of the token's channel (or the one named) with these parts: its item."""
    params = {"part": parts, **({"id": channel_id} if channel_id else {"mine": "true"})}
    response = request(
        client,
        "GET",
        join_url(base_url, "/youtube/v3/channels"),
        params=params,
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=timeout,
    )
    _raise_for_google_status(response)
    items = (response_json(response) or {}).get("items") or []
    if not items:
        raise PermanentSendError("no channel found for these credentials", response.status_code)
    return items[0]


def read_branding(
    client: httpx.Client,
    base_url: str,
    access_token: str,
    channel_id: str = "",
    *,
    timeout: httpx.Timeout | float | None = None,
) -> tuple[str, dict[str, Any]]:
    """(channel id, brandingSettings) of the token's channel (or the one named)."""
    item = _read_channel(client, base_url, access_token, channel_id, "id,brandingSettings", timeout)
    return str(item["id"]), dict(item.get("brandingSettings") or {})


def _update_channel(
    client: httpx.Client,
    base_url: str,
    access_token: str,
    channel_id: str,
    part: str,
    value: Mapping[str, Any],
    timeout: httpx.Timeout | float | None,
) -> None:
    """channels.update of one part (brandingSettings or localizations): the whole part, as the
    channel keeps it (the update replaces every property of the part)."""
    response = request(
        client,
        "PUT",
        join_url(base_url, "/youtube/v3/channels"),
        params={"part": part},
        json={"id": channel_id, part: dict(value)},
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=timeout,
    )
    _raise_for_google_status(response)


def update_branding(
    client: httpx.Client,
    base_url: str,
    access_token: str,
    channel_id: str,
    branding: Mapping[str, Any],
    *,
    timeout: httpx.Timeout | float | None = None,
) -> None:
    _update_channel(client, base_url, access_token, channel_id, "brandingSettings", branding, timeout)


def with_description(branding: Mapping[str, Any], description: str, language: str = "") -> dict[str, Any]:
    """The branding settings as read, with only the channel description replaced (and the
    default language set to `language` when the channel has none)."""
    _check_description(description)
    channel = {**(branding.get("channel") or {}), "description": description}
    if language and not channel.get("defaultLanguage"):
        channel["defaultLanguage"] = language
    return {**branding, "channel": channel}


def _check_description(description: str) -> None:
    if not description or len(description) > DESCRIPTION_LIMIT:
        raise PermanentSendError(f"the description is {len(description)} characters (1 to {DESCRIPTION_LIMIT})")


def read_localizations(
    client: httpx.Client,
    base_url: str,
    access_token: str,
    channel_id: str = "",
    *,
    timeout: httpx.Timeout | float | None = None,
) -> tuple[str, str, dict[str, Any]]:
    """(channel id, channel title, localizations) of the token's channel (or the one named)."""
    item = _read_channel(client, base_url, access_token, channel_id, "id,brandingSettings,localizations", timeout)
    title = str(((item.get("brandingSettings") or {}).get("channel") or {}).get("title") or "")
    return str(item["id"]), title, dict(item.get("localizations") or {})


def update_localizations(
    client: httpx.Client,
    base_url: str,
    access_token: str,
    channel_id: str,
    localizations: Mapping[str, Any],
    *,
    timeout: httpx.Timeout | float | None = None,
) -> None:
    _update_channel(client, base_url, access_token, channel_id, "localizations", localizations, timeout)


def with_localized_descriptions(
    localizations: Mapping[str, Any], channel_title: str, descriptions: Mapping[str, str]
) -> dict[str, Any]:
    """The localizations as read, with each given language's description replaced (its title
    kept, or the channel's own title for a language the channel had none in)."""
    updated = {language: dict(value or {}) for language, value in localizations.items()}
    for language, description in descriptions.items():
        _check_description(description)
        entry = updated.setdefault(language, {})
        entry["title"] = entry.get("title") or channel_title
        entry["description"] = description
    return updated


class YouTubePlatform(Platform):
    """No webhooks: services/polling.py reads new comments with poll_new_comments."""

    kind = "youtube"
    default_base_url = "https://www.googleapis.com"

    def reply_target(self, context: ReplyContext) -> ReplyTarget:
        return ReplyTarget(parent_id=context.thread_id)

    def send_reply(
        self, client: httpx.Client, account: Account, target: ReplyTarget, text: str, *, timeout: Timeout = None
    ) -> SendResult:
        return send_reply(client, account.base_url, account.token, target.parent_id or "", text, timeout=timeout)

    def whoami(self, client: httpx.Client, account: Account, *, timeout: Timeout = None) -> Identity:
        return whoami(client, account.base_url, account.token, account.account_id, timeout=timeout)

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
            target.parent_id or "",
            text,
            since,
            author_channel_id=account.account_id,
            timeout=timeout,
        )

    public_actions = {
        "description": "replace the channel's description (its other branding settings kept)",
        "localizations": "replace the channel's description in its other languages (its localizations)",
    }

    def read_public_state(
        self, client: httpx.Client, account: Account, change: PublicChange, *, timeout: Timeout = None
    ) -> dict[str, Any]:
        self.check_public_action(change)
        if change.action == "localizations":
            channel_id, _title, localizations = read_localizations(
                client, account.base_url, account.token, account.account_id, timeout=timeout
            )
            return {"channel_id": channel_id, "localizations": localizations}
        channel_id, branding = read_branding(
            client, account.base_url, account.token, account.account_id, timeout=timeout
        )
        return {"channel_id": channel_id, "brandingSettings": branding}

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
        if change.action == "localizations":
            channel_id, title, localizations = read_localizations(
                client, account.base_url, account.token, account.account_id, timeout=timeout
            )
            updated = with_localized_descriptions(localizations, title, change.texts)
            update_localizations(client, account.base_url, account.token, channel_id, updated, timeout=timeout)
            return Published(channel_id)
        # Read again rather than trust the capture: another change (the hard close's after the
        # notice's) may stand in between, and every other branding setting must be kept as is.
        channel_id, branding = read_branding(
            client, account.base_url, account.token, account.account_id, timeout=timeout
        )
        update_branding(
            client,
            account.base_url,
            account.token,
            channel_id,
            with_description(branding, change.text, change.language),
            timeout=timeout,
        )
        return Published(channel_id)

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
        if change.action == "localizations":
            channel_id, _title, localizations = read_localizations(
                client, account.base_url, account.token, account.account_id, timeout=timeout
            )
            done = all(
                (localizations.get(lang) or {}).get("description") == text for lang, text in change.texts.items()
            )
            return channel_id if done else None
        channel_id, branding = read_branding(
            client, account.base_url, account.token, account.account_id, timeout=timeout
        )
        return channel_id if (branding.get("channel") or {}).get("description") == change.text else None

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
        channel_id = str(before.get("channel_id") or platform_id)
        if change.action == "localizations":
            localizations = before.get("localizations") or {}
            update_localizations(client, account.base_url, account.token, channel_id, localizations, timeout=timeout)
            return
        update_branding(
            client, account.base_url, account.token, channel_id, before.get("brandingSettings") or {}, timeout=timeout
        )


PLATFORM = YouTubePlatform()
