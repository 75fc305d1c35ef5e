"""HR pages of the workforce transition: the reassignment board and the staffing check.

Each view: fetch the plan (with the role check), validate, delegate to a service, respond.
Everyone with a role may look; only HR coordinators and admins change anything (the services
check it again). htmx asks for named partials of the same template (`?partial=summary`).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from channels_app.core.charts import paired_bars, seat_bar, stacked_bars
from channels_app.core.permissions import can, permission_denied_message, require
from channels_app.core.views import FORM_ERROR_STATUS, go
from channels_app.models import SunsetPlan
from channels_app.workforce.forms import AgentReplyForm, DepartureForm, ImportForm, MoveForm, StaffingInputsForm
from channels_app.workforce.selectors import (
    ACTIVE_MOVE_STATES,
    IN_ROLE,
    LEFT_REASON_LABELS,
    MOVED_AGAIN,
    NOT_YET,
    OutcomeReport,
    agent_emails_blocked,
    answer_filters,
    board_agents,
    board_answers,
    board_counts,
    board_destinations,
    label_relocations,
    moves_to_notify,
    outcome_report,
    outcomes_csv,
    staffing_check,
    staffing_inputs,
    team_work,
)
from channels_app.workforce.services import csv as reassignment_csv
from channels_app.workforce.services.agent_page import reply_to_agent, send_new_link
from channels_app.workforce.services.csv import (
    CsvImportError,
    export_reassignments_csv,
    import_reassignments_csv,
)
from channels_app.workforce.services.departures import record_departure
from channels_app.workforce.services.moves import (
    EDITABLE_PLAN_STATES,
    accept_suggestion,
    assign_agents,
    clear_destinations,
    confirm_moves,
    notify_agents,
    suggest_destinations,
    update_staffing_inputs,
)

PAGE_SIZE = 50
BOARD_TEMPLATE = "channels_app/plan_reassignments.html"
STAFFING_TEMPLATE = "channels_app/plan_staffing.html"
BOARD_PARTIALS = {"summary", "agents"}
STATUS_FILTERS = {
    "all": Q(),
    "without": Q(move_id__isnull=True),
    "proposed": Q(move_state="proposed"),
    "confirmed": Q(move_state__in=ACTIVE_MOVE_STATES),
    "done": Q(move_state="done"),
}
ANSWER_FILTERS = ("no_answer", "concern", "other_team", "needs_conversation")


def _plan_for(request, plan_id: int, action: str = "view") -> SunsetPlan:
    require(request.user, action)
    return get_object_or_404(SunsetPlan.objects.select_related("author"), pk=plan_id)


def _can_change(user, plan: SunsetPlan) -> bool:
    return can(user, "manage_reassignments") and plan.state in EDITABLE_PLAN_STATES


def _error_list(exc: ValidationError) -> list[str]:
    return list(exc.messages)


# --- the reassignment board ---------------------------------------------------------------------


def _board_context(request, plan: SunsetPlan, *, suggest: bool = False) -> dict:
    inputs = staffing_inputs(plan)
    work = team_work(plan, inputs=inputs)
    team_ids = [w.team_id for w in work if w.affected]
    rows = board_agents(plan, team_ids=team_ids)
    counts = board_counts(rows)
    q = request.GET.get("q", "").strip()[:100]
    status = request.GET.get("status", "all")
    filters = {**STATUS_FILTERS, **answer_filters()}
    status = status if status in filters else "all"
    shown = rows.filter(filters[status])
    from_team = request.GET.get("team", "")
    if from_team.isdigit():
        shown = shown.filter(from_team_id=int(from_team))
    if q:
        shown = shown.annotate(
            skills_text=Cast("skills", TextField()), languages_text=Cast("languages", TextField())
        ).filter(
            Q(name__icontains=q)
            | Q(employee_id__icontains=q)
            | Q(site__icontains=q)
            | Q(skills_text__icontains=q)
            | Q(languages_text__icontains=q)
            | Q(from_team_name__icontains=q)
            | Q(move_to_team_name__icontains=q)
        )
    page = Paginator(shown.order_by("name", "id"), PAGE_SIZE).get_page(request.GET.get("page"))
    teams = board_destinations(plan)
    for team in teams:
        team.bar = seat_bar(team.occupied, team.after, team.capacity)
    planned = None
    if suggest:
        planned = suggest_destinations(plan=plan, team_ids=team_ids)
        for agent in page.object_list:
            if agent.pk in planned.from_team:
                agent.suggested_team = planned.team_for(agent.pk)
                agent.explanation = planned.explain(agent.pk)
    label_relocations(page.object_list, suggested=suggest)
    _attach_answers(plan, page.object_list)
    query = request.GET.copy()
    query.pop("page", None)
    return {
        "plan": plan,
        "inputs": inputs,
        "work": work,
        "counts": counts,
        "page": page,
        "teams": teams,
        # The guard's capacity rule (selectors.destination_problems): confirmed arrivals beyond the
        # seats block submission and approval, so the board says so before anyone clicks.
        "over_capacity": [t for t in teams if t.over_capacity],
        "planned": planned,
        "suggest": suggest,
        "q": q,
        "status": status,
        "team_filter": int(from_team) if from_team.isdigit() else None,
        "query": query.urlencode(),
        # Where the board's forms come back to: this page as it was asked for, or the board itself
        # when it is shown again after a refused POST (its address answers POST only).
        "board_next": request.get_full_path()
        if request.method == "GET"
        else reverse("plan_reassignments", args=[plan.pk]),
        "can_change": _can_change(request.user, plan),
        "can_reply": can(request.user, "manage_reassignments"),
        # "Email agents" is disabled, with this reason, until the plan is approved.
        "emails_blocked": agent_emails_blocked(plan),
        "move_form": MoveForm(initial={"effective_date": None}),
        "import_form": ImportForm(),
        "statuses": [
            ("all", _("All")),
            ("without", _("No destination")),
            ("proposed", _("Proposed")),
            ("confirmed", _("Confirmed")),
            ("done", _("Done")),
            ("no_answer", _("No answer yet")),
            ("concern", _("Has a question or concern")),
            ("other_team", _("Prefers another team")),
            ("needs_conversation", _("Needs a conversation")),
        ],
    }


def _attach_answers(plan: SunsetPlan, agents) -> None:
    """Each row's answer, checklist progress and "needs a conversation" (selectors.board_answers)."""
    agents = list(agents)
    answers = board_answers(plan, [a.move_id for a in agents if a.move_id])
    for agent in agents:
        agent.answer_info = answers.get(agent.move_id)


