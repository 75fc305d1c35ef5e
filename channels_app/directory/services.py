"""Channels, teams and agents: the directory the plans work on."""

from collections.abc import Sequence
from datetime import date

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Model
from django.utils.translation import gettext as _

from channels_app.audit.services import record_event
from channels_app.core.permissions import require
from channels_app.core.zones import LOCALE_RE, unknown_zone_message, zone_names
from channels_app.models import Agent, AgentLanguage, Assignment, Channel, ChannelKind, Team

CHANNEL_FIELDS = (
    "kind",
    "name",
    "handle",
    "default_locale",
    "platform_account_id",
    "api_base_url",
    "webhook_secret_env",
    "api_token_env",
    "rate_limit_per_minute",
    "notice_settings",
)
TEAM_FIELDS = ("name", "capacity", "languages", "skills", "site", "time_zone")
AGENT_FIELDS = (
    "employee_id",
    "name",
    "email",
    "languages",
    "skills",
    "site",
    "time_zone",
    "preferred_team_id",
    "preferred_language",
    "is_active",
)


def _values(obj: Model, fields: Sequence[str]) -> dict:
    return {f: getattr(obj, f) for f in fields}


def _clean_codes(values: Sequence[str], field: str, errors: dict) -> list[str]:
    cleaned = []
    for value in values or []:
        value = str(value).strip()
        if not LOCALE_RE.match(value):
            errors.setdefault(field, []).append(
                _("“%(value)s” is not a language code such as en or pt-BR.") % {"value": value}
            )
        elif value not in cleaned:
            cleaned.append(value)
    return cleaned


def _check_language(language: str, errors: dict) -> None:
    if language not in ("", *AgentLanguage.values):
        errors.setdefault("preferred_language", []).append(
            _("“%(value)s” is not a language Dusk writes in; use one of %(choices)s, or leave it empty.")
            % {"value": language, "choices": ", ".join(AgentLanguage.values)}
        )


def _check_zone(zone: str, errors: dict) -> None:
    if zone not in zone_names():
        errors.setdefault("time_zone", []).append(unknown_zone_message(zone))


def _refuse_unknown(changes: dict, fields: Sequence[str]) -> None:
    unknown = set(changes) - set(fields)
    if unknown:
        raise ValidationError(
            {
                "__all__": [
                    _("These fields cannot be changed here: %(fields)s.") % {"fields": ", ".join(sorted(unknown))}
                ]
            }
        )


def _apply(obj: Model, changes: dict, errors: dict) -> None:
    """Clean the people fields (language codes, IANA zone) and set every change,
    trimming text: the part update_team and update_agent share."""
    if "languages" in changes:
        changes["languages"] = _clean_codes(changes["languages"], "languages", errors)
    if "time_zone" in changes:
        _check_zone(changes["time_zone"], errors)
    if "preferred_language" in changes:
        changes["preferred_language"] = (changes["preferred_language"] or "").strip().lower()
        _check_language(changes["preferred_language"], errors)
    for field, value in changes.items():
        setattr(obj, field, value.strip() if isinstance(value, str) else value)


def _save(obj: Model, errors: dict, *, unique_message: str) -> None:
    if errors:
        raise ValidationError(errors)
    try:
        obj.full_clean()
    except ValidationError as exc:
        raise ValidationError(exc.message_dict) from None
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError:
        raise ValidationError({"__all__": [unique_message]}) from None


# --- channels ----------------------------------------------------------------------------

# Where a Discourse channel's public notice goes (platforms/selectors.planned_public_changes reads
# them): the category the announcement topic is created in, and the categories made read-only at
# the hard close. Other platforms take none.
NOTICE_SETTINGS_KEYS = ("announcement_category", "read_only_categories")
NOTICE_SETTINGS_KINDS = (ChannelKind.DISCOURSE,)
# Discourse's category ids are PostgreSQL integers; a forum has a few dozen categories at most.
MAX_CATEGORY_ID = 2**31 - 1
MAX_READ_ONLY_CATEGORIES = 100


