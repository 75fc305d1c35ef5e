"""Shaped reads for inbound messages and replies. Nothing here writes."""

import re
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Case, CharField, Count, F, Min, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import translation
from django.utils.translation import gettext, gettext_lazy, ngettext

from channels_app.core import mailbox as mailbox_url
from channels_app.core import textrules
from channels_app.models import (
    Channel,
    ChannelKind,
    Direction,
    Message,
    OutboxMessage,
    OutboxState,
    PhaseKind,
    Publication,
    PublicationState,
    PublicNotice,
    SunsetPlan,
)
from channels_app.plans.selectors import placeholder_values
from channels_app.platforms.adapters import messenger, x
from channels_app.platforms.adapters.registry import PLATFORMS

# The columns of a message log row, in both halves of the UNION.
LOG_COLUMNS = (
    "at",
    "log_direction",
    "log_kind",
    "item_id",
    "customer",
    "reference",
    "body",
    "log_state",
    "detail",
    "platform_id",
    "via",
)


# What a webhook needs of its channel, in the model's field order (Model.from_db expects it);
# the rest stays deferred, loaded if touched. The channel's state is not among them: the
# storing statement reads it itself, so it is never stale.
WEBHOOK_CHANNEL_FIELDS = tuple(
    f.attname
    for f in Channel._meta.concrete_fields
    if f.attname in ("id", "kind", "name", "webhook_secret_env", "platform_account_id")
)
_webhook_channels: dict[tuple[int, str], tuple[float, Channel]] = {}


def webhook_channel(channel_id: int, kind: str) -> Channel | None:
    """The channel a webhook delivery is for, or None.

    Every delivery asks, so the answer is kept per process for DUSK_WEBHOOK_CHANNEL_TTL
    seconds (saving a channel in this process forgets it at once; other processes see a
    renamed secret variable within the TTL). On a miss: one plain SELECT of the columns a
    webhook uses; compiling the ORM query cost more CPU than the lookup itself.
    """
    key = (channel_id, kind)
    now = time.monotonic()
    cached = _webhook_channels.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    table = connection.ops.quote_name(Channel._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(name) for name in WEBHOOK_CHANNEL_FIELDS)
    with connection.cursor() as cur:
        cur.execute(f"SELECT {columns} FROM {table} WHERE id = %s AND kind = %s", [channel_id, kind])
        row = cur.fetchone()
    if row is None:
        return None  # unknown ids are not remembered: the cache cannot be filled from outside
    channel = Channel.from_db(connection.alias, WEBHOOK_CHANNEL_FIELDS, row)
    if len(_webhook_channels) >= 10_000:
        _webhook_channels.clear()
    _webhook_channels[key] = (now + settings.DUSK_WEBHOOK_CHANNEL_TTL, channel)
    return channel


@receiver([post_save, post_delete], sender=Channel)
def _forget_webhook_channel(sender, instance: Channel, **kwargs) -> None:
    for key in [key for key in _webhook_channels if key[0] == instance.pk]:
        _webhook_channels.pop(key, None)


def youtube_channels_to_poll() -> list[int]:
    """YouTube channels with credentials. The poller reads them whatever their state: an active
    channel's comments are kept for the log; replies only start past notice."""
    return list(
        Channel.objects.filter(kind=ChannelKind.YOUTUBE)
        .exclude(api_token_env="")
        .exclude(platform_account_id="")
        .order_by("id")
        .values_list("id", flat=True)
    )


def email_channels_to_poll() -> list[int]:
    """Email channels with an IMAP mailbox and its password variable named, whatever their
    state, as YouTube channels: mail on an active channel is kept for the log."""
    return list(
        Channel.objects.filter(kind=ChannelKind.EMAIL)
        # Schemes in any case, as mailbox_url.is_mailbox_url (and Channel.clean) accept them.
        .filter(Q(*(Q(api_base_url__istartswith=f"{scheme}://") for scheme in mailbox_url.SCHEMES), _connector=Q.OR))
        .exclude(api_token_env="")
        .order_by("id")
        .values_list("id", flat=True)
    )


def _text(value: str) -> Value:
    return Value(value, output_field=CharField())


def reply_length_rule(kind: str, thread_id: str) -> str:
    """The textrules length rule a reply in a conversation must fit ("x_dm" for an X DM)."""
    platform = PLATFORMS.get(kind)
    return platform.length_rule(thread_id) if platform is not None else kind