def _board_url(request, plan: SunsetPlan) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return reverse("plan_reassignments", args=[plan.pk])


def _render_board(request, plan: SunsetPlan, *, errors: list[str] | None = None, status: int = 200, **extra):
    context = _board_context(request, plan)
    context.update(errors=errors or [], **extra)
    return render(request, BOARD_TEMPLATE, context, status=status)


@require_GET
@login_required
def plan_reassignments(request, plan_id: int):
    plan = _plan_for(request, plan_id)
    partial = request.GET.get("partial", "")
    if partial and partial not in BOARD_PARTIALS:
        return HttpResponseBadRequest("Unknown partial.")
    context = _board_context(request, plan, suggest=request.GET.get("suggest") == "1")
    template = f"{BOARD_TEMPLATE}#{partial}" if partial else BOARD_TEMPLATE
    return render(request, template, context)


def _move_form(request) -> MoveForm:
    form = MoveForm(request.POST)
    if not form.is_valid():
        raise ValidationError(
            [
                _("%(field)s: %(errors)s") % {"field": form.fields[f].label or f, "errors": " ".join(e)}
                for f, e in form.errors.items()
            ]
        )
    return form


def _single_row_response(request, plan: SunsetPlan, agent_id: int, *, errors: list[str], status: int = 200):
    """htmx row edit: answer with the updated row and tell the page the moves changed."""
    work = team_work(plan)
    rows = board_agents(plan, team_ids=[w.team_id for w in work if w.affected])
    agent = rows.filter(pk=agent_id).first()
    if agent is None:
        return HttpResponseBadRequest("This agent is not on the board.")
    label_relocations([agent])
    _attach_answers(plan, [agent])
    context = {
        "plan": plan,
        "agent": agent,
        "row_errors": errors,
        "can_change": _can_change(request.user, plan),
        "can_reply": can(request.user, "manage_reassignments"),
        "query": "",
    }
    response = render(request, f"{BOARD_TEMPLATE}#agent_row", context, status=status)
    if not errors:
        response["HX-Trigger"] = "moves-changed"
    return response


def _run_action(request, plan_id: int, action, success) -> HttpResponse:
    """POST plumbing shared by the board's actions: role check, service call, then either a
    redirect back to the board or the board again with the errors (422)."""
    plan = _plan_for(request, plan_id, "manage_reassignments")
    try:
        form = _move_form(request)
        if form.agents() == []:
            raise ValidationError(_("Select at least one agent, or use the buttons for the whole plan."))
        result = action(plan, form)
    except ValidationError as exc:
        return _render_board(request, plan, errors=_error_list(exc), status=FORM_ERROR_STATUS)
    messages.success(request, success(result))
    return redirect(_board_url(request, plan))