def _category_id(value) -> int | None:
    """A category id as given (a JSON number), or None when it is not a whole number from 1 to
    MAX_CATEGORY_ID."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CATEGORY_ID:
        return None
    return value


def clean_notice_settings(kind: str, value, errors: dict) -> dict:
    """The channel's notice settings, checked and normalised: only the known keys, ids that are
    whole numbers from 1 to MAX_CATEGORY_ID, the read-only list without repeats; keys left empty
    are dropped ({} when none is set). Problems go to errors["notice_settings"]."""
    problems: list[str] = []
    if value is None or value == "":
        value = {}
    if not isinstance(value, dict):
        errors.setdefault("notice_settings", []).append(
            _("Notice settings are an object with %(keys)s.") % {"keys": ", ".join(NOTICE_SETTINGS_KEYS)}
        )
        return {}
    unknown = sorted(str(k) for k in set(value) - set(NOTICE_SETTINGS_KEYS))
    if unknown:
        problems.append(
            _("Unknown notice settings: %(unknown)s; known: %(keys)s.")
            % {"unknown": ", ".join(unknown), "keys": ", ".join(NOTICE_SETTINGS_KEYS)}
        )
    cleaned: dict = {}
    announcement = value.get("announcement_category")
    if announcement is not None:
        if _category_id(announcement) is None:
            problems.append(
                _("The announcement category is a category id: a whole number from 1 to %(max)s.")
                % {"max": MAX_CATEGORY_ID}
            )
        else:
            cleaned["announcement_category"] = announcement
    read_only = value.get("read_only_categories")
    if read_only is not None:
        if not isinstance(read_only, list | tuple) or any(_category_id(v) is None for v in read_only):
            problems.append(
                _("The categories made read-only are category ids: whole numbers from 1 to %(max)s.")
                % {"max": MAX_CATEGORY_ID}
            )
        else:
            ids = list(dict.fromkeys(read_only))
            if len(ids) > MAX_READ_ONLY_CATEGORIES:
                problems.append(
                    _("Name at most %(max)s categories to make read-only.") % {"max": MAX_READ_ONLY_CATEGORIES}
                )
            elif ids:
                cleaned["read_only_categories"] = ids
    if (cleaned or unknown) and kind not in NOTICE_SETTINGS_KINDS:
        problems.append(_("Only a community forum (Discourse) channel has notice settings."))
    if problems:
        errors.setdefault("notice_settings", []).extend(problems)
    return cleaned


@transaction.atomic
def register_channel(*, actor, kind: str, name: str, handle: str = "", **extra) -> Channel:
    require(actor, "manage_channels")
    errors: dict[str, list[str]] = {}
    if kind not in ChannelKind.values:
        errors["kind"] = [
            _("Unknown channel kind “%(kind)s”; use one of %(choices)s.")
            % {"kind": kind, "choices": ", ".join(ChannelKind.values)}
        ]
    extra = {k: v for k, v in extra.items() if k in CHANNEL_FIELDS}
    if "notice_settings" in extra:
        extra["notice_settings"] = clean_notice_settings(kind, extra["notice_settings"], errors)
    channel = Channel(kind=kind, name=name.strip(), handle=handle.strip(), **extra)
    _save(channel, errors, unique_message=_("A channel named “%(name)s” already exists.") % {"name": name})
    record_event(actor=actor, action="channel.registered", obj=channel, after=_values(channel, CHANNEL_FIELDS))
    return channel


@transaction.atomic
def update_channel(*, actor, channel: Channel | int, **changes) -> Channel:
    require(actor, "manage_channels")
    channel = Channel.objects.select_for_update().get(pk=channel.pk if isinstance(channel, Channel) else channel)
    _refuse_unknown(changes, CHANNEL_FIELDS)
    before = _values(channel, CHANNEL_FIELDS)
    errors: dict[str, list[str]] = {}
    if "kind" in changes and changes["kind"] != channel.kind and channel.plan_channels.exists():
        errors["kind"] = [_("A channel that belongs to a sunset plan cannot change kind.")]
    for field, value in changes.items():
        setattr(channel, field, value.strip() if isinstance(value, str) else value)
    if "notice_settings" in changes or "kind" in changes:
        # A channel that stops being a forum cannot keep a forum's settings.
        channel.notice_settings = clean_notice_settings(channel.kind, channel.notice_settings, errors)
    _save(channel, errors, unique_message=_("A channel named “%(name)s” already exists.") % {"name": channel.name})
    record_event(
        actor=actor, action="channel.updated", obj=channel, before=before, after=_values(channel, CHANNEL_FIELDS)
    )
    return channel


# --- teams ---------------------------------------------------------------------------------


@transaction.atomic
def create_team(
    *,
    actor,
    name: str,
    capacity: int,
    languages=(),
    skills=(),
    site: str = "",
    time_zone: str = "UTC",
    channel_ids: Sequence[int] = (),
) -> Team:
    require(actor, "manage_workforce")
    errors: dict[str, list[str]] = {}
    team = Team(
        name=name.strip(),
        capacity=capacity,
        languages=_clean_codes(languages, "languages", errors),
        skills=sorted({s.strip() for s in skills if s.strip()}),
        site=site.strip(),
        time_zone=time_zone,
    )
    _check_zone(time_zone, errors)
    if capacity is None or int(capacity) < 0:
        errors["capacity"] = [_("Capacity must be zero or more seats.")]
    _save(team, errors, unique_message=_("A team named “%(name)s” already exists.") % {"name": name})
    if channel_ids:
        team.channels.set(Channel.objects.filter(pk__in=channel_ids))
    record_event(actor=actor, action="team.created", obj=team, after=_values(team, TEAM_FIELDS))
    return team


@transaction.atomic
def update_team(*, actor, team: Team | int, channel_ids: Sequence[int] | None = None, **changes) -> Team:
    require(actor, "manage_workforce")
    team = Team.objects.select_for_update().get(pk=team.pk if isinstance(team, Team) else team)
    _refuse_unknown(changes, TEAM_FIELDS)
    before = _values(team, TEAM_FIELDS)
    errors: dict[str, list[str]] = {}
    _apply(team, changes, errors)
    _save(team, errors, unique_message=_("A team named “%(name)s” already exists.") % {"name": team.name})
    if channel_ids is not None:
        team.channels.set(Channel.objects.filter(pk__in=channel_ids))
    record_event(actor=actor, action="team.updated", obj=team, before=before, after=_values(team, TEAM_FIELDS))
    return team


# --- agents --------------------------------------------------------------------------------


@transaction.atomic
def create_agent(
    *,
    actor,
    employee_id: str,
    name: str,
    email: str,
    languages=(),
    skills=(),
    site: str = "",
    time_zone: str = "UTC",
    team: Team | int | None = None,
    starts_on: date | None = None,
    preferred_team_id: int | None = None,
    preferred_language: str = "",
) -> Agent:
    """`preferred_language` empty: the agent is written to in the first of their languages that
    Dusk speaks (en, fr, id), else English."""
    require(actor, "manage_workforce")
    errors: dict[str, list[str]] = {}
    preferred_language = (preferred_language or "").strip().lower()
    _check_language(preferred_language, errors)
    agent = Agent(
        employee_id=employee_id.strip(),
        name=name.strip(),
        email=email.strip(),
        languages=_clean_codes(languages, "languages", errors),
        skills=sorted({s.strip() for s in skills if s.strip()}),
        site=site.strip(),
        time_zone=time_zone,
        preferred_team_id=preferred_team_id,
        preferred_language=preferred_language,
    )
    _check_zone(time_zone, errors)
    _save(
        agent,
        errors,
        unique_message=_("An agent with employee id “%(id)s” already exists.") % {"id": employee_id},
    )
    if team is not None:
        Assignment.objects.create(
            agent=agent,
            team_id=team.pk if isinstance(team, Team) else team,
            starts_on=starts_on or date.today(),
            role="Agent",
        )
    record_event(actor=actor, action="agent.created", obj=agent, after=_values(agent, AGENT_FIELDS))
    return agent


@transaction.atomic
def update_agent(*, actor, agent: Agent | int, **changes) -> Agent:
    require(actor, "manage_workforce")
    agent = Agent.objects.select_for_update().get(pk=agent.pk if isinstance(agent, Agent) else agent)
    _refuse_unknown(changes, AGENT_FIELDS)
    before = _values(agent, AGENT_FIELDS)
    errors: dict[str, list[str]] = {}
    _apply(agent, changes, errors)
    _save(
        agent,
        errors,
        unique_message=_("An agent with employee id “%(id)s” already exists.") % {"id": agent.employee_id},
    )
    record_event(actor=actor, action="agent.updated", obj=agent, before=before, after=_values(agent, AGENT_FIELDS))
    return agent
