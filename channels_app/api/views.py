"""API views: fetch, validate (serializer), delegate (service), respond.

Each viewset maps its operations to actions of the role matrix in
`action_permissions`; an operation missing from the map is refused.
"""

import re
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import filters, mixins, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.permissions import SAFE_METHODS, IsAuthenticated
from rest_framework.response import Response

from channels_app.accounts.services import create_api_token, revoke_api_token
from channels_app.api import filters as api_filters
from channels_app.api import serializers as s
from channels_app.api.authentication import BearerTokenAuthentication
from channels_app.api.errors import api_exception_handler
from channels_app.api.permissions import RolePermission
from channels_app.api.schema import SingleObjectSchema
from channels_app.api.throttling import ApiUserThrottle
from channels_app.core import textrules
from channels_app.core.reply_checks import platform_label, reply_problems
from channels_app.cutover.selectors import preview_phase
from channels_app.directory.services import (
    create_agent,
    create_team,
    register_channel,
    update_agent,
    update_channel,
    update_team,
)
from channels_app.handoff.selectors import (
    CONTACT_FORM,
    FUNNEL_DEFAULT_RANGE,
    FUNNEL_RANGES,
    plan_contact_requests,
    plan_funnel_report,
    plan_funnel_series,
)
from channels_app.models import (
    Agent,
    AgentDeparture,
    ApiToken,
    Assignment,
    AuditEvent,
    AutoReply,
    Channel,
    CutoverRun,
    Phase,
    Reassignment,
    SunsetPlan,
    Team,
    UserProfile,
)
from channels_app.plans.selectors import placeholder_values
from channels_app.plans.services.plans import (
    AutoReplyInput,
    PhaseInput,
    PublicNoticeInput,
    RedirectInput,
    approve_plan,
    cancel_plan,
    confirm_reassignments,
    create_plan,
    reject_plan,
    reschedule_phase,
    submit_plan,
    update_plan,
)
from channels_app.plans.services.preflight import run_preflight
from channels_app.workforce.selectors import outcome_report
from channels_app.workforce.services.bulk import ReassignmentInput, propose_reassignments
from channels_app.workforce.services.departures import record_departure
from channels_app.workforce.services.moves import notify_agents

# Largest value a bigint primary key can hold; larger ids cannot exist.
_MAX_ID = 2**63 - 1
_ASCII_NUMBER = re.compile(r"^[0-9]{1,19}$")  # str.isdigit() also accepts "¹", which int() refuses


def _is_id(value) -> bool:
    return bool(_ASCII_NUMBER.match(str(value))) and 0 < int(value) <= _MAX_ID


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request):
        # DRF silently falls back to the default on a bad value; say so instead.
        raw = request.query_params.get(self.page_size_query_param)
        if raw not in (None, "") and not (_ASCII_NUMBER.match(raw) and 1 <= int(raw) <= self.max_page_size):
            raise ValidationError(
                {"page_size": [_("Give a whole number from 1 to %(max)s.") % {"max": self.max_page_size}]}
            )
        return super().get_page_size(request)

    def get_schema_operation_parameters(self, view):
        # State in the schema the bounds enforced above (and that a page number starts at 1).
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": self.max_page_size,
                    "default": self.page_size,
                }
            elif parameter["name"] == self.page_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
        return parameters


