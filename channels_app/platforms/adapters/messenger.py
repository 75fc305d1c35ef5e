"""Facebook Messenger (Meta Graph API): page webhooks in, Send API out."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx

from channels_app.platforms.adapters.base import (
    Account,
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
    SignatureError,
    Timeout,
    WebhookAnswer,
    WebhookRequest,
    check_signature,
    error_text,
    join_url,
    parse_retry_after,
    pick_reply,
    request,
    response_json,
    sha256_hex_signature,
    utc_from_iso,
    utc_from_timestamp_ms,
)

SIGNATURE_HEADER = "X-Hub-Signature-256"
DEFAULT_API_VERSION = "v19.0"
# Graph error codes that mean "later" (throttling, temporary problems), not "never".
_RETRYABLE_CODES = {1, 2, 4, 17, 32, 341, 613}


def verify_subscription(params: Mapping[str, str], verify_token: str) -> str:
    """The hub.challenge to echo back for Meta's subscription GET; SignatureError otherwise."""
    if params.get("hub.mode") != "subscribe":
        raise SignatureError("hub.mode is not subscribe")
    given = params.get("hub.verify_token") or ""
    if not hmac.compare_digest(given.encode(), verify_token.encode()):
        raise SignatureError("bad verify token")
    challenge = params.get("hub.challenge")
    if not challenge:
        raise SignatureError("missing hub.challenge")
    return challenge


def verify_signature(app_secret: str, raw_body: bytes, header_value: str | None) -> None:
    check_signature(sha256_hex_signature(app_secret, raw_body), header_value)


def is_customer(event: dict[str, Any], page_id: str = "") -> bool:
    """Who counts as a customer on Messenger: the person behind a message (text, attachment or
    quick reply) or a postback (a "Get Started" or menu button pressed), never the page itself:
    its echoes (is_echo) and anything the page sent are not contact, nor are deliveries, reads
    and reactions, which carry no message."""
    if page_id and str((event.get("sender") or {}).get("id") or "") == page_id:
        return False
    message = event.get("message")
    if message is not None:
        return not message.get("is_echo")
    return event.get("postback") is not None


def _parse_messaging(event: dict[str, Any], page_id: str = "") -> InboundMessage | None:
    if not is_customer(event, page_id):
        return None
    sender = str((event.get("sender") or {}).get("id") or "")
    message = event.get("message")
    if message is None:
        # A postback: the button's title is what the person "said"; a postback's mid is recent
        # (older ones have none), so the person and instant name it otherwise.
        postback = event["postback"]
        message = {
            "mid": postback.get("mid") or f"postback:{sender}:{event['timestamp']}",
            "text": postback.get("title") or "",
        }
    reply_to = (message.get("reply_to") or {}).get("mid")
    return InboundMessage(
        platform_message_id=message["mid"],
        thread_id=sender,  # one conversation per person and page
        customer_id=sender,
        customer_handle=sender,  # a page-scoped id; names need a Graph lookup
        customer_name="",
        # Attachment-only messages have no text but still deserve the auto-reply.
        text=message.get("text") or "",
        lang=None,
        created_at=utc_from_timestamp_ms(event["timestamp"]),
        in_reply_to=reply_to,
        raw=event,
    )


def parse_events(payload: dict[str, Any], page_id: str = "") -> list[Event]:
    """The customers' messages and postbacks of a page delivery (`messaging`); `standby` events
    (another app holds the thread under the handover protocol) are that app's to answer."""
    if payload.get("object") not in (None, "page"):
        return []
    messages: list[Event] = []
    for entry in payload.get("entry") or []:
        for event in entry.get("messaging") or []:
            parsed = _parse_messaging(event, page_id)
            if parsed is not None:
                messages.append(parsed)
    return messages


def _raise_for_graph_error(response: httpx.Response) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    error = (response_json(response) or {}).get("error") or {}
    retry_after = parse_retry_after(response.headers)
    if status == 429 or status >= 500 or error.get("code") in _RETRYABLE_CODES or error.get("is_transient"):
        raise RetryableSendError(retry_after, error_text(response), status, in_doubt=status >= 500)
    raise PermanentSendError(error_text(response), status)


def send_reply(
    client: httpx.Client,
    base_url: str,
    page_access_token: str,
    recipient_id: str,
    text: str,
    *,
    api_version: str = DEFAULT_API_VERSION,
    timeout: httpx.Timeout | float | None = None,
) -> SendResult:
    response = request(
        client,
        "POST",
        join_url(base_url, f"/{api_version}/me/messages"),
        params={"access_token": page_access_token},
        json={
            "recipient": {"id": str(recipient_id)},
            "messaging_type": "RESPONSE",
            "message": {"text": text},
        },
        timeout=timeout,
    )
    _raise_for_graph_error(response)
    message_id = (response_json(response) or {}).get("message_id")
    if not message_id:
        raise PermanentSendError(f"no message_id in the answer ({error_text(response)})", response.status_code)
    return SendResult(platform_id=str(message_id), status_code=response.status_code)


