"""An agent leaving, recorded by HR with the reason: their open assignments end with no new one
and, when they left the company, the agent is deactivated. The outcome report
(`selectors.outcomes`) reads these records to say why a moved agent is no longer in role."""

from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from channels_app.audit.services import record_event
from channels_app.core.permissions import require
from channels_app.models import Agent, AgentDeparture, Assignment, DepartureReason

NOTE_MAX = 500


@transaction.atomic
def record_departure(
    *,
    actor,
    agent: Agent | int,
    left_on: date,
    reason: str,
    note: str = "",
    deactivate: bool = False,
    today: date | None = None,
) -> AgentDeparture:
    """End the agent's open assignments on `left_on` (no new one starts), deactivate the agent if
    asked, and keep the reason. Refused, changing nothing, for an unknown reason, a day still to
    come, a day before an open assignment began, a second record for the same day, or when there
    is nothing to end (no open assignment and no deactivation)."""
    require(actor, "manage_workforce")
    agent = Agent.objects.select_for_update().get(pk=agent.pk if isinstance(agent, Agent) else agent)
    today = today or timezone.localdate()
    note = (note or "").strip()
    errors: dict[str, list[str]] = {}
    if reason not in DepartureReason.values:
        errors["reason"] = [
            _("Choose a reason: %(choices)s.") % {"choices": ", ".join(str(label) for label in DepartureReason.labels)}
        ]
    if len(note) > NOTE_MAX:
        errors["note"] = [_("The note is longer than %(max)s characters.") % {"max": NOTE_MAX}]
    if left_on > today:
        errors["left_on"] = [_("The day the agent left cannot be in the future.")]
    open_rows = list(Assignment.objects.filter(agent=agent, ends_on__isnull=True).select_related("team"))
    late = [row for row in open_rows if row.starts_on > left_on]
    if late:
        errors.setdefault("left_on", []).append(
            _("%(agent)s joined %(team)s on %(start)s, after that day.")
            % {"agent": agent, "team": late[0].team, "start": late[0].starts_on.isoformat()}
        )
    deactivate = deactivate and agent.is_active
    if not open_rows and not deactivate:
        # Nothing left to end: the record can still give its reason to an end made elsewhere (the
        # admin, the API), on the day the agent's last assignment ended.
        last_end = (
            Assignment.objects.filter(agent=agent, ends_on__isnull=False)
            .order_by("-ends_on")
            .values_list("ends_on", flat=True)
            .first()
        )
        if last_end is None:
            errors.setdefault("__all__", []).append(
                _("%(agent)s has no assignment to end and is not being deactivated: nothing to record.")
                % {"agent": agent}
            )
        elif last_end != left_on:
            errors.setdefault("left_on", []).append(
                _("%(agent)s has no open assignment; their last one ended on %(day)s: record that day.")
                % {"agent": agent, "day": last_end.isoformat()}
            )
    if AgentDeparture.objects.filter(agent=agent, left_on=left_on).exists():
        errors.setdefault("left_on", []).append(
            _("A departure of %(agent)s on %(day)s is already recorded.") % {"agent": agent, "day": left_on.isoformat()}
        )
    if errors:
        raise ValidationError(errors)
    ended = Assignment.objects.filter(pk__in=[row.pk for row in open_rows]).update(ends_on=left_on)
    if deactivate:
        agent.is_active = False
        agent.save(update_fields=["is_active"])
    departure = AgentDeparture.objects.create(
        agent=agent, left_on=left_on, reason=reason, note=note, deactivated=deactivate, recorded_by=actor
    )
    record_event(
        actor=actor,
        action="agent.departed",
        obj=agent,
        before={"open_assignments": [row.team.name for row in open_rows], "is_active": agent.is_active or deactivate},
        after={
            "left_on": left_on,
            "reason": reason,
            "note": note,
            "assignments_ended": ended,
            "is_active": agent.is_active,
        },
    )
    return departure
