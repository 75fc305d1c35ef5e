"""X (Twitter): Account Activity webhooks in (tweets, tweet deletions, direct messages), API v2
replies and direct messages out."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from channels_app.platforms.adapters.base import (
    Account,
    BadDelivery,
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
    SendResult,
    Timeout,
    WebhookAnswer,
    WebhookRequest,
    check_signature,
    error_text,
    join_url,
    pick_reply,
    raise_for_platform_status,
    request,
    response_json,
    sha256_b64_signature,
    utc_from_iso,
    utc_from_timestamp_ms,
)

SIGNATURE_HEADER = "x-twitter-webhooks-signature"
_CREATED_AT_FORMAT = "%a %b %d %H:%M:%S %z %Y"  # "Wed Oct 10 20:19:24 +0000 2018"
# The CRC answer is HMAC-SHA256(consumer secret, crc_token), the very function that signs a
# delivery's body: answered for any token, it would sign any body an attacker sends as the
# token. X's tokens are short random strings (a UUID today); a JSON body needs braces and
# quotes, so tokens without them, and bounded in length, cannot be a delivery.
CRC_TOKEN = re.compile(r"[A-Za-z0-9_=+/.-]{1,128}")


def crc_response(consumer_secret: str, crc_token: str) -> str:
    """The response_token for X's CRC GET; a retired channel must keep answering it.
    ValueError for a token not of the shape X sends (CRC_TOKEN)."""
    if not CRC_TOKEN.fullmatch(crc_token):
        raise ValueError("not a crc_token")
    return sha256_b64_signature(consumer_secret, crc_token)


def verify_signature(consumer_secret: str, raw_body: bytes, header_value: str | None) -> None:
    """Raise SignatureError unless header_value signs raw_body (the bytes as received)."""
    check_signature(sha256_b64_signature(consumer_secret, raw_body), header_value)


# X always writes created_at in UTC; this reads that form without strptime (a third of parsing
# a delivery). Anything else goes to strptime, which also raises for what neither can read.
_CREATED_AT_UTC = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) \+0000 ([0-9]{4})"
)
_MONTHS = {
    name: number
    for number, name in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}


def _created_at(tweet: dict[str, Any]) -> datetime:
    if tweet.get("timestamp_ms"):
        return utc_from_timestamp_ms(tweet["timestamp_ms"])
    value = tweet["created_at"]
    match = _CREATED_AT_UTC.fullmatch(value) if isinstance(value, str) else None
    if match:
        month, day, hour, minute, second, year = match.groups()
        try:
            return datetime(int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second), tzinfo=UTC)
        except ValueError:
            pass  # e.g. 31 Feb: strptime's error says so
    return datetime.strptime(value, _CREATED_AT_FORMAT).astimezone(UTC)


def _full_text(tweet: dict[str, Any]) -> str:
    # Tweets over 140 characters arrive truncated with the whole text in extended_tweet.
    extended = tweet.get("extended_tweet") or {}
    return extended.get("full_text") or tweet.get("full_text") or tweet.get("text") or ""


# X still uses a few withdrawn ISO 639 codes.
_OLD_CODES = {"in": "id", "iw": "he", "ji": "yi"}


def _lang(tweet: dict[str, Any]) -> str | None:
    lang = (tweet.get("lang") or "").lower()
    # "und" (undetermined), "zxx" and X's "qme"/"qht"/"qam"... pseudo codes are no language.
    if not lang or lang in ("und", "zxx") or (len(lang) == 3 and lang.startswith("q")):
        return None
    code = lang.split("-")[0]
    return _OLD_CODES.get(code, code)


def parse_tweet(tweet: dict[str, Any]) -> InboundMessage:
    user = tweet.get("user") or {}
    in_reply_to = tweet.get("in_reply_to_status_id_str")
    tweet_id = tweet["id_str"]
    return InboundMessage(
        platform_message_id=tweet_id,
        # v1.1 payloads carry no conversation id; the replied-to tweet is the best hint and
        # services map it onto an existing conversation.
        thread_id=tweet.get("conversation_id_str") or in_reply_to or tweet_id,
        customer_id=str(user.get("id_str") or user.get("id") or ""),
        customer_handle=user.get("screen_name") or "",
        customer_name=user.get("name") or "",
        text=_full_text(tweet),
        lang=_lang(tweet),
        created_at=_created_at(tweet),
        in_reply_to=in_reply_to,
        raw=tweet,
    )


def is_customer(author_id: str, own_user_id: str) -> bool:
    """Who counts as a customer on X, for tweets and direct messages alike: anyone but the
    brand's own account (its replies, its hand-offs, the DMs it sends). Answering the brand
    would loop."""
    return bool(author_id) and not (own_user_id and author_id == own_user_id)


def dm_conversation_id(sender_id: str, recipient_id: str) -> str:
    """X's id of a one-to-one DM conversation: the two user ids, smaller first, joined by "-"
    (API v2 dm_conversation_id). Never a tweet id, so DM threads and tweet threads of one
    channel cannot meet."""
    low, high = sorted((sender_id, recipient_id), key=lambda v: (len(v), v))
    return f"{low}-{high}"


# A one-to-one DM conversation id: two user ids joined by "-"; a tweet id never has one.
DM_THREAD_PATTERN = r"^[0-9]+-[0-9]+$"
_DM_THREAD = re.compile(DM_THREAD_PATTERN)


def is_dm_thread(thread_id: str) -> bool:
    return _DM_THREAD.match(thread_id) is not None


def parse_direct_message(event: dict[str, Any], users: dict[str, Any]) -> InboundMessage:
    """One Account Activity `direct_message_events` item of type message_create."""
    create = event["message_create"]
    sender = str(create["sender_id"])
    recipient = str((create.get("target") or {})["recipient_id"])
    user = users.get(sender) or {}
    return InboundMessage(
        platform_message_id=str(event["id"]),
        thread_id=str(event.get("dm_conversation_id") or dm_conversation_id(sender, recipient)),
        customer_id=sender,
        customer_handle=user.get("screen_name") or "",
        customer_name=user.get("name") or "",
        text=(create.get("message_data") or {}).get("text") or "",
        lang=None,  # DMs carry no language: detected from the text
        created_at=utc_from_timestamp_ms(event["created_timestamp"]),
        in_reply_to=None,
        raw={**event, "dm": True},
    )


def parse_events(payload: dict[str, Any]) -> list[Event]:
    """The customers' tweets and direct messages in an Account Activity delivery, and their
    deleted tweets. The brand's own tweets and DMs (is_customer), retweets, likes, follows,
    typing and read indicators are acknowledged and ignored."""
    own_user_id = str(payload.get("for_user_id") or "")
    events: list[Event] = []
    for tweet in payload.get("tweet_create_events") or []:
        author = str((tweet.get("user") or {}).get("id_str") or "")
        if not is_customer(author, own_user_id) or tweet.get("retweeted_status"):
            continue
        events.append(parse_tweet(tweet))
    for deleted in payload.get("tweet_delete_events") or []:
        status = deleted["status"]
        if is_customer(str(status.get("user_id") or ""), own_user_id):
            events.append(Deletion(platform_message_id=str(status["id"]), reason="the customer deleted the tweet"))
    users = payload.get("users") or {}
    for event in payload.get("direct_message_events") or []:
        if event.get("type") != "message_create":
            continue
        create = event["message_create"]
        recipient = str((create.get("target") or {}).get("recipient_id") or "")
        # Only DMs sent to the brand: its own DMs (sent from X's app or by Dusk) come back too.
        if is_customer(str(create.get("sender_id") or ""), own_user_id) and (
            not own_user_id or recipient == own_user_id
        ):
            events.append(parse_direct_message(event, users))
    return events


def _create_tweet(
    client: httpx.Client,
    base_url: str,
    bearer_token: str,
    payload: dict[str, Any],
    *,
    timeout: httpx.Timeout | float | None = None,
) -> SendResult:
    """POST /2/tweets (a reply or a post of its own); 201 gives the new tweet id."""
    response = request(
        client,
        "POST",
        join_url(base_url, "/2/tweets"),
        json=payload,
        headers={"Authorization": f"Bearer {bearer_token}"},
        timeout=timeout,
    )
    raise_for_platform_status(response)
    tweet_id = ((response_json(response) or {}).get("data") or {}).get("id")
    if not tweet_id:
        raise PermanentSendError(f"no tweet id in the answer ({error_text(response)})", response.status_code)
    return SendResult(platform_id=str(tweet_id), status_code=response.status_code)


def _pages(
    client: httpx.Client,
    url: str,
    bearer_token: str,
    params: dict[str, Any],
    *,
    pages: int,
    token_param: str,
    timeout: httpx.Timeout | float | None = None,
):
    """The bodies of a paged GET, newest first: at most `pages`, following meta.next_token in
    `token_param` (the caller may stop early by not asking for the next one)."""
    for _ in range(pages):
        response = request(
            client, "GET", url, params=params, headers={"Authorization": f"Bearer {bearer_token}"}, timeout=timeout
        )
        raise_for_platform_status(response)
        body = response_json(response) or {}
        yield body
        next_token = (body.get("meta") or {}).get("next_token")
        if not next_token:
            return
        params[token_param] = next_token


def send_reply(
    client: httpx.Client,
    base_url: str,
    bearer_token: str,
    text: str,
    in_reply_to_id: str,
    *,
    timeout: httpx.Timeout | float | None = None,
) -> SendResult:
    """POST /2/tweets as a reply; 201 gives the new tweet id."""
    payload = {"text": text, "reply": {"in_reply_to_tweet_id": str(in_reply_to_id)}}
    return _create_tweet(client, base_url, bearer_token, payload, timeout=timeout)


def send_direct_message(
    client: httpx.Client,
    base_url: str,
    bearer_token: str,
    participant_id: str,
    text: str,
    *,
    timeout: httpx.Timeout | float | None = None,
) -> SendResult:
    """POST /2/dm_conversations/with/:participant_id/messages; 201 gives the dm_event_id."""
    response = request(
        client,
        "POST",
        join_url(base_url, f"/2/dm_conversations/with/{participant_id}/messages"),
        json={"text": text},
        headers={"Authorization": f"Bearer {bearer_token}"},
        timeout=timeout,
    )
    raise_for_platform_status(response)
    body = response_json(response) or {}
    event_id = (body.get("data") or {}).get("dm_event_id")
    if not event_id:
        raise PermanentSendError(f"no dm_event_id in answer: {response.text[:300]}", response.status_code)
    return SendResult(platform_id=str(event_id), status_code=response.status_code)


_DM_PAGES = 5


def find_direct_message(
    client: httpx.Client,
    base_url: str,
    bearer_token: str,
    participant_id: str,
    text: str,
    since: datetime,
    *,
    author_id: str = "",
    timeout: httpx.Timeout | float | None = None,
) -> str | None:
    """The id of our DM to this person sent since `since`, or None (GET
    /2/dm_conversations/with/:participant_id/dm_events, newest first). Raises SendError when X
    cannot say."""
    params: dict[str, Any] = {
        "max_results": 100,
        "event_types": "MessageCreate",
        "dm_event.fields": "id,text,created_at,sender_id,event_type",
    }
    candidates: list[tuple[str, str]] = []
    url = join_url(base_url, f"/2/dm_conversations/with/{participant_id}/dm_events")
    for body in _pages(
        client, url, bearer_token, params, pages=_DM_PAGES, token_param="pagination_token", timeout=timeout
    ):
        older = False
        for event in body.get("data") or []:
            sender = str(event.get("sender_id") or "")
            if sender == str(participant_id) or (author_id and sender != author_id):
                continue
            if not event.get("created_at") or utc_from_iso(event["created_at"]) < since:
                older = True
                continue
            candidates.append((str(event["id"]), event.get("text") or ""))
        if older:
            break
    # A person can get an auto-reply and a hand-off notice: the text decides among ours.
    return pick_reply(candidates, text, author_known=False)


# Recent search covers the last seven days; older replies cannot be looked up this way.
_SEARCH_WINDOW = timedelta(days=7) - timedelta(minutes=1)
_SEARCH_PAGES = 5


def find_reply(
    client: httpx.Client,
    base_url: str,
    bearer_token: str,
    in_reply_to_id: str,
    text: str,
    since: datetime,
    *,
    author_id: str = "",
    timeout: httpx.Timeout | float | None = None,
) -> str | None:
    """The id of our reply to a tweet posted since `since`, or None (GET /2/tweets/search/recent
    with the in_reply_to_tweet_id: and from: operators). Raises SendError when X cannot say."""
    query = f"in_reply_to_tweet_id:{in_reply_to_id}" + (f" from:{author_id}" if author_id else "")
    start = max(since, datetime.now(UTC) - _SEARCH_WINDOW)
    params: dict[str, Any] = {
        "query": query,
        "start_time": start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "max_results": 100,
        "tweet.fields": "author_id,created_at,referenced_tweets",
    }
    candidates: list[tuple[str, str]] = []
    url = join_url(base_url, "/2/tweets/search/recent")
    for body in _pages(
        client, url, bearer_token, params, pages=_SEARCH_PAGES, token_param="next_token", timeout=timeout
    ):
        for tweet in body.get("data") or []:
            replied_to = {r.get("id") for r in tweet.get("referenced_tweets") or [] if r.get("type") == "replied_to"}
            if str(in_reply_to_id) not in replied_to:
                continue
            if author_id and str(tweet.get("author_id") or "") != author_id:
                continue
            candidates.append((str(tweet["id"]), tweet.get("text") or ""))
    return pick_reply(candidates, text, author_known=bool(author_id))


def whoami(
    client: httpx.Client, base_url: str, bearer_token: str, *, timeout: httpx.Timeout | float | None = None
) -> Identity:
    """GET /2/users/me: the user the token acts as (a user-context token, as replying needs)."""
    response = request(
        client,
        "GET",
        join_url(base_url, "/2/users/me"),
        headers={"Authorization": f"Bearer {bearer_token}"},
        timeout=timeout,
    )
    raise_for_platform_status(response)
    user = (response_json(response) or {}).get("data") or {}
    if not user.get("id"):
        raise PermanentSendError(f"no user in answer: {response.text[:300]}", response.status_code)
    return Identity(account_id=str(user["id"]), name="@" + str(user.get("username") or user["id"]))


# --------------------------------------------------------------------------------------------
# The public notice: a post on the brand's timeline (POST /2/tweets without a reply), looked up
# in doubt on the user's own timeline (GET /2/users/:id/tweets), removed on rollback (DELETE
# /2/tweets/:id). Shapes: docs.x.com, "Manage Posts" and "User Posts timeline".
# --------------------------------------------------------------------------------------------


def post_tweet(
    client: httpx.Client, base_url: str, bearer_token: str, text: str, *, timeout: httpx.Timeout | float | None = None
) -> str:
    """POST /2/tweets, a post of its own (no reply object): the new post's id."""
    return _create_tweet(client, base_url, bearer_token, {"text": text}, timeout=timeout).platform_id