def find_reply(
    client: httpx.Client,
    base_url: str,
    page_access_token: str,
    recipient_id: str,
    text: str,
    since: datetime,
    *,
    page_id: str = "",
    api_version: str = DEFAULT_API_VERSION,
    timeout: httpx.Timeout | float | None = None,
) -> str | None:
    """The id of our message to this person sent since `since`, or None (Conversations API:
    the page's conversation with the person and its latest messages). Raises SendError when
    the Graph API cannot say."""
    response = request(
        client,
        "GET",
        join_url(base_url, f"/{api_version}/me/conversations"),
        params={
            "platform": "messenger",
            "user_id": str(recipient_id),
            "fields": "messages.limit(100){message,from,created_time}",
            "access_token": page_access_token,
        },
        timeout=timeout,
    )
    _raise_for_graph_error(response)
    candidates: list[tuple[str, str]] = []
    for conversation in (response_json(response) or {}).get("data") or []:
        for message in (conversation.get("messages") or {}).get("data") or []:
            sender = str((message.get("from") or {}).get("id") or "")
            if (page_id and sender != page_id) or sender == str(recipient_id):
                continue
            if not message.get("created_time") or utc_from_iso(message["created_time"]) < since:
                continue
            candidates.append((str(message["id"]), message.get("message") or ""))
    # Several of our messages may match the author and time (a person can get an auto-reply
    # and a hand-off notice): the text decides.
    return pick_reply(candidates, text, author_known=False)


def whoami(
    client: httpx.Client,
    base_url: str,
    page_access_token: str,
    *,
    api_version: str = DEFAULT_API_VERSION,
    timeout: httpx.Timeout | float | None = None,
) -> Identity:
    """GET /{version}/me?fields=id,name: with a page access token, "me" is the page."""
    response = request(
        client,
        "GET",
        join_url(base_url, f"/{api_version}/me"),
        params={"fields": "id,name", "access_token": page_access_token},
        timeout=timeout,
    )
    _raise_for_graph_error(response)
    page = response_json(response) or {}
    if not page.get("id"):
        raise PermanentSendError(f"no page in answer: {response.text[:300]}", response.status_code)
    return Identity(account_id=str(page["id"]), name=str(page.get("name") or page["id"]))


# --------------------------------------------------------------------------------------------
# The public notice: the page's Messenger greeting per locale and its ice breakers, through the
# Messenger Profile API (developers.facebook.com/docs/messenger-platform/reference/
# messenger-profile-api, and its greeting and ice-breakers references): GET
# /me/messenger_profile?fields=greeting,ice_breakers answers {"data": [{...}]}; POST sets the
# properties given, leaving the others; DELETE with {"fields": [...]} removes properties. A
# greeting is 160 characters at most per locale and needs a "default" locale; ice breakers are
# at most 4 questions per locale ({"call_to_actions": [{"question", "payload"}], "locale"}).
# The API allows 10 calls per 10 minutes per page.
# --------------------------------------------------------------------------------------------

PROFILE_FIELDS = ("greeting", "ice_breakers")
GREETING_LIMIT = 160
ICE_BREAKERS_LIMIT = 4

# Meta's locale codes for the languages Dusk writes in (Messenger Platform "supported
# locales"); a language not listed here is published as the default greeting only.
MESSENGER_LOCALES = {
    "ar": "ar_AR",
    "de": "de_DE",
    "en": "en_US",
    "es": "es_ES",
    "fr": "fr_FR",
    "id": "id_ID",
    "it": "it_IT",
    "ja": "ja_JP",
    "ko": "ko_KR",
    "nl": "nl_NL",
    "pl": "pl_PL",
    "pt": "pt_BR",
    "ru": "ru_RU",
    "sv": "sv_SE",
    "th": "th_TH",
    "tr": "tr_TR",
    "vi": "vi_VN",
    "zh": "zh_CN",
}


def messenger_locale(language: str) -> str | None:
    """Meta's locale code for a language code ("fr", "pt-BR"), None when Meta has none."""
    language = (language or "").replace("-", "_")
    if len(language) == 5 and language[2] == "_":
        return language[:2].lower() + "_" + language[3:].upper()
    return MESSENGER_LOCALES.get(language.lower())


def _profile_url(base_url: str, api_version: str) -> str:
    return join_url(base_url, f"/{api_version}/me/messenger_profile")


def read_profile(
    client: httpx.Client,
    base_url: str,
    page_access_token: str,
    *,
    api_version: str = DEFAULT_API_VERSION,
    timeout: httpx.Timeout | float | None = None,
) -> dict[str, Any]:
    """{"greeting": [...] or None, "ice_breakers": [...] or None}: None where the page has none."""
    response = request(
        client,
        "GET",
        _profile_url(base_url, api_version),
        params={"fields": ",".join(PROFILE_FIELDS), "access_token": page_access_token},
        timeout=timeout,
    )
    _raise_for_graph_error(response)
    data = (response_json(response) or {}).get("data") or [{}]
    profile = data[0] if data and isinstance(data[0], dict) else {}
    return {name: profile.get(name) for name in PROFILE_FIELDS}


