"""Preflight: can this plan run, checked before anyone is asked to act on it.

One service for every door: the wizard and the plan page show it, submission and approval refuse
a plan that fails it, the cutover's freeze step runs it again and fails the run before changing
anything, and the API returns it. It checks, for every channel of the plan, that the credentials
it needs are named and set and that a real read-only call to the platform succeeds (whoami: X's
authenticated user, Messenger's page, YouTube's channel, Discourse's API user, a connection to
the mail relay and mailbox); that every auto-reply renders with no empty placeholder in every
locale; and the plan's readiness (phases ahead, replies and redirects written, every affected
agent with a confirmed destination that has room: the agent guard).

The connection test calls the adapters directly: they import nothing of the app but core
(the adapters-pure contract), which is why pyproject.toml lets this one module use them.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from channels_app.core import mailbox as mailbox_url
from channels_app.core import textrules
from channels_app.core.hosts import GuardedTransport
from channels_app.models import PHASE_ORDER, Channel, PhaseKind, PhaseState, SunsetPlan
from channels_app.plans.selectors import placeholder_values
from channels_app.platforms.adapters import email as email_adapter
from channels_app.platforms.adapters import imap
from channels_app.platforms.adapters.base import Account, AdapterError
from channels_app.platforms.adapters.registry import PLATFORMS
from channels_app.workforce.selectors import destination_problems

# A phase must be at least this far ahead when it is written or approved, so the beat sweep is
# never asked to run something already overdue.
MIN_LEAD = timedelta(seconds=1)

# Placeholders filled from the plan (the others come from the customer's message).
PLAN_PLACEHOLDERS = ("redirect_url", "phone", "app_link", "date")

# The areas a problem belongs to; the form field names the plan's pages and the API use.
AREAS = ("phases", "auto_replies", "redirects", "reassignments", "channels")


@dataclass(frozen=True)
class ConnectionCheck:
    """One channel's credentials and connection: ok, who the platform says we are, or why not."""

    channel_id: int
    channel_name: str
    ok: bool
    identity: str = ""
    problem: str = ""
    tested: bool = False  # a real call was made (False: nothing to test, or refused before calling)

    @property
    def reason(self) -> str:
        """The problem without the channel's name ("<name>: <reason>"), for the channel's own page."""
        return self.problem.removeprefix(f"{self.channel_name}: ")


@dataclass
class Preflight:
    """The result: problems by area (phases, auto_replies, redirects, reassignments, channels)
    and each channel's connection check."""

    problems: dict[str, list[str]] = field(default_factory=dict)
    connections: list[ConnectionCheck] = field(default_factory=list)

    def add(self, area: str, message: str) -> None:
        self.problems.setdefault(area, []).append(message)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def messages(self) -> list[str]:
        return [message for area in AREAS for message in self.problems.get(area, [])]

    def raise_if_failed(self) -> None:
        if self.problems:
            raise PreflightFailed(self)

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "problems": self.problems,
            "channels": [
                {
                    "id": c.channel_id,
                    "name": c.channel_name,
                    "ok": c.ok,
                    "identity": c.identity,
                    "problem": c.problem,
                }
                for c in self.connections
            ],
        }


class PreflightFailed(ValidationError):
    """A ValidationError by area, carrying the preflight that failed, so a page refusing the
    action can show that very result (not a second, perhaps different, connection test)."""

    def __init__(self, preflight: Preflight) -> None:
        super().__init__({area: list(messages) for area, messages in preflight.problems.items()})
        self.preflight = preflight


# --- credentials and connections -----------------------------------------------------------------


def _secret(name: str) -> str:
    return os.environ.get(name, "") if name else ""


