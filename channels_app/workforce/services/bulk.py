"""Bulk reassignments: many agents' moves in one all-or-nothing transaction."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from channels_app.core.permissions import require
from channels_app.models import Agent, Reassignment, SunsetPlan, Team
from channels_app.plans.services.plans import propose_reassignment


@dataclass(frozen=True)
class ReassignmentInput:
    agent_id: int
    to_team_id: int
    effective_date: date
    role: str = ""


@transaction.atomic
def propose_reassignments(*, actor, plan: SunsetPlan | int, items: Sequence[ReassignmentInput]) -> list[Reassignment]:
    """Propose (or change) the destination of several agents. Either every item
    is written or none is: the error names each failing item by its position."""
    require(actor, "manage_reassignments")
    if not items:
        raise ValidationError({"items": [_("Give at least one reassignment.")]})
    # Foreign keys are checked only at commit on PostgreSQL: check them up front
    # so an unknown id is a clear 400, not a failed commit.
    agents = set(Agent.objects.filter(pk__in={i.agent_id for i in items}).values_list("pk", flat=True))
    teams = set(Team.objects.filter(pk__in={i.to_team_id for i in items}).values_list("pk", flat=True))
    seen: dict[int, int] = {}
    errors: list[str] = []
    done: list[Reassignment] = []
    for index, item in enumerate(items):
        if item.agent_id not in agents:
            errors.append(_("Item %(n)s: unknown agent id %(id)s.") % {"n": index + 1, "id": item.agent_id})
            continue
        if item.to_team_id not in teams:
            errors.append(_("Item %(n)s: unknown team id %(id)s.") % {"n": index + 1, "id": item.to_team_id})
            continue
        if item.agent_id in seen:
            errors.append(
                _("Item %(n)s: agent %(id)s already appears as item %(first)s.")
                % {"n": index + 1, "id": item.agent_id, "first": seen[item.agent_id] + 1}
            )
            continue
        seen[item.agent_id] = index
        try:
            done.append(
                propose_reassignment(
                    actor=actor,
                    plan=plan,
                    agent=item.agent_id,
                    to_team=item.to_team_id,
                    effective_date=item.effective_date,
                    role=item.role,
                )
            )
        except ValidationError as exc:
            # InvalidTransition (plan state) is about the plan, not the item: let it out.
            if type(exc) is not ValidationError:
                raise
            for field, messages in exc.message_dict.items():
                errors.extend(
                    _("Item %(n)s (%(field)s): %(problem)s") % {"n": index + 1, "field": field, "problem": m}
                    for m in messages
                )
    if errors:
        raise ValidationError({"items": errors})
    return done