def set_profile(
    client: httpx.Client,
    base_url: str,
    page_access_token: str,
    properties: Mapping[str, Any],
    *,
    api_version: str = DEFAULT_API_VERSION,
    timeout: httpx.Timeout | float | None = None,
) -> None:
    response = request(
        client,
        "POST",
        _profile_url(base_url, api_version),
        params={"access_token": page_access_token},
        json=dict(properties),
        timeout=timeout,
    )
    _raise_for_graph_error(response)
    if (response_json(response) or {}).get("result") != "success":
        raise PermanentSendError(f"the profile was not set ({error_text(response)})", response.status_code)


def delete_profile_fields(
    client: httpx.Client,
    base_url: str,
    page_access_token: str,
    fields: list[str],
    *,
    api_version: str = DEFAULT_API_VERSION,
    timeout: httpx.Timeout | float | None = None,
) -> None:
    response = request(
        client,
        "DELETE",
        _profile_url(base_url, api_version),
        params={"access_token": page_access_token},
        json={"fields": fields},
        timeout=timeout,
    )
    _raise_for_graph_error(response)


def greeting_profile(change: PublicChange) -> dict[str, Any]:
    """The profile properties a greeting change sets: the greeting per locale ("default"
    first) and, when the change has links, the ice breakers in the default locale."""
    if not change.texts.get("default"):
        raise PermanentSendError("a Messenger greeting needs a text for the default locale")
    for locale, text in change.texts.items():
        if not text or len(text) > GREETING_LIMIT:
            raise PermanentSendError(f"the greeting for {locale} is {len(text)} characters (1 to {GREETING_LIMIT})")
    greeting = [{"locale": locale, "text": text} for locale, text in change.texts.items()]
    properties: dict[str, Any] = {"greeting": greeting}
    if change.links:
        actions = [{"question": q, "payload": p} for q, p in change.links[:ICE_BREAKERS_LIMIT]]
        properties["ice_breakers"] = [{"call_to_actions": actions, "locale": "default"}]
    return properties


def _same_greeting(now: Any, wanted: list[dict[str, Any]]) -> bool:
    def as_map(items: Any) -> dict[str, str]:
        return {str(i.get("locale")): str(i.get("text")) for i in items or [] if isinstance(i, dict)}

    return as_map(now) == as_map(wanted)


class MessengerPlatform(Platform):
    kind = "messenger"
    default_base_url = "https://graph.facebook.com"
    webhook_methods = ("GET", "POST")
    challenge_secret_suffix = "_VERIFY_TOKEN"  # Meta's verify token is not the app secret

    def answer_challenge(self, secret: str, query: Mapping[str, str]) -> WebhookAnswer:
        return WebhookAnswer(text=verify_subscription(query, secret))

    def verify_webhook(self, secret: str, request: WebhookRequest) -> None:
        verify_signature(secret, request.body, request.headers.get(SIGNATURE_HEADER))

    def parse_webhook(self, request: WebhookRequest) -> list[Event]:
        return parse_events(request.json_object(), request.account_id)

    def reply_target(self, context: ReplyContext) -> ReplyTarget:
        return ReplyTarget(recipient_id=context.author_id or context.customer_id)

    def send_reply(
        self, client: httpx.Client, account: Account, target: ReplyTarget, text: str, *, timeout: Timeout = None
    ) -> SendResult:
        return send_reply(client, account.base_url, account.token, target.recipient_id, text, timeout=timeout)

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
        return find_reply(
            client,
            account.base_url,
            account.token,
            target.recipient_id,
            text,
            since,
            page_id=account.account_id,
            timeout=timeout,
        )

    public_actions = {"greeting": "set the greeting per locale and the ice breakers of the page's Messenger"}

    def read_public_state(
        self, client: httpx.Client, account: Account, change: PublicChange, *, timeout: Timeout = None
    ) -> dict[str, Any]:
        self.check_public_action(change)
        return read_profile(client, account.base_url, account.token, timeout=timeout)

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
        set_profile(client, account.base_url, account.token, greeting_profile(change), timeout=timeout)
        return Published(account.account_id or "messenger_profile")

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
        wanted = greeting_profile(change)
        now = read_profile(client, account.base_url, account.token, timeout=timeout)
        done = _same_greeting(now["greeting"], wanted["greeting"]) and (
            "ice_breakers" not in wanted or now["ice_breakers"] == wanted["ice_breakers"]
        )
        return (account.account_id or "messenger_profile") if done else None

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
        touched = list(greeting_profile(change))
        put_back = {name: before[name] for name in touched if before.get(name)}
        absent = [name for name in touched if not before.get(name)]
        if put_back:
            set_profile(client, account.base_url, account.token, put_back, timeout=timeout)
        if absent:
            delete_profile_fields(client, account.base_url, account.token, absent, timeout=timeout)


PLATFORM = MessengerPlatform()