def credential_problems(channel: Channel) -> list[str]:
    """What is missing before the platform can even be called: the variable named, set, and the
    API's address. Each message names the channel and the variable."""
    platform = PLATFORMS.get(channel.kind)
    problems: list[str] = []
    if platform is None:
        return problems  # phone, web form, chat: nothing to call
    if platform.needs_api_token:
        if not channel.api_token_env:
            problems.append(
                _("%(channel)s: no API token variable is named; set one (DUSK_CHANNEL_…) on the channel.")
                % {"channel": channel.name}
            )
        elif not _secret(channel.api_token_env):
            problems.append(
                _("%(channel)s: the environment variable %(variable)s is not set.")
                % {"channel": channel.name, "variable": channel.api_token_env}
            )
        if not platform.default_base_url and not channel.api_base_url:
            problems.append(
                _("%(channel)s: set %(what)s (API base URL).")
                % {"channel": channel.name, "what": platform.base_url_label}
            )
    elif channel.api_base_url and not _secret(channel.api_token_env):
        # An email channel read over IMAP: the mailbox password.
        problems.append(
            _("%(channel)s: the mailbox password variable %(variable)s is not set.")
            % {"channel": channel.name, "variable": channel.api_token_env or "—"}
        )
    return problems


def _timeout() -> float:
    return float(settings.DUSK_PREFLIGHT_TIMEOUT)


def _check_mail(channel: Channel) -> str:
    """The email channel's mail relay (when the portal sends over SMTP) and IMAP mailbox."""
    seen: list[str] = []
    if settings.EMAIL_BACKEND.endswith("smtp.EmailBackend"):
        identity = email_adapter.check_smtp(
            settings.EMAIL_HOST,
            int(settings.EMAIL_PORT),
            timeout=_timeout(),
            username=settings.EMAIL_HOST_USER or None,
            password=settings.EMAIL_HOST_PASSWORD or None,
            starttls=bool(settings.EMAIL_USE_TLS),
            use_ssl=bool(getattr(settings, "EMAIL_USE_SSL", False)),
        )
        seen.append(f"SMTP {identity.name}")
    if channel.api_base_url:
        mailbox = mailbox_url.parse_mailbox_url(channel.api_base_url)
        login = imap.check_mailbox(
            mailbox,
            mailbox.username or channel.handle,
            _secret(channel.api_token_env),
            timeout=_timeout(),
            ssl_context=imap.tls_context(settings.DUSK_IMAP_CA_FILE),
            allow_private=settings.DUSK_ALLOW_PRIVATE_PLATFORM_HOSTS,
        )
        seen.append(f"IMAP {login}@{mailbox.host}")
    return " · ".join(seen)


def check_connection(channel: Channel, *, client: httpx.Client | None = None) -> ConnectionCheck:
    """The channel's credentials, then one read-only call to its platform. Makes no write."""
    base = {"channel_id": channel.pk, "channel_name": channel.name}
    platform = PLATFORMS.get(channel.kind)
    if platform is None:
        return ConnectionCheck(**base, ok=True, identity=_("no platform to call"))
    missing = credential_problems(channel)
    if missing:
        return ConnectionCheck(**base, ok=False, problem=" ".join(missing))
    try:
        if platform.sends_mail:
            identity = _check_mail(channel) or _("the mail backend has no connection to test")
        else:
            account = Account(
                base_url=channel.api_base_url or platform.default_base_url,
                token=_secret(channel.api_token_env),
                account_id=channel.platform_account_id,
            )
            owned = client is None
            # Connections only to allowed hosts, checked when each one is opened (core/hosts.py):
            # the address a name resolves to now, not when the channel was saved.
            allow_private = settings.DUSK_ALLOW_PRIVATE_PLATFORM_HOSTS
            http = httpx.Client(transport=GuardedTransport(allow_private=allow_private)) if client is None else client
            try:
                who = platform.whoami(http, account, timeout=_timeout())
            finally:
                if owned:
                    http.close()
            identity = who.name
            if channel.platform_account_id and who.account_id and who.account_id != channel.platform_account_id:
                return ConnectionCheck(
                    **base,
                    ok=False,
                    tested=True,
                    problem=_("%(channel)s: the credentials act as %(who)s (%(id)s), not account %(expected)s.")
                    % {
                        "channel": channel.name,
                        "who": who.name,
                        "id": who.account_id,
                        "expected": channel.platform_account_id,
                    },
                )
    except (AdapterError, ValueError, OSError, ssl.SSLError) as exc:
        return ConnectionCheck(
            **base,
            ok=False,
            tested=True,
            problem=_("%(channel)s: the platform refused the connection test: %(error)s")
            % {"channel": channel.name, "error": _short(exc)},
        )
    return ConnectionCheck(**base, ok=True, tested=True, identity=identity)


