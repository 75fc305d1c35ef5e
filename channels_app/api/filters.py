"""Query filters for list endpoints (django-filter). An invalid value is a 400."""

import django_filters as df

from ..models import (
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


class ChannelFilter(df.FilterSet):
    kind = df.MultipleChoiceFilter(choices=ChannelKind.choices)
    state = df.MultipleChoiceFilter(choices=ChannelState.choices)

    class Meta:
        model = Channel
        fields = ["kind", "state"]


class TeamFilter(df.FilterSet):
    site = df.CharFilter(lookup_expr="iexact")
    channel = df.NumberFilter(field_name="channels", label="Works this channel (id)")

    class Meta:
        model = Team
        fields = ["site", "channel"]


class AgentFilter(df.FilterSet):
    site = df.CharFilter(lookup_expr="iexact")
    team = df.NumberFilter(method="filter_team", label="Currently in this team (id)")

    class Meta:
        model = Agent
        fields = ["site", "is_active", "team"]

    def filter_team(self, queryset, name, value):
        return queryset.filter(assignments__team_id=value, assignments__ends_on__isnull=True).distinct()


class PlanFilter(df.FilterSet):
    state = df.MultipleChoiceFilter(choices=PlanState.choices)
    channel = df.NumberFilter(field_name="plan_channels__channel_id", label="Retires this channel (id)")
    author = df.CharFilter(field_name="author__username", label="Author's user name")

    class Meta:
        model = SunsetPlan
        fields = ["state", "channel", "author"]


class AutoReplyFilter(df.FilterSet):
    plan = df.NumberFilter(field_name="plan_id")
    phase_kind = df.MultipleChoiceFilter(choices=PhaseKind.choices)
    locale = df.CharFilter()

    class Meta:
        model = AutoReply
        fields = ["plan", "phase_kind", "locale"]


class ReassignmentFilter(df.FilterSet):
    plan = df.NumberFilter(field_name="plan_id")
    agent = df.NumberFilter(field_name="agent_id")
    to_team = df.NumberFilter(field_name="to_team_id")
    state = df.MultipleChoiceFilter(choices=ReassignmentState.choices)

    class Meta:
        model = Reassignment
        fields = ["plan", "agent", "to_team", "state"]


class CutoverRunFilter(df.FilterSet):
    plan = df.NumberFilter(field_name="plan_id")
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