class DuskViewSet(viewsets.GenericViewSet):
    authentication_classes = [BearerTokenAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated, RolePermission]
    throttle_classes = [ApiUserThrottle]
    pagination_class = Pagination
    filter_backends = [DjangoFilterBackend, filters.SearchFilter, api_filters.StrictOrderingFilter]
    # Any path segment reaches the view, so a malformed id is a JSON 404 too
    # (get_object checks it), not the HTML page of an unmatched URL.
    lookup_value_regex = "[^/]+"
    parser_classes = [JSONParser]
    # operation (viewset action) -> action of the role matrix
    action_permissions: dict[str, str] = {}
    # POST operations that only read (previews): a read-scoped token may call them
    read_only_operations: frozenset[str] = frozenset()
    allow_token_auth = True

    def required_action(self) -> str | None:
        if self.action == "metadata":  # OPTIONS describes the fields: as readable as the list
            return self.action_permissions.get("list", "view")
        return self.action_permissions.get(self.action or "")

    def is_read_only_operation(self) -> bool:
        return self.request.method in SAFE_METHODS or self.action in self.read_only_operations

    def get_exception_handler(self):
        return api_exception_handler

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        api_filters.check_single_values(request, self)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        # JSON only: nothing here may load scripts, styles or frames.
        response.setdefault("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
        response.setdefault("Cache-Control", "no-store")
        return response

    def get_object(self):
        value = self.kwargs.get(self.lookup_url_kwarg or self.lookup_field)
        if value is not None and not _is_id(value):
            raise Http404
        return super().get_object()

    def validated(self, serializer_class, *, partial: bool = False) -> dict:
        serializer = serializer_class(data=self.request.data, partial=partial, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def respond(self, obj, serializer_class=None, status_code=status.HTTP_200_OK) -> Response:
        serializer_class = serializer_class or self.get_serializer_class()
        return Response(serializer_class(obj, context=self.get_serializer_context()).data, status=status_code)


READ = {"list": "view", "retrieve": "view"}


def _profile_zone(user) -> ZoneInfo:
    """The person's profile time zone, as the pages use it (UTC when unset or unknown here)."""
    name = UserProfile.objects.filter(user=user).values_list("time_zone", flat=True).first() or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _id_param(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.INT, OpenApiParameter.PATH, description=description)


# --- channels -----------------------------------------------------------------------------------


@extend_schema_view(
    create=extend_schema(request=s.ChannelInput, responses={201: s.ChannelSerializer}),
    update=extend_schema(request=s.ChannelInput, responses=s.ChannelSerializer),
    partial_update=extend_schema(request=s.ChannelInput, responses=s.ChannelSerializer),
)
class ChannelViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, DuskViewSet):
    """Channels customers reach support on. State changes only through plans."""

    queryset = Channel.objects.all()
    serializer_class = s.ChannelSerializer
    filterset_class = api_filters.ChannelFilter
    search_fields = ["name", "handle"]
    ordering_fields = ["name", "kind", "state", "created_at", "updated_at"]
    ordering = ["name"]
    http_method_names = ["get", "post", "put", "patch", "head", "options"]
    action_permissions = {
        **READ,
        "create": "manage_channels",
        "update": "manage_channels",
        "partial_update": "manage_channels",
    }

    def create(self, request):
        data = self.validated(s.ChannelInput)
        channel = register_channel(actor=request.user, **data)
        return self.respond(channel, status_code=status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        channel = self.get_object()
        data = self.validated(s.ChannelInput, partial=partial)
        channel = update_channel(actor=request.user, channel=channel, **data)
        return self.respond(channel)

    def partial_update(self, request, pk=None):
        return self.update(request, pk, partial=True)


# --- teams ----------------------------------------------------------------------------------------


@extend_schema_view(
    create=extend_schema(request=s.TeamInput, responses={201: s.TeamSerializer}),
    update=extend_schema(request=s.TeamInput, responses=s.TeamSerializer),
    partial_update=extend_schema(request=s.TeamInput, responses=s.TeamSerializer),
)
class TeamViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, DuskViewSet):
    """Teams of agents: capacity, languages, skills, site and the channels they work."""

    queryset = Team.objects.prefetch_related("channels")
    serializer_class = s.TeamSerializer
    filterset_class = api_filters.TeamFilter
    search_fields = ["name", "site"]
    ordering_fields = ["name", "capacity", "site"]
    ordering = ["name"]
    http_method_names = ["get", "post", "put", "patch", "head", "options"]
    action_permissions = {
        **READ,
        "create": "manage_workforce",
        "update": "manage_workforce",
        "partial_update": "manage_workforce",
    }

    @staticmethod
    def _arguments(data: dict) -> dict:
        data = dict(data)
        if "channels" in data:
            data["channel_ids"] = [c.pk for c in data.pop("channels")]
        return data

    def create(self, request):
        data = self._arguments(self.validated(s.TeamInput))
        team = create_team(actor=request.user, **data)
        return self.respond(self.get_queryset().get(pk=team.pk), status_code=status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        team = self.get_object()
        data = self._arguments(self.validated(s.TeamInput, partial=partial))
        update_team(actor=request.user, team=team, **data)
        return self.respond(self.get_queryset().get(pk=team.pk))

    def partial_update(self, request, pk=None):
        return self.update(request, pk, partial=True)


# --- agents -----------------------------------------------------------------------------------------


@extend_schema_view(
    create=extend_schema(request=s.AgentCreateInput, responses={201: s.AgentSerializer}),
    update=extend_schema(request=s.AgentUpdateInput, responses=s.AgentSerializer),
    partial_update=extend_schema(request=s.AgentUpdateInput, responses=s.AgentSerializer),
)
class AgentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, DuskViewSet):
    """Staff members and the teams they are in now."""

    queryset = Agent.objects.prefetch_related(
        Prefetch(
            "assignments",
            queryset=Assignment.objects.filter(ends_on__isnull=True).select_related("team").order_by("team__name"),
            to_attr="open_assignments",
        ),
        Prefetch("departures", queryset=AgentDeparture.objects.order_by("-left_on", "-id"), to_attr="departure_list"),
    )
    serializer_class = s.AgentSerializer
    filterset_class = api_filters.AgentFilter
    search_fields = ["name", "employee_id", "email"]
    ordering_fields = ["name", "employee_id", "site"]
    ordering = ["name", "id"]
    http_method_names = ["get", "post", "put", "patch", "head", "options"]
    action_permissions = {
        **READ,
        "create": "manage_workforce",
        "update": "manage_workforce",
        "partial_update": "manage_workforce",
        "departure": "manage_workforce",
    }

    @staticmethod
    def _arguments(data: dict) -> dict:
        data = dict(data)
        if "preferred_team" in data:
            team = data.pop("preferred_team")
            data["preferred_team_id"] = team.pk if team else None
        return data

    def create(self, request):
        data = self._arguments(self.validated(s.AgentCreateInput))
        agent = create_agent(actor=request.user, **data)
        return self.respond(self.get_queryset().get(pk=agent.pk), status_code=status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        agent = self.get_object()
        data = self._arguments(self.validated(s.AgentUpdateInput, partial=partial))
        update_agent(actor=request.user, agent=agent, **data)
        return self.respond(self.get_queryset().get(pk=agent.pk))

    def partial_update(self, request, pk=None):
        return self.update(request, pk, partial=True)

    @extend_schema(request=s.DepartureInput, responses={201: s.DepartureSerializer})
    @action(detail=True, methods=["post"])
    def departure(self, request, pk=None):
        """Record that the agent left, with the reason (declined the role, resigned, other): their
        open assignments end on `left_on` with no new one, and `deactivate` deactivates them (the
        same rule as the outcome pages' form). The outcome report shows the reason."""
        agent = self.get_object()
        data = self.validated(s.DepartureInput)
        departure = record_departure(actor=request.user, agent=agent, **data)
        return self.respond(departure, s.DepartureSerializer, status_code=status.HTTP_201_CREATED)


# --- plans --------------------------------------------------------------------------------------------


def _plan_contents(data: dict) -> dict:
    return {
        "title": data["title"],
        "default_locale": data.get("default_locale", "en"),
        "channel_ids": list(data["channels"]),
        "phases": [
            PhaseInput(p["kind"], p["local_date"], p["local_time"], p["time_zone"], p.get("region", ""))
            for p in data["phases"]
        ],
        "redirects": [
            RedirectInput(
                r["kind"],
                r["label"],
                r["value"],
                r.get("expected_share", 0.0),
                r.get("reference_mode", ""),
                r.get("reference_name", ""),
            )
            for r in data.get("redirects", [])
        ],
        "auto_replies": [AutoReplyInput(a["phase_kind"], a["locale"], a["text"]) for a in data.get("auto_replies", [])],
        # Left out: None, and update_plan keeps the plan's public notice as it is.
        "public_notices": None
        if data.get("public_notices") is None
        else [
            PublicNoticeInput(n["locale"], n["text"], n["moved_text"], n["title"], n["body"])
            for n in data["public_notices"]
        ],
    }


def _current_contents(plan: SunsetPlan) -> dict:
    """A plan as PlanInput data (JSON types), so PATCH can change some parts and keep the rest."""
    return {
        "title": plan.title,
        "default_locale": plan.default_locale,
        "channels": [c.pk for c in plan.channels.all()],
        "phases": [
            {
                "kind": p.kind,
                "local_date": p.local_date.isoformat(),
                "local_time": p.local_time.isoformat(),
                "time_zone": p.time_zone,
                "region": p.region,
            }
            for p in plan.phases.all()
        ],
        "redirects": [
            {
                "kind": r.kind,
                "label": r.label,
                "value": r.value,
                "expected_share": r.expected_share,
                "reference_mode": r.reference_mode,
                "reference_name": r.reference_name,
            }
            for r in plan.redirects.all()
        ],
        "auto_replies": [
            {"phase_kind": a.phase_kind, "locale": a.locale, "text": a.text} for a in plan.auto_replies.all()
        ],
        "public_notices": [
            {"locale": n.locale, "text": n.text, "moved_text": n.moved_text, "title": n.title, "body": n.body}
            for n in plan.public_notices.all()
        ],
    }


@extend_schema_view(
    create=extend_schema(request=s.PlanInput, responses={201: s.PlanSerializer}),
    update=extend_schema(request=s.PlanInput, responses=s.PlanSerializer),
    partial_update=extend_schema(request=s.PlanInput, responses=s.PlanSerializer),
)
class PlanViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, DuskViewSet):
    """Sunset plans, with their auto-replies and public notice. Editing is for drafts; the rest of the
    lifecycle is actions."""

    queryset = SunsetPlan.objects.select_related("author", "approved_by").prefetch_related(
        "channels", "phases", "redirects", "auto_replies", "public_notices"
    )
    serializer_class = s.PlanSerializer
    filterset_class = api_filters.PlanFilter
    search_fields = ["title"]
    ordering_fields = ["created_at", "updated_at", "title", "state"]
    ordering = ["-created_at", "-id"]
    http_method_names = ["get", "post", "put", "patch", "head", "options"]
    action_permissions = {
        **READ,
        "create": "draft_plan",
        "update": "draft_plan",
        "partial_update": "draft_plan",
        "submit": "submit_plan",
        "approve": "approve_plan",
        "reject": "approve_plan",
        "cancel": "cancel_plan",
        "reschedule": "reschedule_plan",
        "preview": "view",
        "preflight": "view",
        "funnel": "view",
        "contact_requests": "read_contact_requests",
        "outcomes": "view_outcomes",
        "reassignments": "manage_reassignments",
        "confirm_reassignments": "manage_reassignments",
        "notify_agents": "manage_reassignments",
    }

    def _fresh(self, plan: SunsetPlan) -> SunsetPlan:
        return self.get_queryset().get(pk=plan.pk)

    def _act(self, service, inputs=None, *fields: str):
        """A lifecycle action: the plan, the validated input's fields, the one service every door
        calls, then the plan as it is now."""
        plan = self.get_object()
        data = self.validated(inputs) if inputs else {}
        service(actor=self.request.user, plan=plan, **{name: data[name] for name in fields})
        return self.respond(self._fresh(plan))

    def create(self, request):
        data = self.validated(s.PlanInput)
        contents = _plan_contents(data)
        contents["public_notices"] = contents["public_notices"] or ()
        plan = create_plan(actor=request.user, **contents)
        return self.respond(self._fresh(plan), status_code=status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        plan = self.get_object()
        if partial:
            # Lay the given parts over the plan as it is, then validate the whole:
            # a PATCHed phase list must still be complete phases.
            if not isinstance(request.data, dict):
                raise ValidationError({"non_field_errors": [_("Send a JSON object.")]})
            serializer = s.PlanInput(data={**_current_contents(plan), **request.data})
            serializer.is_valid(raise_exception=True)
            merged = serializer.validated_data
        else:
            merged = self.validated(s.PlanInput)
        update_plan(actor=request.user, plan=plan, **_plan_contents(merged))
        return self.respond(self._fresh(plan))

    def partial_update(self, request, pk=None):
        return self.update(request, pk, partial=True)

    @extend_schema(request=None, responses=s.PlanSerializer)
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        """Send a draft to a second person for approval."""
        return self._act(submit_plan)

    @extend_schema(request=s.ApproveInput, responses=s.PlanSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """Approve a plan pending approval (not one's own); its phases become scheduled."""
        return self._act(approve_plan, s.ApproveInput, "comment")

    @extend_schema(request=s.RejectInput, responses=s.PlanSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        """Send a plan back to draft with a comment saying what must change."""
        return self._act(reject_plan, s.RejectInput, "comment")

    @extend_schema(request=s.CancelInput, responses=s.PlanSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a plan that has not run; scheduled phases will not run."""
        return self._act(cancel_plan, s.CancelInput, "reason")

    @extend_schema(
        request=s.RescheduleInput,
        responses=s.PhaseSerializer,
        parameters=[_id_param("phase_id", "The phase to move (a phase of this plan)")],
    )
    @action(detail=True, methods=["post"], url_path=r"phases/(?P<phase_id>[^/]+)/reschedule")
    def reschedule(self, request, pk=None, phase_id=None):
        """Move one phase that has not run to another local date, time and zone."""
        plan = self.get_object()
        if not _is_id(phase_id):
            raise Http404
        phase = get_object_or_404(Phase, pk=int(phase_id), plan=plan)
        data = self.validated(s.RescheduleInput)
        phase = reschedule_phase(actor=request.user, phase=phase, **data)
        return self.respond(phase, s.PhaseSerializer)

    @extend_schema(
        responses=s.PlanPreviewSerializer,
        parameters=[OpenApiParameter("phase", OpenApiTypes.INT, description="Only this phase (id)")],
    )
    @action(detail=True, methods=["get"])
    def preview(self, request, pk=None):
        """What each phase would change if it ran now. Changes nothing."""
        plan = self.get_object()
        phases = list(Phase.objects.filter(plan=plan).select_related("plan__author", "plan__approved_by"))
        wanted = request.query_params.get("phase")
        if wanted is not None:
            phases = [p for p in phases if str(p.pk) == wanted]
            if not phases:
                raise Http404
        previews = [preview_phase(phase) for phase in phases]
        body = {"plan": plan.pk, "changes_nothing": True, "phases": previews}
        return Response(s.PlanPreviewSerializer(body).data)

    @extend_schema(
        responses=s.FunnelSerializer,
        parameters=[
            OpenApiParameter(
                "range",
                OpenApiTypes.STR,
                enum=list(FUNNEL_RANGES),
                description="The series' period: 2d (per hour), 7d, 30d (the default), 90d, all (per day)",
            )
        ],
    )
    @action(detail=True, methods=["get"])
    def funnel(self, request, pk=None):
        """Where the plan's customers went: redirected, notified, landed (people only), chose a
        destination, arrived, solved; each step counts those who reached it and every step before.
        The same by channel, by destination (the target chosen first) and by language, and the
        landings, choices, arrivals and solved per hour or day in the token owner's time zone."""
        plan = self.get_object()
        span = request.query_params.get("range", FUNNEL_DEFAULT_RANGE)
        if span not in FUNNEL_RANGES:
            raise ValidationError(
                {
                    "range": [
                        _("Unknown range: range must be one of %(allowed)s.") % {"allowed": ", ".join(FUNNEL_RANGES)}
                    ]
                }
            )
        zone = _profile_zone(request.user)
        report = plan_funnel_report(plan.pk)
        series = plan_funnel_series(plan.pk, zone=zone, days=FUNNEL_RANGES[span])
        body = {
            "plan": plan.pk,
            "steps": report.steps,
            "by_channel": report.by_channel,
            "by_destination": [
                {
                    "choice": "none" if row.key is None else "contact_form" if row.key == CONTACT_FORM else "target",
                    "position": None if row.key is None or row.key == CONTACT_FORM else row.key,
                    "label": row.label,
                    "steps": row.steps,
                }
                for row in report.by_destination
            ],
            "by_language": report.by_language,
            "series": {"unit": series.unit, "range": span, "time_zone": str(zone), "points": series.points},
        }
        with timezone.override(zone):  # the instants as the series counts them, with its offset
            data = s.FunnelSerializer(body).data
        return Response(data)

    @extend_schema(responses=s.ContactRequestSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="contact-requests", filter_backends=[])
    def contact_requests(self, request, pk=None):
        """What customers wrote on the plan's landing page, newest first, paged: the reference of
        their moved conversation, their name and address, the message, the transcript, and where
        each was handed off (empty: kept in Dusk only). Managers and admins only."""
        plan = self.get_object()
        page = self.paginate_queryset(plan_contact_requests(plan.pk))
        return self.get_paginated_response(s.ContactRequestSerializer(page, many=True).data)

    @extend_schema(responses=s.OutcomeReportSerializer)
    @action(detail=True, methods=["get"])
    def outcomes(self, request, pk=None):
        """Where the agents this plan's cutover moved are 30, 60 and 90 days after the move: in
        role, moved again, left (by HR's recorded reason) or not yet (that day has not come)."""
        plan = self.get_object()
        return Response(s.OutcomeReportSerializer(outcome_report(plan)).data)

    @extend_schema(responses=s.PreflightSerializer)
    @action(detail=True, methods=["get"])
    def preflight(self, request, pk=None):
        """What would block submission, approval or the run: credentials named and set, a real
        read-only call to each channel's platform, replies that render, capacity and the agent
        guard. Changes nothing."""
        plan = self.get_object()
        return Response(s.PreflightSerializer(run_preflight(plan).as_dict()).data)

    @extend_schema(request=s.ReassignmentBulkInput, responses=s.ReassignmentBulkResult)
    @action(detail=True, methods=["post"])
    def reassignments(self, request, pk=None):
        """Propose (or change) destinations for many affected agents at once: all or nothing."""
        plan = self.get_object()
        data = self.validated(s.ReassignmentBulkInput)
        items = [
            ReassignmentInput(i["agent"], i["to_team"], i["effective_date"], i.get("role", "")) for i in data["items"]
        ]
        done = propose_reassignments(actor=request.user, plan=plan, items=items)
        rows = Reassignment.objects.filter(pk__in=[r.pk for r in done]).select_related("agent", "from_team", "to_team")
        return Response(s.ReassignmentBulkResult({"reassignments": rows}).data)

    @extend_schema(request=s.ConfirmInput, responses=s.ConfirmResult)
    @action(detail=True, methods=["post"], url_path="reassignments/confirm")
    def confirm_reassignments(self, request, pk=None):
        """Confirm proposed reassignments (all of the plan's, or the given ids)."""
        plan = self.get_object()
        data = self.validated(s.ConfirmInput)
        count = confirm_reassignments(actor=request.user, plan=plan, reassignment_ids=data.get("ids"))
        return Response({"confirmed": count})

    @extend_schema(request=s.NotifyInput, responses=s.NotifyResult)
    @action(detail=True, methods=["post"], url_path="reassignments/notify")
    def notify_agents(self, request, pk=None):
        """Email agents with a confirmed move their new team, each in their language (the same
        rule as the board's "Email agents"): refused with 409 until the plan is approved; an agent
        already told about the same move is not emailed again."""
        plan = self.get_object()
        data = self.validated(s.NotifyInput)
        result = notify_agents(actor=request.user, plan=plan, agent_ids=data.get("agents"))
        return Response(s.NotifyResult(result).data)


class OutcomeViewSet(DuskViewSet):
    """The outcome report over every plan: the same figures as the Outcomes page."""

    pagination_class = None
    filter_backends = []
    schema = SingleObjectSchema()  # one report, not a list of them
    action_permissions = {"list": "view_outcomes"}

    @extend_schema(responses=s.OutcomeReportSerializer)
    def list(self, request):
        """Every moved agent 30, 60 and 90 days after the move (in role, moved again, left by
        reason, not yet), in total and per plan."""
        return Response(s.OutcomeReportSerializer(outcome_report()).data)


# --- auto-replies -------------------------------------------------------------------------------------


def _render_preview(
    text: str, plan: SunsetPlan | None, platforms: list[str] | None, given: dict, *, locale: str
) -> dict:
    if platforms is None:
        kinds = sorted({c.kind for c in plan.channels.all()}) if plan is not None else []
        platforms = kinds or sorted(textrules.LIMITS)
    # Worst-case samples for what only a real customer has, then the plan's redirects, then the caller's.
    values = dict(textrules.WORST_CASE_SAMPLES)
    if plan is not None:
        values.update({k: v for k, v in placeholder_values(plan, locale=locale).items() if v})
    values.update(given)
    renders = []
    for kind in platforms:
        rendered = textrules.render(text, values)
        length = textrules.length_for(kind, rendered)
        limit = textrules.LIMITS.get(kind)
        problems = reply_problems(text, kind, sample_values=values)
        renders.append(
            {
                "platform": kind,
                "label": platform_label(kind),
                "rendered": rendered,
                "length": length,
                "limit": limit,
                "unit": "weighted characters" if kind == "x" else "characters",
                "fits": limit is None or length <= limit,
                "problems": problems,
            }
        )
    return {"text": text, "placeholders": textrules.find_placeholders(text), "values": values, "renders": renders}


class AutoReplyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, DuskViewSet):
    """Auto-replies are written as part of a plan (PUT/PATCH the plan); here they
    are listed and previewed per platform."""

    queryset = AutoReply.objects.all()
    serializer_class = s.AutoReplySerializer
    filterset_class = api_filters.AutoReplyFilter
    ordering_fields = ["phase_kind", "locale", "id"]
    ordering = ["plan_id", "phase_kind", "locale"]
    action_permissions = {**READ, "preview": "view", "render": "view"}
    read_only_operations = frozenset({"render"})

    @extend_schema(responses=s.AutoReplyPreviewSerializer)
    @action(detail=True, methods=["get"])
    def preview(self, request, pk=None):
        """This reply rendered for each platform of its plan, with its length against the platform's limit."""
        reply = self.get_object()
        plan = SunsetPlan.objects.prefetch_related("channels", "redirects", "phases").get(pk=reply.plan_id)
        return Response(
            s.AutoReplyPreviewSerializer(_render_preview(reply.text, plan, None, {}, locale=reply.locale)).data
        )

    @extend_schema(request=s.AutoReplyPreviewInput, responses=s.AutoReplyPreviewSerializer)
    @action(detail=False, methods=["post"])
    def render(self, request):
        """Render a draft text for platforms before saving it. Changes nothing."""
        data = self.validated(s.AutoReplyPreviewInput)
        plan = data.get("plan")
        locale = data.get("locale") or (plan.default_locale if plan is not None else "en")
        body = _render_preview(data["text"], plan, data.get("platforms"), data.get("values", {}), locale=locale)
        return Response(s.AutoReplyPreviewSerializer(body).data)


# --- reassignments, runs, audit -----------------------------------------------------------------------------


class ReassignmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, DuskViewSet):
    """Agents' moves. Write them with POST /plans/{id}/reassignments/ (bulk)."""

    queryset = Reassignment.objects.select_related("agent", "from_team", "to_team")
    serializer_class = s.ReassignmentSerializer
    filterset_class = api_filters.ReassignmentFilter
    search_fields = ["agent__name", "agent__employee_id"]
    ordering_fields = ["agent__name", "effective_date", "state", "id"]
    ordering = ["agent__name", "id"]
    action_permissions = dict(READ)


class CutoverRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, DuskViewSet):
    """Executions of phases by the workers, with step-by-step progress."""

    queryset = CutoverRun.objects.select_related("phase")
    serializer_class = s.CutoverRunSerializer
    filterset_class = api_filters.CutoverRunFilter
    ordering_fields = ["queued_at", "started_at", "finished_at", "id"]
    ordering = ["-queued_at", "-id"]
    action_permissions = dict(READ)


class AuditEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, DuskViewSet):
    """The append-only, hash-chained audit trail (read only)."""

    queryset = AuditEvent.objects.all()
    serializer_class = s.AuditEventSerializer
    filterset_class = api_filters.AuditEventFilter
    ordering_fields = ["id", "at"]
    ordering = ["-id"]
    action_permissions = {"list": "view_audit", "retrieve": "view_audit"}


# --- tokens -----------------------------------------------------------------------------------------------


@extend_schema_view(create=extend_schema(request=s.ApiTokenInput, responses={201: s.ApiTokenCreatedSerializer}))
class ApiTokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, DuskViewSet):
    """Your API tokens (the admin role sees everyone's). Managed from a signed-in
    session only: a token cannot create or revoke tokens."""

    serializer_class = s.ApiTokenSerializer
    ordering_fields = ["created_at", "name", "last_used_at"]
    ordering = ["-created_at", "-id"]
    filter_backends = [api_filters.StrictOrderingFilter]
    allow_token_auth = False
    action_permissions = {
        "list": "use_api_tokens",
        "retrieve": "use_api_tokens",
        "create": "use_api_tokens",
        "revoke": "use_api_tokens",
    }

    def get_queryset(self):
        # Someone else's token is not found (404), not forbidden: its existence is not revealed.
        return ApiToken.objects.visible_to(self.request.user).select_related("owner")

    def create(self, request):
        data = self.validated(s.ApiTokenInput)
        token, secret = create_api_token(
            actor=request.user,
            name=data["name"],
            scopes=sorted(data["scopes"]),
            expires_at=timezone.now() + timedelta(days=data["expires_in_days"]),
        )
        token.token = secret
        return self.respond(token, s.ApiTokenCreatedSerializer, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.ApiTokenSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        """Revoke a token now; requests with it answer 401 from then on."""
        token = self.get_object()
        token = revoke_api_token(actor=request.user, token=token)
        return self.respond(token)