@require_POST
@login_required
def plan_reassignments_assign(request, plan_id: int):
    plan = _plan_for(request, plan_id, "manage_reassignments")
    row_edit = request.htmx and request.POST.get("row") == "1"
    try:
        form = _move_form(request)
        agent_ids = form.agents()
        if agent_ids is None:
            raise ValidationError(_("Select the agents to send to this team."))
        written = assign_agents(
            actor=request.user,
            plan=plan,
            agent_ids=agent_ids,
            to_team=form.cleaned_data["to_team"],
            effective_date=form.cleaned_data["effective_date"],
            role=form.cleaned_data["role"],
            confirm=form.cleaned_data["confirm"],
        )
    except ValidationError as exc:
        row_agent = request.POST.get("agent_ids", "")
        if row_edit and row_agent.isdigit():
            return _single_row_response(
                request, plan, int(row_agent), errors=_error_list(exc), status=FORM_ERROR_STATUS
            )
        return _render_board(request, plan, errors=_error_list(exc), status=FORM_ERROR_STATUS)
    if row_edit:
        return _single_row_response(request, plan, agent_ids[0], errors=[])
    messages.success(
        request,
        ngettext("%(count)s move written to %(team)s.", "%(count)s moves written to %(team)s.", written)
        % {"count": written, "team": form.cleaned_data["to_team"]},
    )
    return redirect(_board_url(request, plan))


@require_POST
@login_required
def plan_reassignments_accept(request, plan_id: int):
    def action(plan, form):
        return accept_suggestion(
            actor=request.user,
            plan=plan,
            agent_ids=form.agents(),
            effective_date=form.cleaned_data["effective_date"],
            role=form.cleaned_data["role"],
        )

    def success(result):
        sentences = [
            ngettext(
                "%(count)s suggested destination accepted as a proposed move.",
                "%(count)s suggested destinations accepted as proposed moves.",
                result.accepted,
            )
            % {"count": result.accepted}
        ]
        if result.unplaced:
            unplaced = len(result.unplaced)
            sentences.append(
                ngettext(
                    "%(count)s selected agent had no suggested seat.",
                    "%(count)s selected agents had no suggested seat.",
                    unplaced,
                )
                % {"count": unplaced}
            )
        return " ".join(sentences)

    return _run_action(request, plan_id, action, success)


@require_POST
@login_required
def plan_reassignments_confirm(request, plan_id: int):
    return _run_action(
        request,
        plan_id,
        lambda plan, form: confirm_moves(actor=request.user, plan=plan, agent_ids=form.agents()),
        lambda count: ngettext("%(count)s move confirmed.", "%(count)s moves confirmed.", count) % {"count": count},
    )


@require_POST
@login_required
def plan_reassignments_clear(request, plan_id: int):
    def action(plan, form):
        agent_ids = form.agents()
        if agent_ids is None:
            raise ValidationError(_("Select the agents whose destination should be removed."))
        return clear_destinations(actor=request.user, plan=plan, agent_ids=agent_ids)

    def success(count):
        return ngettext(
            "Destination removed for %(count)s agent.", "Destination removed for %(count)s agents.", count
        ) % {"count": count}

    return _run_action(request, plan_id, action, success)


def _confirm_notify(request, plan: SunsetPlan, form: MoveForm) -> HttpResponse:
    """The first click on "Email ...": the board again, with the number of emails it would send
    and a button that sends them (a POST with `confirmed`); nothing is queued yet."""
    blocked = agent_emails_blocked(plan)
    if blocked:
        return _render_board(request, plan, errors=[blocked], status=FORM_ERROR_STATUS)
    agent_ids = form.agents()
    count = moves_to_notify(plan, agent_ids).count()
    return _render_board(
        request,
        plan,
        notify_confirm={
            "count": count,
            "scope": "all" if agent_ids is None else "selected",
            "agent_ids": agent_ids or [],
            "next": request.POST.get("next", ""),
        },
    )