def _short(exc: Exception) -> str:
    # The platform's status and the start of its answer; bodies are cut so a page never shows
    # a platform's whole error document.
    status = getattr(exc, "status_code", 0)
    text = str(getattr(exc, "error", "") or exc)
    text = text if len(text) <= 160 else text[:157] + "…"
    if status == 401 or status == 403:
        return _("HTTP %(status)s, the credentials were not accepted (%(detail)s)") % {"status": status, "detail": text}
    return text


# --- auto-replies -----------------------------------------------------------------------------


def reply_placeholder_problems(plan: SunsetPlan) -> list[str]:
    """Every auto-reply, in every locale it is written in, rendered with the plan's values: a
    placeholder the plan cannot fill (no phone redirect, no hard-close date) is named."""
    problems: list[str] = []
    phase_rank = {kind: i for i, kind in enumerate(PHASE_ORDER)}
    replies = sorted(plan.auto_replies.all(), key=lambda r: (phase_rank.get(r.phase_kind, 99), r.locale))
    for reply in replies:
        values = placeholder_values(plan, locale=reply.locale)
        empty = empty_placeholders(reply.text, values)
        if empty:
            problems.append(
                _("The %(phase)s reply (%(locale)s) would render %(fields)s empty: %(why)s")
                % {
                    "phase": PhaseKind(reply.phase_kind).label if reply.phase_kind in PhaseKind.values else "",
                    "locale": reply.locale,
                    "fields": ", ".join("{" + name + "}" for name in empty),
                    "why": what_fills(empty),
                }
            )
    return problems


def empty_placeholders(text: str, values: dict[str, str]) -> list[str]:
    """The placeholders of `text` that the plan fills (redirects, the hard close date) and that
    `values` leaves empty, in the order the text uses them."""
    return [name for name in textrules.find_placeholders(text) if name in PLAN_PLACEHOLDERS and not values.get(name)]


def what_fills(names: list[str]) -> str:
    """What to add to the plan so these placeholders are not empty: "add a phone redirect; ..." """
    return "; ".join(dict.fromkeys(_why_empty(name) for name in names))


def _why_empty(name: str) -> str:
    return {
        "redirect_url": _("add a URL, app or phone redirect"),
        "phone": _("add a phone redirect"),
        "app_link": _("add an app redirect"),
        "date": _("add a hard close phase"),
    }[name]


# --- the whole plan ------------------------------------------------------------------------------


def _readiness(plan: SunsetPlan, result: Preflight, *, now: datetime) -> None:
    phases = list(plan.phases.all())
    if not phases:
        result.add("phases", _("A plan needs at least one phase."))
    for phase in phases:
        # Only a phase still to run must be ahead: one already done (or cancelled, skipped) is
        # past by nature.
        if phase.state in (PhaseState.PENDING, PhaseState.SCHEDULED) and phase.instant < now + MIN_LEAD:
            result.add(
                "phases",
                _("The %(phase)s phase (%(instant)s UTC) is already in the past.")
                % {"phase": PhaseKind(phase.kind).label, "instant": f"{phase.instant:%Y-%m-%d %H:%M}"},
            )
    kinds = {p.kind for p in phases}
    replies = {(a.phase_kind, a.locale) for a in plan.auto_replies.all()}
    for kind in (PhaseKind.SOFT_CLOSE, PhaseKind.HARD_CLOSE):
        if kind in kinds and (kind, plan.default_locale) not in replies:
            result.add(
                "auto_replies",
                _("Write the %(phase)s auto-reply in the default locale (%(locale)s) before submitting.")
                % {"phase": PhaseKind(kind).label, "locale": plan.default_locale},
            )
    if PhaseKind.HARD_CLOSE in kinds and not plan.redirects.exists():
        result.add("redirects", _("Add at least one redirect target: customers must be told where to go."))
    # The people side (the agent guard): every affected agent has a confirmed destination with room.
    for message in destination_problems(plan).messages:
        result.add("reassignments", message)


