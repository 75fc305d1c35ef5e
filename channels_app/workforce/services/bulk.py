"""Bulk reassignments: many agents' moves in one all-or-nothing transaction."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from channels_app.core.permissions import require
from channels_app.models import Reassignment, ReassignmentState, SunsetPlan
from channels_app.workforce.services.moves import MoveProblem, MoveRequest, MovesRefused, propose_moves


@dataclass(frozen=True)
class ReassignmentInput:
    agent_id: int
    to_team_id: int
    effective_date: date
    role: str = ""


def _item_error(problem: MoveProblem) -> str:
    """A refusal of the moves rule, prefixed with the items it concerns."""
    if not problem.moves:
        return problem.message
    return ngettext(
        "Item %(n)s (%(field)s): %(problem)s",
        "Items %(n)s (%(field)s): %(problem)s",
        len(problem.moves),
    ) % {"n": ", ".join(str(i + 1) for i in problem.moves), "field": problem.field, "problem": problem.message}


@transaction.atomic
def propose_reassignments(*, actor, plan: SunsetPlan | int, items: Sequence[ReassignmentInput]) -> list[Reassignment]:
    """Propose (or change) the destination of several agents, under the same rule as the board
    and the CSV import. Either every item is written or none is: the error names each failing
    item by its position. Returns the items' moves, in the order of the items."""
    require(actor, "manage_reassignments")
    if not items:
        raise ValidationError({"items": [_("Give at least one reassignment.")]})
    moves = [MoveRequest(i.agent_id, i.to_team_id, i.effective_date, i.role, ReassignmentState.PROPOSED) for i in items]
    try:
        propose_moves(actor=actor, plan=plan, moves=moves, source="api")
    except MovesRefused as refused:
        raise ValidationError({"items": [_item_error(p) for p in refused.problems]}) from None
    plan_id = plan.pk if isinstance(plan, SunsetPlan) else plan
    by_agent = {
        r.agent_id: r for r in Reassignment.objects.filter(plan_id=plan_id, agent_id__in=[i.agent_id for i in items])
    }
    return [by_agent[i.agent_id] for i in items]