@require_POST
@login_required
def plan_reassignments_notify(request, plan_id: int):
    if request.POST.get("confirmed") != "1":
        plan = _plan_for(request, plan_id, "manage_reassignments")
        try:
            form = _move_form(request)
            if form.agents() == []:
                raise ValidationError(_("Select at least one agent, or use the buttons for the whole plan."))
        except ValidationError as exc:
            return _render_board(request, plan, errors=_error_list(exc), status=FORM_ERROR_STATUS)
        return _confirm_notify(request, plan, form)

    def success(result):
        # One sentence per count, so that each can agree with its number in every language.
        sentences = [
            ngettext("%(count)s email queued.", "%(count)s emails queued.", result.queued) % {"count": result.queued}
        ]
        if result.requeued:
            sentences.append(
                ngettext(
                    "%(count)s failed email queued again.", "%(count)s failed emails queued again.", result.requeued
                )
                % {"count": result.requeued}
            )
        if result.already:
            sentences.append(
                ngettext(
                    "%(count)s agent was already told about this move.",
                    "%(count)s agents were already told about this move.",
                    result.already,
                )
                % {"count": result.already}
            )
        if result.unconfirmed:
            sentences.append(
                ngettext(
                    "%(count)s proposed move is not confirmed and was not announced.",
                    "%(count)s proposed moves are not confirmed and were not announced.",
                    result.unconfirmed,
                )
                % {"count": result.unconfirmed}
            )
        if result.without_email:
            sentences.append(_("No email address: %(names)s.") % {"names": ", ".join(result.without_email)})
        return " ".join(sentences)

    return _run_action(
        request,
        plan_id,
        lambda plan, form: notify_agents(actor=request.user, plan=plan, agent_ids=form.agents()),
        success,
    )


@require_GET
@login_required
def plan_reassignments_csv(request, plan_id: int):
    plan = _plan_for(request, plan_id)
    response = HttpResponse(export_reassignments_csv(plan), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="plan-{plan.pk}-reassignments.csv"'
    return response


@require_POST
@login_required
def plan_reassignments_import(request, plan_id: int):
    plan = _plan_for(request, plan_id, "manage_reassignments")
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _render_board(
            request, plan, errors=[_("Choose a CSV file to import.")], status=FORM_ERROR_STATUS, import_open=True
        )
    upload = form.cleaned_data["file"]
    if upload.size > reassignment_csv.MAX_BYTES:
        limit = reassignment_csv.MAX_BYTES // (1024 * 1024)
        return _render_board(
            request,
            plan,
            errors=[_("The file is larger than %(limit)s MB.") % {"limit": limit}],
            status=FORM_ERROR_STATUS,
        )
    try:
        result = import_reassignments_csv(actor=request.user, plan=plan, data=upload.read(), filename=upload.name)
    except CsvImportError as exc:
        return _render_board(
            request,
            plan,
            errors=[],
            import_errors=exc.lines,
            import_name=upload.name,
            status=FORM_ERROR_STATUS,
            import_open=True,
        )
    except ValidationError as exc:
        return _render_board(request, plan, errors=_error_list(exc), status=FORM_ERROR_STATUS)
    messages.success(
        request,
        ngettext(
            "%(file)s: %(changed)s move written, %(cleared)s removed, %(unchanged)s unchanged.",
            "%(file)s: %(changed)s moves written, %(cleared)s removed, %(unchanged)s unchanged.",
            result.changed,
        )
        % {"file": upload.name, "changed": result.changed, "cleared": result.cleared, "unchanged": result.unchanged},
    )
    return redirect(_board_url(request, plan))


# --- the staffing page ----------------------------------------------------------------------------


def _agent_action(request, plan_id: int, action, success) -> HttpResponse:
    """HR acting on one agent's answer from the board: reply, or send a new link."""
    plan = _plan_for(request, plan_id, "manage_reassignments")
    try:
        if action is reply_to_agent:
            form = AgentReplyForm(request.POST)
            if not form.is_valid():
                raise ValidationError([e for errors in form.errors.values() for e in errors])
            action(actor=request.user, plan=plan, agent_id=form.cleaned_data["agent"], text=form.cleaned_data["text"])
        else:
            agent = request.POST.get("agent", "")
            if not agent.isdigit():
                raise ValidationError(_("Choose an agent."))
            action(actor=request.user, plan=plan, agent_id=int(agent))
    except ValidationError as exc:
        return _render_board(request, plan, errors=_error_list(exc), status=FORM_ERROR_STATUS)
    messages.success(request, success)
    return redirect(_board_url(request, plan))


@require_POST
@login_required
def plan_reassignments_reply(request, plan_id: int):
    return _agent_action(
        request, plan_id, reply_to_agent, _("Reply sent: the agent sees it on their page and by email.")
    )


@require_POST
@login_required
def plan_reassignments_link(request, plan_id: int):
    return _agent_action(
        request, plan_id, send_new_link, _("New link sent: the links sent to this agent before no longer open it.")
    )


@require_http_methods(["GET", "POST"])
@login_required
def plan_staffing(request, plan_id: int):
    plan = _plan_for(request, plan_id)
    may_change = can(request.user, "manage_reassignments")
    status = 200
    if request.method == "POST":
        if not may_change:
            raise PermissionDenied(permission_denied_message("manage_reassignments"))
        form = StaffingInputsForm(request.POST)
        if form.is_valid():
            try:
                update_staffing_inputs(actor=request.user, plan=plan, **form.service_values())
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, _("Staffing inputs saved."))
                return redirect("plan_staffing", plan_id=plan.pk)
        status = 400
    report = staffing_check(plan)
    if request.method == "GET":
        form = StaffingInputsForm(initial=StaffingInputsForm.initial_from(report.inputs))
    context = {
        "plan": plan,
        "report": report,
        "form": form,
        "can_change": may_change,
        "capacity_chart": paired_bars([(t.name, t.occupied, t.after, t.capacity) for t in report.destinations]),
        "staffing_chart": paired_bars(
            [(q.target.label, q.needed, q.after, q.capacity) for q in report.queues if q.teams]
        ),
    }
    return render(request, STAFFING_TEMPLATE, context, status=status)