_TIMELINE_PAGES = 5


def find_own_post(
    client: httpx.Client,
    base_url: str,
    bearer_token: str,
    user_id: str,
    text: str,
    since: datetime,
    *,
    timeout: httpx.Timeout | float | None = None,
) -> str | None:
    """The id of the brand's own post (not a reply) with this text posted since `since`, or
    None: GET /2/users/:id/tweets (newest first, replies and reposts excluded)."""
    params: dict[str, Any] = {
        "start_time": since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "max_results": 100,
        "exclude": "replies,retweets",
        "tweet.fields": "created_at",
    }
    candidates: list[tuple[str, str]] = []
    url = join_url(base_url, f"/2/users/{user_id}/tweets")
    for body in _pages(
        client, url, bearer_token, params, pages=_TIMELINE_PAGES, token_param="pagination_token", timeout=timeout
    ):
        candidates += [(str(t["id"]), t.get("text") or "") for t in body.get("data") or []]
    # The brand may post other things meanwhile: the text decides.
    return pick_reply(candidates, text, author_known=False)


def delete_tweet(
    client: httpx.Client,
    base_url: str,
    bearer_token: str,
    tweet_id: str,
    *,
    timeout: httpx.Timeout | float | None = None,
) -> None:
    """DELETE /2/tweets/:id; a post already gone (404) is what was wanted."""
    response = request(
        client,
        "DELETE",
        join_url(base_url, f"/2/tweets/{tweet_id}"),
        headers={"Authorization": f"Bearer {bearer_token}"},
        timeout=timeout,
    )
    if response.status_code == 404:
        return
    raise_for_platform_status(response)