def _via(channel: Channel):
    """How a log row's conversation reaches the customer: "direct_message" for X DMs, else ""."""
    if channel.kind == ChannelKind.X:
        return Case(
            When(conversation__platform_thread_id__regex=x.DM_THREAD_PATTERN, then=_text("direct_message")),
            default=_text(""),
            output_field=CharField(),
        )
    return _text("")


def channel_message_log(channel: Channel, *, state: str = "", direction: str = "") -> QuerySet:
    """A channel's inbound messages and outbox rows (auto-replies, hand-off notices) newest
    first, as one UNION of dicts: a page costs one query and the paginator's count one more.

    state: "received" (inbound only) or an OutboxState value (outbound only); direction: in/out.
    """
    inbound = (
        Message.objects.filter(channel=channel, direction=Direction.INBOUND)
        .annotate(
            at=F("created_at"),
            log_direction=_text("in"),
            log_kind=_text("message"),
            item_id=F("id"),
            customer=F("conversation__customer_handle"),
            reference=F("conversation__reference"),
            body=F("text"),
            log_state=_text("received"),
            detail=F("lang"),
            platform_id=F("platform_message_id"),
            via=_via(channel),
        )
        .values(*LOG_COLUMNS)
    )
    outbound = (
        OutboxMessage.objects.filter(channel=channel)
        .annotate(
            at=Coalesce("sent_at", "created_at"),
            log_direction=_text("out"),
            log_kind=F("kind"),
            item_id=F("id"),
            customer=F("conversation__customer_handle"),
            reference=F("conversation__reference"),
            body=F("rendered_text"),
            log_state=F("state"),
            detail=F("last_error"),
            platform_id=F("platform_response_id"),
            via=_via(channel),
        )
        .values(*LOG_COLUMNS)
    )
    if direction == "in" or state == "received":
        outbound = outbound.none()
    elif state:
        outbound = outbound.filter(state=state)
    if direction == "out" or (state and state != "received"):
        inbound = inbound.none()
    # The halves drop their models' default ordering: SQLite refuses ORDER BY inside a UNION.
    return inbound.order_by().union(outbound.order_by(), all=True).order_by("-at", "-log_direction", "-item_id")


# --- why a reply was skipped or failed, in the reader's language ---------------------------------
#
# The outbox records its reasons as English sentences (workers run in no one's language, and the
# rows are read by operators and logs too). Pages show them through reason_text, which knows each
# sentence the outbox writes and says it again in the reader's language; what it does not know (a
# platform's own words) is shown as it came.


def _channel_kind(label: str) -> str:
    with translation.override("en"):
        english = {str(choice.label): choice for choice in ChannelKind}
    kind = english.get(label)
    return str(kind.label) if kind is not None else label


def _phase_kind(words: str) -> str:
    key = words.replace(" ", "_")
    return str(PhaseKind(key).label).lower() if key in PhaseKind.values else words


def _platform_refusal(match: re.Match) -> str:
    status = int(match["status"])
    detail = match["detail"] or match["code"] or match["phrase"] or ""
    facts = {"status": status, "detail": detail.strip()}
    if status == 401:  # not 403: X answers 403 to a duplicate reply, with valid credentials
        return gettext("The platform did not accept the credentials (HTTP %(status)s): %(detail)s") % facts
    if status == 429:
        return gettext("The platform asked to slow down (HTTP %(status)s): %(detail)s") % facts
    if status >= 500:
        return gettext("The platform had an error (HTTP %(status)s): %(detail)s") % facts
    return gettext("The platform refused it (HTTP %(status)s): %(detail)s") % facts