# --- outcomes: where the moved agents are 30, 60 and 90 days on ----------------------------------------

OUTCOMES_TEMPLATE = "channels_app/outcomes.html"


def _outcome_chart(report: OutcomeReport):
    total = report.total
    return stacked_bars(
        [
            (
                _("Day %(days)s") % {"days": cp.days},
                [
                    (IN_ROLE, cp.in_role),
                    (MOVED_AGAIN, cp.moved_again),
                    ("left", cp.left_total),
                    (NOT_YET, cp.not_yet),
                ],
                _("%(percent)s%% in role") % {"percent": cp.in_role_percent} if cp.reached else _("not yet"),
            )
            for cp in total.checkpoints
        ]
        if total.moved
        else []
    )


def _render_outcomes(request, plan: SunsetPlan | None, *, form: DepartureForm | None = None, status: int = 200):
    report = outcome_report(plan)
    may_record = can(request.user, "manage_workforce")
    context = {
        "plan": plan,
        "report": report,
        "chart": _outcome_chart(report),
        "left_reasons": LEFT_REASON_LABELS,
        "form": form if form is not None else (DepartureForm() if may_record else None),
        "may_record": may_record,
    }
    return render(request, OUTCOMES_TEMPLATE, context, status=status)


@require_GET
@login_required
def outcomes(request):
    require(request.user, "view_outcomes")
    return _render_outcomes(request, None)


@require_GET
@login_required
def plan_outcomes(request, plan_id: int):
    plan = _plan_for(request, plan_id, "view_outcomes")
    return _render_outcomes(request, plan)


def _csv_response(report: OutcomeReport, filename: str) -> HttpResponse:
    response = HttpResponse(outcomes_csv(report), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
@login_required
def outcomes_csv_export(request):
    require(request.user, "view_outcomes")
    return _csv_response(outcome_report(), "outcomes.csv")


@require_GET
@login_required
def plan_outcomes_csv(request, plan_id: int):
    plan = _plan_for(request, plan_id, "view_outcomes")
    return _csv_response(outcome_report(plan), f"plan-{plan.pk}-outcomes.csv")


@require_POST
@login_required
def outcomes_departure(request):
    """Record that an agent left (from either outcome page: `plan` says which one to show again)."""
    require(request.user, "manage_workforce")
    plan = None
    plan_id = request.POST.get("plan", "")
    if plan_id:
        if not plan_id.isdigit():
            return HttpResponseBadRequest(_("Unknown plan."))
        plan = get_object_or_404(SunsetPlan, pk=int(plan_id))
    form = DepartureForm(request.POST)
    if form.is_valid():
        try:
            record_departure(
                actor=request.user,
                agent=form.agent,
                left_on=form.cleaned_data["left_on"],
                reason=form.cleaned_data["reason"],
                note=form.cleaned_data["note"],
                deactivate=form.cleaned_data["deactivate"],
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(
                request,
                _("Recorded: %(agent)s left on %(day)s.") % {"agent": form.agent, "day": form.cleaned_data["left_on"]},
            )
            return go(request, reverse("plan_outcomes", args=[plan.pk]) if plan else reverse("outcomes"))
    return _render_outcomes(request, plan, form=form, status=FORM_ERROR_STATUS)