def _cache_key(channel: Channel) -> str:
    """The channel, a fingerprint of everything its connection test depends on (the credentials'
    values included, hashed with the secret key: never stored), and the language the result's
    words are in. Changing a credential, the URL or the account changes the key."""
    platform = PLATFORMS.get(channel.kind)
    parts = [
        channel.kind,
        channel.name,
        channel.handle,
        channel.api_base_url,
        channel.api_token_env,
        _secret(channel.api_token_env),
        channel.platform_account_id,
    ]
    if platform is not None and platform.sends_mail:
        parts += [settings.EMAIL_BACKEND, str(settings.EMAIL_HOST), str(settings.EMAIL_PORT), settings.EMAIL_HOST_USER]
        parts.append(settings.EMAIL_HOST_PASSWORD or "")
    fingerprint = salted_hmac("dusk.preflight.connection", "\x1f".join(parts)).hexdigest()[:32]
    return f"dusk:connection:{channel.pk}:{fingerprint}:{get_language() or ''}"


def check_connections(channels: Iterable[Channel], *, cached: bool = False) -> list[ConnectionCheck]:
    """Each channel's connection test. `cached=True` (page views only) reuses a result kept for
    the same credentials for DUSK_CONNECTION_CHECK_CACHE_SECONDS instead of calling the platform
    again (X rate-limits `users/me`), and keeps what it had to ask. Submission, approval and the
    freeze step always call, and never touch the cache: a cache that is down or not yet created
    never stops a run."""
    channels = list(channels)
    keys = {channel.pk: _cache_key(channel) for channel in channels}
    ttl = settings.DUSK_CONNECTION_CHECK_CACHE_SECONDS if cached else 0
    kept = cache.get_many(list(keys.values())) if ttl > 0 else {}
    results: list[ConnectionCheck] = []
    fresh: dict[str, ConnectionCheck] = {}
    # Connections only to allowed hosts, checked as each one is opened (core/hosts.py).
    transport = GuardedTransport(allow_private=settings.DUSK_ALLOW_PRIVATE_PLATFORM_HOSTS)
    with httpx.Client(transport=transport) as client:
        for channel in channels:
            check = kept.get(keys[channel.pk])
            if check is None:
                check = check_connection(channel, client=client)
                if check.tested:
                    fresh[keys[channel.pk]] = check
            results.append(check)
    if fresh and ttl > 0:
        cache.set_many(fresh, timeout=ttl)
    return results


def run_preflight(
    plan: SunsetPlan,
    *,
    now: datetime | None = None,
    connections: list[ConnectionCheck] | None = None,
    readiness: bool = True,
    cached: bool = False,
) -> Preflight:
    """Everything that must hold for the plan to run. `connections`: checks already made (a
    caller that tests connections before taking a lock); `readiness=False` at run time, when
    earlier phases may already have moved people and passed their instants; `cached=True` for a
    page that shows the preflight (connection results of the last minute are reused)."""
    now = now or timezone.now()
    result = Preflight()
    if readiness:
        _readiness(plan, result, now=now)
    for message in reply_placeholder_problems(plan):
        result.add("auto_replies", message)
    if connections is None:
        connections = check_connections(plan.channels.all(), cached=cached)
    result.connections = connections
    for check in connections:
        if not check.ok:
            result.add("channels", check.problem)
    return result


__all__ = [
    "MIN_LEAD",
    "ConnectionCheck",
    "Preflight",
    "PreflightFailed",
    "check_connection",
    "check_connections",
    "credential_problems",
    "reply_placeholder_problems",
    "run_preflight",
]