_REASONS: list[tuple[re.Pattern, object]] = [
    (
        re.compile(r"loop guard: the message is one of ours"),
        lambda m: gettext("Not answered: the message is one of ours (loop guard)."),
    ),
    (
        re.compile(r"loop guard: the message comes from the channel's own account"),
        lambda m: gettext("Not answered: the message comes from the channel's own account (loop guard)."),
    ),
    (
        re.compile(r"loop guard: the message comes from the channel's own address"),
        lambda m: gettext("Not answered: the message comes from the channel's own address (loop guard)."),
    ),
    (
        re.compile(r"loop guard: sent by a machine \((?P<what>.*)\)"),
        lambda m: gettext("Not answered: the message was sent by a machine (%(what)s).") % {"what": m["what"]},
    ),
    (
        re.compile(r"deleted: (?P<why>.*) before the reply was sent"),
        lambda m: (
            gettext("Not answered: the message was deleted (%(why)s) before the reply was sent.") % {"why": m["why"]}
        ),
    ),
    (
        re.compile(r"Dusk cannot send on (?P<kind>.+) channels"),
        lambda m: gettext("Dusk cannot send on %(kind)s channels.") % {"kind": _channel_kind(m["kind"])},
    ),
    (
        re.compile(r"no sunset plan covers this channel: nothing to say"),
        lambda m: gettext("No sunset plan covers this channel: there is nothing to say."),
    ),
    (
        re.compile(r"the plan has no (?P<phase>.+) auto-reply"),
        lambda m: gettext("The plan has no %(phase)s auto-reply.") % {"phase": _phase_kind(m["phase"])},
    ),
    (
        re.compile(r"cooldown: reply #(?P<other>\d+) to the same customer goes out in this batch"),
        lambda m: (
            gettext("Cooldown: reply #%(other)s to the same customer goes out in the same batch.")
            % {"other": m["other"]}
        ),
    ),
    (
        re.compile(r"cooldown: this customer was answered on this channel in the last (?P<s>[\d.]+) s"),
        lambda m: (
            gettext("Cooldown: this customer was answered on this channel in the last %(seconds)s s.")
            % {"seconds": m["s"]}
        ),
    ),
    (
        re.compile(r"gave up after (?P<n>\d+) attempts: (?P<error>.*)", re.S),
        lambda m: (
            ngettext("Gave up after %(n)s attempt: %(error)s", "Gave up after %(n)s attempts: %(error)s", int(m["n"]))
            % {"n": m["n"], "error": reason_text(m["error"])}
        ),
    ),
    (
        re.compile(r"attempt (?P<n>\d+) failed, retrying in (?P<s>\d+) s: (?P<error>.*)", re.S),
        lambda m: (
            gettext("Attempt %(n)s failed, retrying in %(seconds)s s: %(error)s")
            % {"n": m["n"], "seconds": m["s"], "error": reason_text(m["error"])}
        ),
    ),
    (
        re.compile(r"not attempted: too little of the claim was left"),
        lambda m: gettext("Not attempted yet: the worker's turn ended; it goes out shortly."),
    ),
    (
        re.compile(r"sent by an earlier attempt \(found on the platform\)"),
        lambda m: gettext("Sent by an earlier attempt (found on the platform)."),
    ),
    (
        re.compile(r"no API token for (?P<channel>.+): environment variable (?P<variable>\S+) is not set"),
        lambda m: (
            gettext("No API token for %(channel)s: the environment variable %(variable)s is not set.")
            % {"channel": m["channel"], "variable": m["variable"]}
        ),
    ),
    (
        re.compile(r"no API token for (?P<channel>.+): none named"),
        lambda m: gettext("No API token for %(channel)s: no variable is named.") % {"channel": m["channel"]},
    ),
    (
        re.compile(r"set (?P<what>.+) \(API base URL\) of (?P<channel>.+)"),
        lambda m: gettext("Set %(what)s (API base URL) of %(channel)s.") % {"what": m["what"], "channel": m["channel"]},
    ),
    (
        re.compile(r"timeout: .*", re.S),
        lambda m: gettext("The platform did not answer in time."),
    ),
    (
        re.compile(r"transport error: .*", re.S),
        lambda m: gettext("The platform could not be reached."),
    ),
    (
        re.compile(
            r"HTTP (?P<status>\d{3})(?: (?P<phrase>[^:(]*?))?(?: \((?P<code>[^)]*)\))?(?:: (?P<detail>.*))?", re.S
        ),
        _platform_refusal,
    ),
]


def reason_text(stored: str) -> str:
    """Why an outbox row was skipped or failed (its `last_error`), in the active language."""
    stored = (stored or "").strip()
    for pattern, words in _REASONS:
        match = pattern.fullmatch(stored)
        if match is not None:
            return words(match)
    return stored


# --- figures for /metrics ----------------------------------------------------------------


def reply_backlog() -> list[dict]:
    """Replies waiting to go out (pending or being sent), per channel: how many and since when.
    One grouped query over the pending and sending rows (their partial indexes)."""
    rows = (
        OutboxMessage.objects.filter(state__in=[OutboxState.PENDING, OutboxState.SENDING])
        .values("channel_id", "channel__name", "channel__kind")
        .annotate(size=Count("id"), oldest=Min("created_at"))
        .order_by("channel_id")
    )
    return [
        {
            "channel_id": row["channel_id"],
            "channel": row["channel__name"],
            "platform": row["channel__kind"],
            "size": row["size"],
            "oldest": row["oldest"],
        }
        for row in rows
    ]