class XPlatform(Platform):
    kind = "x"
    default_base_url = "https://api.x.com"
    length_unit = "weighted characters"
    webhook_methods = ("GET", "POST")

    def answer_challenge(self, secret: str, query: Mapping[str, str]) -> WebhookAnswer:
        # The CRC check: X repeats it hourly and stops delivering to a URL that fails it, so it
        # is answered whatever the channel's state.
        crc_token = query.get("crc_token", "")
        if not crc_token:
            raise BadDelivery("Missing crc_token.")
        if not CRC_TOKEN.fullmatch(crc_token):
            raise BadDelivery("The crc_token is not one X sends (up to 128 letters, digits and _=+/.-).")
        return WebhookAnswer(json={"response_token": crc_response(secret, crc_token)})

    def verify_webhook(self, secret: str, request: WebhookRequest) -> None:
        verify_signature(secret, request.body, request.headers.get(SIGNATURE_HEADER))

    def parse_webhook(self, request: WebhookRequest) -> list[Event]:
        payload = request.json_object()
        for_user = str(payload.get("for_user_id") or "")
        if request.account_id and for_user and for_user != request.account_id:
            raise BadDelivery(
                f"This delivery is for account {for_user}; {request.channel_name} is account {request.account_id}."
            )
        return parse_events(payload)

    def message_meta(self, message: InboundMessage) -> dict[str, Any]:
        return {"dm": True} if (message.raw or {}).get("dm") else {}

    def length_rule(self, thread_id: str) -> str:
        return "x_dm" if is_dm_thread(thread_id) else "x"

    def reply_target(self, context: ReplyContext) -> ReplyTarget:
        if context.meta.get("dm") or is_dm_thread(context.thread_id):
            # A direct message is answered by direct message, to its sender, within DM limits.
            person = context.author_id or context.customer_id
            if not person.isdigit():
                raise ValueError(f"no X user to send a direct message to in conversation {context.reference}")
            return ReplyTarget(thread_id=context.thread_id, recipient_id=person, length_rule="x_dm")
        tweet = context.reply_to or context.thread_id
        if not str(tweet).isdigit():
            raise ValueError(f"no tweet to reply to in conversation {context.reference}")
        return ReplyTarget(parent_id=str(tweet))

    def send_reply(
        self, client: httpx.Client, account: Account, target: ReplyTarget, text: str, *, timeout: Timeout = None
    ) -> SendResult:
        if target.recipient_id:
            return send_direct_message(
                client, account.base_url, account.token, target.recipient_id, text, timeout=timeout
            )
        return send_reply(client, account.base_url, account.token, text, target.parent_id or "", timeout=timeout)

    def whoami(self, client: httpx.Client, account: Account, *, timeout: Timeout = None) -> Identity:
        return whoami(client, account.base_url, account.token, timeout=timeout)

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
        if target.recipient_id:
            return find_direct_message(
                client,
                account.base_url,
                account.token,
                target.recipient_id,
                text,
                since,
                author_id=account.account_id,
                timeout=timeout,
            )
        return find_reply(
            client,
            account.base_url,
            account.token,
            target.parent_id or "",
            text,
            since,
            author_id=account.account_id,
            timeout=timeout,
        )

    public_actions = {"post": "post the announcement on the brand's timeline"}

    def read_public_state(
        self, client: httpx.Client, account: Account, change: PublicChange, *, timeout: Timeout = None
    ) -> dict[str, Any]:
        self.check_public_action(change)
        return {}  # a new post replaces nothing: rollback deletes it

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
        return Published(post_tweet(client, account.base_url, account.token, change.text, timeout=timeout))

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
        user_id = account.account_id or self.whoami(client, account, timeout=timeout).account_id
        since = change.since or datetime.now(UTC) - _SEARCH_WINDOW
        return find_own_post(client, account.base_url, account.token, user_id, change.text, since, timeout=timeout)

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
        if platform_id:
            delete_tweet(client, account.base_url, account.token, platform_id, timeout=timeout)


PLATFORM = XPlatform()
