"""Query filters for list endpoints (django-filter). An invalid value is a 400."""

import django_filters as df
from django import forms
from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter

from channels_app.models import (
    Agent,
    AuditEvent,
    AutoReply,
    Channel,
    ChannelKind,
    ChannelState,
    CutoverRun,
    PhaseKind,
    PlanState,
    Reassignment,
    ReassignmentState,
    RunState,
    SunsetPlan,
    Team,
)


class IdFilter(df.NumberFilter):
    """An object id: a whole number (django-filter's NumberFilter takes decimals)."""

    field_class = forms.IntegerField


class StrictBooleanField(forms.Field):
    def to_python(self, value):
        if value in (None, ""):
            return None
        if value in ("true", "false"):
            return value == "true"
        raise forms.ValidationError(_("Use true or false."))


class BooleanFilter(df.BooleanFilter):
    """true or false, nothing else (django-filter also takes "null", "1", "yes")."""

    field_class = StrictBooleanField


class ChannelFilter(df.FilterSet):
    kind = df.MultipleChoiceFilter(choices=ChannelKind.choices)
    state = df.MultipleChoiceFilter(choices=ChannelState.choices)

    class Meta:
        model = Channel
        fields = ["kind", "state"]


class TeamFilter(df.FilterSet):
    site = df.CharFilter(lookup_expr="iexact")
    channel = IdFilter(field_name="channels", label="Works this channel (id)")

    class Meta:
        model = Team
        fields = ["site", "channel"]


class AgentFilter(df.FilterSet):
    site = df.CharFilter(lookup_expr="iexact")
    team = IdFilter(method="filter_team", label="Currently in this team (id)")
    is_active = BooleanFilter()

    class Meta:
        model = Agent
        fields = ["site", "is_active", "team"]

    def filter_team(self, queryset, name, value):
        return queryset.filter(assignments__team_id=value, assignments__ends_on__isnull=True).distinct()


class PlanFilter(df.FilterSet):
    state = df.MultipleChoiceFilter(choices=PlanState.choices)
    channel = IdFilter(field_name="plan_channels__channel_id", label="Retires this channel (id)")
    author = df.CharFilter(field_name="author__username", label="Author's user name")

    class Meta:
        model = SunsetPlan
        fields = ["state", "channel", "author"]


class AutoReplyFilter(df.FilterSet):
    plan = IdFilter(field_name="plan_id")
    phase_kind = df.MultipleChoiceFilter(choices=PhaseKind.choices)
    locale = df.CharFilter()

    class Meta:
        model = AutoReply
        fields = ["plan", "phase_kind", "locale"]


class ReassignmentFilter(df.FilterSet):
    plan = IdFilter(field_name="plan_id")
    agent = IdFilter(field_name="agent_id")
    to_team = IdFilter(field_name="to_team_id")
    state = df.MultipleChoiceFilter(choices=ReassignmentState.choices)

    class Meta:
        model = Reassignment
        fields = ["plan", "agent", "to_team", "state"]


class CutoverRunFilter(df.FilterSet):
    plan = IdFilter(field_name="plan_id")
    state = df.MultipleChoiceFilter(choices=RunState.choices)

    class Meta:
        model = CutoverRun
        fields = ["plan", "state"]


class AuditEventFilter(df.FilterSet):
    action = df.CharFilter()
    object_type = df.CharFilter()
    object_id = df.CharFilter()
    actor = df.CharFilter(field_name="actor_label", label="Actor (user name or system:<worker>)")
    at = df.IsoDateTimeFromToRangeFilter(label="Between two instants: at_after, at_before (ISO 8601)")

    class Meta:
        model = AuditEvent
        fields = ["action", "object_type", "object_id", "actor", "at"]


class StrictOrderingFilter(OrderingFilter):
    """?ordering=name,-created_at. An unknown field is a 400 that lists the
    known ones (DRF's own filter silently ignores it)."""

    def get_ordering(self, request, queryset, view):
        raw = request.query_params.get(self.ordering_param, "")
        if raw.strip():
            valid = {name for name, _label in self.get_valid_fields(queryset, view, {"request": request})}
            terms = [term.strip() for term in raw.split(",")]
            unknown = [t for t in terms if t.lstrip("-") not in valid]
            if unknown:
                raise ValidationError(
                    {
                        self.ordering_param: [
                            _("Cannot order by %(unknown)s; use %(known)s.")
                            % {"unknown": ", ".join(unknown), "known": ", ".join(sorted(valid))}
                        ]
                    }
                )
        return super().get_ordering(request, queryset, view)


def check_single_values(request, view) -> None:
    """A query parameter given twice is ambiguous unless it is a list filter
    (?state=draft&state=scheduled): refuse it rather than pick one."""
    filterset = getattr(view, "filterset_class", None)
    lists = (
        {name for name, f in filterset.base_filters.items() if isinstance(f, df.MultipleChoiceFilter)}
        if filterset
        else set()
    )
    repeated = sorted(k for k in request.query_params if k not in lists and len(request.query_params.getlist(k)) > 1)
    if repeated:
        raise ValidationError({name: [_("Give this parameter once.")] for name in repeated})