def publications() -> list[dict]:
    """Replies the outbox finished with, by platform, kind and outcome (sent, failed, skipped)."""
    rows = (
        OutboxMessage.objects.filter(state__in=[OutboxState.SENT, OutboxState.FAILED, OutboxState.SKIPPED])
        .values("channel__kind", "kind", "state")
        .annotate(n=Count("id"))
        .order_by("channel__kind", "kind", "state")
    )
    return [{"platform": r["channel__kind"], "kind": r["kind"], "state": r["state"], "count": r["n"]} for r in rows]


# --- the public notice ------------------------------------------------------------------------

# Which public changes each phase makes, by platform, in the order they are made. Soft close
# changes nothing public; the archive phase only unpins the forum topic.
PUBLIC_CHANGES = {
    PhaseKind.NOTICE: {
        "x": ("post",),
        "discourse": ("announce",),
        "messenger": ("greeting",),
        "youtube": ("description", "localizations"),
    },
    PhaseKind.HARD_CLOSE: {
        "x": ("post",),
        "discourse": ("update_topic", "read_only"),
        "messenger": ("greeting",),
        "youtube": ("description", "localizations"),
    },
    PhaseKind.ARCHIVE: {"discourse": ("unpin",)},
}
# Changes made to the announcement topic: known once the notice published it (until then the
# dry run lists them without a target, and a run without the topic has nothing to change).
TOPIC_ACTIONS = frozenset({"update_topic", "unpin"})
ICE_BREAKER_PAYLOAD = "DUSK_REDIRECT_{position}"
# What each change is, as the dry run and the run page say it.
PUBLIC_ACTION_LABELS = {
    "post": gettext_lazy("Post on the brand's timeline"),
    "announce": gettext_lazy("Announcement topic, pinned globally"),
    "read_only": gettext_lazy("Category read-only for everyone but staff"),
    "update_topic": gettext_lazy("Announcement topic says the support has moved"),
    "unpin": gettext_lazy("Announcement topic unpinned"),
    "greeting": gettext_lazy("Messenger greeting per locale and ice breakers"),
    "description": gettext_lazy("Channel description"),
    "localizations": gettext_lazy("Channel description in the other languages"),
}
# Locales' texts in one forum post (the announcement topic) are separated by a rule.
FORUM_LOCALE_SEPARATOR = "\n\n---\n\n"


@dataclass(frozen=True)
class PlannedChange:
    """One public change a phase will make on one channel (the dry run lists them; the cutover
    writes one Publication each). `problem` says why it cannot be made, "" when it can."""

    channel_id: int
    channel_name: str
    kind: str
    action: str
    target: str
    change: dict[str, Any]
    summary: str
    problem: str = ""


# Meta's own template strings in a Messenger greeting stay as written ("{{" is an escaped brace
# to our placeholders).
MESSENGER_TEMPLATE_STRINGS = ("{{user_first_name}}", "{{user_last_name}}", "{{user_full_name}}")


def _notice_texts(plan: SunsetPlan, notices: list[PublicNotice], field: str) -> dict[str, str]:
    """A notice field per locale, placeholders filled in that locale, the plan's default first."""
    ordered = sorted(notices, key=lambda n: (n.locale != plan.default_locale, n.locale))
    texts = {}
    for notice in ordered:
        template = getattr(notice, field)
        for token in MESSENGER_TEMPLATE_STRINGS:
            template = template.replace(token, token.replace("{", "{{").replace("}", "}}"))
        if template.strip():
            texts[notice.locale] = textrules.render(template, placeholder_values(plan, locale=notice.locale)).strip()
    return texts


def _messenger_greeting(texts: dict[str, str]) -> dict[str, str]:
    if not texts:
        return {}
    greeting = {"default": next(iter(texts.values()))}
    for locale, text in texts.items():
        meta = messenger.messenger_locale(locale)
        if meta and meta not in greeting:
            greeting[meta] = text
    return greeting


def _announcement_topic(plan: SunsetPlan, channel: Channel) -> str:
    found = (
        Publication.objects.filter(run__plan=plan, channel=channel, action="announce", state=PublicationState.PUBLISHED)
        .order_by("-id")
        .values_list("platform_id", flat=True)
        .first()
    )
    return found or ""


def planned_public_changes(plan: SunsetPlan, phase_kind: str, channels: list[Channel]) -> list[PlannedChange]:
    """The public changes `phase_kind` of `plan` makes on `channels`, in the order they are made;
    [] when the plan has no public notice. Every locale of the notice is published: one X post
    each (a text the same as an earlier locale's is posted once), the forum topic with every
    locale's body, the Messenger greeting per Meta locale, the YouTube description in the plan's
    default locale and the others as the channel's localizations."""
    notices = list(plan.public_notices.all())
    if not notices:
        return []
    kinds = PUBLIC_CHANGES.get(phase_kind, {})
    field = "moved_text" if phase_kind == PhaseKind.HARD_CLOSE else "text"
    texts = _notice_texts(plan, notices, field)
    changes: list[PlannedChange] = []
    for channel in sorted(channels, key=lambda c: (c.name, c.pk)):
        for action in kinds.get(channel.kind, ()):
            changes.extend(_channel_changes(plan, channel, phase_kind, action, texts, notices))
    return changes


def _channel_changes(
    plan: SunsetPlan,
    channel: Channel,
    phase_kind: str,
    action: str,
    texts: dict[str, str],
    notices: list[PublicNotice],
) -> list[PlannedChange]:
    platform = PLATFORMS[channel.kind]
    summary = str(PUBLIC_ACTION_LABELS.get(action) or platform.public_actions.get(action, action))
    settings_ = channel.notice_settings or {}
    no_text = gettext("The public notice has no text for this phase.")

    def change(target: str, value: dict[str, Any], problem: str = "") -> PlannedChange:
        return PlannedChange(
            channel_id=channel.pk,
            channel_name=channel.name,
            kind=channel.kind,
            action=action,
            target=target,
            change=value,
            summary=summary,
            problem=problem,
        )

    if action == "announce":
        bodies = _notice_texts(plan, notices, "body")
        title = next(iter(_notice_texts(plan, notices, "title").values()), "")
        category = str(settings_.get("announcement_category") or "")
        value = {"title": title, "text": FORUM_LOCALE_SEPARATOR.join(bodies.values()), "locales": list(bodies)}
        problem = "" if category else gettext("No announcement category is set for this forum.")
        if not problem and not (title and bodies):
            problem = gettext("The public notice has no forum title and body.")
        return [change(category, value, problem)]
    if action == "update_topic":
        value = {"text": FORUM_LOCALE_SEPARATOR.join(texts.values()), "locales": list(texts)}
        return [change(_announcement_topic(plan, channel), value, "" if texts else no_text)]
    if action == "read_only":
        return [change(str(category), {}) for category in settings_.get("read_only_categories") or []]
    if action == "unpin":
        return [change(_announcement_topic(plan, channel), {})] if plan.unpin_notice_at_archive else []
    if action == "greeting":
        links = [
            [target.label[:80], ICE_BREAKER_PAYLOAD.format(position=target.position)]
            for target in sorted(plan.redirects.all(), key=lambda t: t.position)[: messenger.ICE_BREAKERS_LIMIT]
        ]
        greeting = _messenger_greeting(texts)
        value = {"texts": greeting, "links": links, "locales": list(texts)}
        return [change("", value, "" if greeting else no_text)]
    if action == "post":  # one post per locale, its locale the target
        if not texts:
            return [change(plan.default_locale, {"text": ""}, no_text)]
        posted: set[str] = set()
        planned = []
        for locale, text in texts.items():
            if text not in posted:
                posted.add(text)
                planned.append(change(locale, {"text": text, "locales": [locale]}))
        return planned
    first_locale, first = next(iter(texts.items()), ("", ""))
    others = {locale: text for locale, text in texts.items() if locale != first_locale}
    if action == "localizations":  # YouTube: the other locales, when the notice has any
        return [change("", {"texts": others, "locales": list(others)})] if others else []
    # The YouTube description in the default locale; the channel's default language is set to
    # it when unset, as its localizations need one.
    value = {"text": first, "locales": [first_locale] if first else [], "language": first_locale if others else ""}
    return [change("", value, "" if first else no_text)]


def run_public_changes(run_id: int) -> list[Publication]:
    """A run's publications in the order they are made, with their channel and `label` (what the
    change is), for the run page."""
    rows = list(
        Publication.objects.filter(run_id=run_id)
        .select_related("channel")
        .only(
            "run_id",
            "channel__name",
            "channel__kind",
            "phase_kind",
            "action",
            "target",
            "position",
            "state",
            "platform_id",
            "attempts",
            "error",
            "published_at",
            "restored_at",
        )
        .order_by("position", "id")
    )
    for row in rows:
        row.label = PUBLIC_ACTION_LABELS.get(row.action, row.action)
    return rows
