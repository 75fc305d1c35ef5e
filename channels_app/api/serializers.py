"""Explicit fields everywhere. Output serializers describe objects; input
serializers check shapes and types, then the views hand the values to services,
which do the domain validation and the writing."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from channels_app.core import textrules
from channels_app.core.zones import LOCALE_CHOICES, LOCALE_RE
from channels_app.directory.services import MAX_CATEGORY_ID, MAX_READ_ONLY_CATEGORIES
from channels_app.models import (
    Agent,
    AgentDeparture,
    AgentLanguage,
    ApiToken,
    AuditEvent,
    AutoReply,
    Channel,
    ChannelKind,
    CutoverRun,
    DepartureReason,
    Phase,
    PhaseKind,
    PublicNotice,
    Reassignment,
    RedirectKind,
    RedirectTarget,
    ReferenceMode,
    SunsetPlan,
    Team,
    TokenScope,
)
from channels_app.models.channels import API_URL_SCHEMES, validate_secret_name
from channels_app.models.runs import Step
from channels_app.workforce.selectors import relocation

# --- input: unknown and read-only fields are refused, never silently dropped ---------------


def _json_type_problem(field, value) -> str | None:
    """DRF coerces "5" to 5, 1 to "1" and "yes" to True; an API with a schema
    should not guess. Returns a message when value has the wrong JSON type."""
    if value is None or isinstance(field, serializers.Serializer | serializers.ListSerializer):
        return None  # nulls are the field's business; nested inputs check themselves
    if isinstance(field, serializers.BooleanField):
        ok, expected = isinstance(value, bool), "true or false"
    elif isinstance(field, serializers.IntegerField | serializers.PrimaryKeyRelatedField):
        ok, expected = isinstance(value, int) and not isinstance(value, bool), "a whole number"
    elif isinstance(field, serializers.FloatField):
        ok, expected = isinstance(value, int | float) and not isinstance(value, bool), "a number"
    elif isinstance(field, serializers.MultipleChoiceField | serializers.ManyRelatedField | serializers.ListField):
        child = getattr(field, "child", None) or getattr(field, "child_relation", None)
        if not isinstance(value, list):
            return "Expected a list."
        if isinstance(field, serializers.MultipleChoiceField):
            child = serializers.CharField()
        problems = [_json_type_problem(child, item) for item in value] if child is not None else []
        return next((p for p in problems if p), None)
    elif isinstance(field, serializers.DictField):
        if not isinstance(value, dict):
            return "Expected an object."
        problems = [_json_type_problem(field.child, item) for item in value.values()]
        return next((p for p in problems if p), None)
    elif isinstance(
        field, serializers.CharField | serializers.ChoiceField | serializers.DateField | serializers.TimeField
    ):
        ok, expected = isinstance(value, str), "a string"
    else:
        return None
    return None if ok else f"Expected {expected}."


class StrictInput(serializers.Serializer):
    """Mass assignment guard: a field the client may not set (state, author,
    approved_by, ...) or a misspelt one is a 400 that names it, and nothing
    changes. Silently ignoring it would let a client believe it had set it.
    Values must also have the JSON type the schema gives (no "5" for 5)."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            allowed = {name for name, field in self.fields.items() if not field.read_only}
            errors = {
                name: ["This field cannot be set here (unknown or read-only)."] for name in sorted(set(data) - allowed)
            }
            for name in set(data) & allowed:
                problem = _json_type_problem(self.fields[name], data[name])
                if problem:
                    errors[name] = [problem]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


def _codes(max_items: int = 20):
    return serializers.ListField(child=serializers.CharField(max_length=10), max_length=max_items, required=False)


def _tags(max_items: int = 50):
    return serializers.ListField(child=serializers.CharField(max_length=80), max_length=max_items, required=False)


@extend_schema_field(
    {
        "type": "string",
        "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$",
        "example": "09:00",
        "description": "Wall-clock time in the phase's time zone, HH:MM (no UTC offset: the zone says it)",
    }
)
class LocalTimeField(serializers.TimeField):
    """A wall-clock time without offset. OpenAPI's `time` format demands an offset,
    which would contradict the separate IANA zone, so the schema gives a pattern."""

    def __init__(self, **kwargs):
        kwargs.setdefault("input_formats", ["%H:%M", "%H:%M:%S", "%H:%M:%S.%f"])
        super().__init__(**kwargs)


class OptionalURLField(serializers.CharField):
    """Empty or an http(s) URL (imap(s) for an email channel's mailbox, checked further when the
    channel is saved). Not a URLField: OpenAPI's `uri` format refuses "", which is what a
    channel without an API base URL holds."""

    _check = URLValidator(
        schemes=API_URL_SCHEMES,
        message=gettext_lazy("Enter an http(s) URL, an imaps:// mailbox for an email channel, or nothing."),
    )

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value:
            # Checked here, not in `validators`, which the schema would turn into `format: uri`.
            try:
                self._check(value)
            except DjangoValidationError as exc:
                raise serializers.ValidationError(exc.messages) from None
        return value


# --- channels, teams, agents ----------------------------------------------------------------


class NoticeSettingsSerializer(serializers.Serializer):
    announcement_category = serializers.IntegerField(
        allow_null=True, help_text="The forum category the announcement topic is created in; null: none set"
    )
    read_only_categories = serializers.ListField(
        child=serializers.IntegerField(), help_text="The forum categories made read-only at the hard close"
    )


def _stored_ids(value) -> list[int]:
    """Ids as stored (the admin could once write anything there): whole numbers only."""
    items = value if isinstance(value, list) else [value]
    return [v for v in items if isinstance(v, int) and not isinstance(v, bool)]


class ChannelSerializer(serializers.ModelSerializer):
    api_base_url = OptionalURLField(read_only=True)
    notice_settings = serializers.SerializerMethodField(
        help_text="Where the public notice goes (Discourse channels only; empty values elsewhere)"
    )

    @extend_schema_field(NoticeSettingsSerializer)
    def get_notice_settings(self, obj) -> dict:
        stored = obj.notice_settings if isinstance(obj.notice_settings, dict) else {}
        announcement = _stored_ids(stored.get("announcement_category"))
        return {
            "announcement_category": announcement[0] if announcement else None,
            "read_only_categories": _stored_ids(stored.get("read_only_categories") or []),
        }

    class Meta:
        model = Channel
        fields = [
            "id",
            "kind",
            "name",
            "handle",
            "state",
            "archived_at",
            "default_locale",
            "platform_account_id",
            "api_base_url",
            "webhook_secret_env",
            "api_token_env",
            "rate_limit_per_minute",
            "notice_settings",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class NoticeSettingsInput(StrictInput):
    """A Discourse channel's notice settings; a key left out is not set (PATCH replaces the whole
    object). Unknown keys are refused with a 400 naming them."""

    announcement_category = serializers.IntegerField(
        min_value=1,
        max_value=MAX_CATEGORY_ID,
        required=False,
        allow_null=True,
        help_text="The forum category id the announcement topic is created in; null or left out: none",
    )
    read_only_categories = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_CATEGORY_ID),
        max_length=MAX_READ_ONLY_CATEGORIES,
        required=False,
        help_text="Forum category ids made read-only at the hard close (repeats are dropped)",
    )


class ChannelInput(StrictInput):
    kind = serializers.ChoiceField(choices=ChannelKind.choices)
    name = serializers.CharField(max_length=120)
    handle = serializers.CharField(max_length=255, required=False, allow_blank=True)
    default_locale = serializers.CharField(max_length=10, required=False)
    platform_account_id = serializers.CharField(max_length=64, required=False, allow_blank=True)
    api_base_url = OptionalURLField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="An http(s) URL; for an email channel its IMAP mailbox (imaps://host/INBOX); or empty",
    )
    webhook_secret_env = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        validators=[validate_secret_name],
        help_text="Name of the environment variable (DUSK_CHANNEL_...), not the secret",
    )
    api_token_env = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        validators=[validate_secret_name],
        help_text="Name of the environment variable (DUSK_CHANNEL_...), not the secret",
    )
    rate_limit_per_minute = serializers.IntegerField(min_value=1, max_value=100000, required=False)
    notice_settings = NoticeSettingsInput(
        required=False,
        help_text="Discourse channels only: where the public notice goes; refused for other platforms",
    )


class TeamSerializer(serializers.ModelSerializer):
    channels = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = Team
        fields = ["id", "name", "capacity", "languages", "skills", "site", "time_zone", "channels"]
        read_only_fields = fields


class TeamInput(StrictInput):
    name = serializers.CharField(max_length=120)
    capacity = serializers.IntegerField(min_value=0, max_value=1_000_000)
    languages = _codes()
    skills = _tags()
    site = serializers.CharField(max_length=80, required=False, allow_blank=True)
    time_zone = serializers.CharField(max_length=64, required=False)
    channels = serializers.PrimaryKeyRelatedField(many=True, queryset=Channel.objects.all(), required=False)


class AgentTeamSerializer(serializers.Serializer):
    team = serializers.IntegerField(source="team_id")
    team_name = serializers.CharField(source="team.name")
    role = serializers.CharField()
    starts_on = serializers.DateField()


class DepartureSerializer(serializers.ModelSerializer):
    class Meta:
        model = AgentDeparture
        fields = ["id", "left_on", "reason", "note", "deactivated", "recorded_at"]
        read_only_fields = fields


class AgentSerializer(serializers.ModelSerializer):
    current_teams = AgentTeamSerializer(many=True, read_only=True, source="open_assignments")
    departures = DepartureSerializer(
        many=True,
        read_only=True,
        source="departure_list",
        help_text="HR's records of the agent leaving (the reason and the day), latest first",
    )
    preferred_language = serializers.CharField(
        read_only=True,
        help_text="Language of the agent's emails and page: en, fr or id; empty: the first of their languages"
        " that Dusk speaks, else English",
    )

    class Meta:
        model = Agent
        fields = [
            "id",
            "employee_id",
            "name",
            "email",
            "languages",
            "skills",
            "site",
            "time_zone",
            "preferred_team",
            "preferred_language",
            "is_active",
            "current_teams",
            "departures",
        ]
        read_only_fields = fields


class AgentInput(StrictInput):
    employee_id = serializers.CharField(max_length=32)
    name = serializers.CharField(max_length=120)
    email = serializers.EmailField()
    languages = _codes()
    skills = _tags()
    site = serializers.CharField(max_length=80, required=False, allow_blank=True)
    time_zone = serializers.CharField(max_length=64, required=False)
    preferred_team = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all(), required=False, allow_null=True)
    preferred_language = serializers.ChoiceField(
        choices=["", *AgentLanguage.values],
        required=False,
        allow_blank=True,
        help_text="Language of the agent's emails and page (en, fr, id); empty: the first of their"
        " languages that Dusk speaks, else English",
    )


class AgentCreateInput(AgentInput):
    team = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.all(), required=False, allow_null=True, help_text="Team the agent starts in"
    )
    starts_on = serializers.DateField(required=False, help_text="First day in that team (default today)")


class AgentUpdateInput(AgentInput):
    is_active = serializers.BooleanField(required=False)


# --- plans ----------------------------------------------------------------------------------


class PhaseSerializer(serializers.ModelSerializer):
    local_time = LocalTimeField(read_only=True)

    class Meta:
        model = Phase
        fields = ["id", "kind", "region", "local_date", "local_time", "time_zone", "instant", "state"]
        read_only_fields = fields


class RedirectSerializer(serializers.ModelSerializer):
    class Meta:
        model = RedirectTarget
        fields = ["position", "kind", "label", "value", "expected_share", "reference_mode", "reference_name"]
        read_only_fields = fields


class AutoReplySerializer(serializers.ModelSerializer):
    placeholders = serializers.SerializerMethodField()

    class Meta:
        model = AutoReply
        fields = ["id", "plan", "phase_kind", "locale", "text", "placeholders"]
        read_only_fields = fields

    def get_placeholders(self, obj) -> list[str]:
        return textrules.find_placeholders(obj.text)


class PublicNoticeSerializer(serializers.ModelSerializer):
    class Meta:
        model = PublicNotice
        fields = ["id", "locale", "text", "moved_text", "title", "body"]
        read_only_fields = fields


class PlanChannelSerializer(serializers.ModelSerializer):
    class Meta:
        model = Channel
        fields = ["id", "name", "kind", "state"]
        read_only_fields = fields


class PlanSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.get_username", read_only=True)
    approved_by = serializers.CharField(source="approved_by.get_username", read_only=True, allow_null=True)
    channels = PlanChannelSerializer(many=True, read_only=True)
    phases = PhaseSerializer(many=True, read_only=True)
    redirects = RedirectSerializer(many=True, read_only=True)
    auto_replies = AutoReplySerializer(many=True, read_only=True)
    public_notices = PublicNoticeSerializer(
        many=True,
        read_only=True,
        help_text="The announcement on the channels themselves, one per locale (X, YouTube and the forum publish"
        " the plan's default locale; Messenger every locale)",
    )

    class Meta:
        model = SunsetPlan
        fields = [
            "id",
            "title",
            "state",
            "author",
            "approved_by",
            "approved_at",
            "submitted_at",
            "review_comment",
            "default_locale",
            "version",
            "channels",
            "phases",
            "redirects",
            "auto_replies",
            "public_notices",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class PhaseInputSerializer(StrictInput):
    kind = serializers.ChoiceField(choices=PhaseKind.choices)
    local_date = serializers.DateField()
    local_time = LocalTimeField()
    time_zone = serializers.CharField(max_length=64, help_text="IANA zone, e.g. America/Los_Angeles")
    region = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")


class RedirectInputSerializer(StrictInput):
    kind = serializers.ChoiceField(choices=RedirectKind.choices)
    label = serializers.CharField(max_length=120)
    value = serializers.CharField(max_length=500)
    expected_share = serializers.FloatField(min_value=0.0, max_value=1.0, required=False, default=0.0)
    reference_mode = serializers.ChoiceField(
        choices=ReferenceMode.choices,
        required=False,
        default="",
        help_text='How the landing page passes the reference to this target: "" (the landing page\'s '
        'parameter), "query", "form_get", "form_post" or "none".',
    )
    reference_name = serializers.CharField(
        max_length=32,
        required=False,
        allow_blank=True,
        default="",
        help_text="The query parameter or form field name (query and form modes only).",
    )


class AutoReplyInputSerializer(StrictInput):
    phase_kind = serializers.ChoiceField(choices=PhaseKind.choices)
    locale = serializers.CharField(max_length=10)
    text = serializers.CharField(max_length=100000)


# The wizard's public notice fields and their lengths (plans/forms.PublicNoticeForm); the plans
# service checks each against the limits of the plan's platforms.
PLAN_LOCALES = [code for code, _label in LOCALE_CHOICES]


class PublicNoticeInputSerializer(StrictInput):
    locale = serializers.CharField(
        max_length=10,
        help_text="One of the plan's languages: " + ", ".join(PLAN_LOCALES) + ", or the plan's default locale",
    )
    text = serializers.CharField(
        max_length=1000,
        required=False,
        allow_blank=True,
        default="",
        help_text="The notice phase's announcement: the X post (280 weighted characters), the Messenger greeting"
        " (160), the YouTube channel description (1,000)",
    )
    moved_text = serializers.CharField(
        max_length=1000,
        required=False,
        allow_blank=True,
        default="",
        help_text="The same at the hard close: the support has moved",
    )
    title = serializers.CharField(
        max_length=255,
        required=False,
        allow_blank=True,
        default="",
        help_text="The forum announcement topic's title (Discourse: 15 to 255 characters)",
    )
    body = serializers.CharField(
        max_length=32000,
        required=False,
        allow_blank=True,
        default="",
        help_text="The forum announcement topic's body (Discourse: 20 to 32,000 characters)",
    )

    def validate(self, attrs):
        if not any((attrs.get(f) or "").strip() for f in textrules.PUBLIC_FIELDS):
            raise serializers.ValidationError(
                {"text": [gettext_lazy("Write at least one of text, moved_text, title and body.")]}
            )
        return attrs


class PlanInput(StrictInput):
    title = serializers.CharField(max_length=200)
    default_locale = serializers.CharField(max_length=10, required=False, default="en")
    channels = serializers.ListField(child=serializers.IntegerField(min_value=1), max_length=200)
    phases = PhaseInputSerializer(many=True)
    redirects = RedirectInputSerializer(many=True, required=False, default=list)
    auto_replies = AutoReplyInputSerializer(many=True, required=False, default=list)
    public_notices = PublicNoticeInputSerializer(
        many=True,
        required=False,
        max_length=len(PLAN_LOCALES) + 1,
        help_text="The public notice per locale, checked as the wizard checks it; left out, the plan keeps its own",
    )

    def validate(self, attrs):
        notices = attrs.get("public_notices")
        if notices:
            allowed = [*PLAN_LOCALES, attrs.get("default_locale") or "en"]
            problems = {
                str(i): {
                    "locale": [
                        gettext_lazy("“%(locale)s” is not one of the plan's languages: %(allowed)s.")
                        % {"locale": n["locale"], "allowed": ", ".join(dict.fromkeys(allowed))}
                    ]
                }
                for i, n in enumerate(notices)
                if n["locale"] not in allowed
            }
            if problems:
                raise serializers.ValidationError({"public_notices": problems})
        return attrs


class ApproveInput(StrictInput):
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class RejectInput(StrictInput):
    comment = serializers.CharField(max_length=2000, help_text="What must change before approval")


class CancelInput(StrictInput):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class RescheduleInput(StrictInput):
    local_date = serializers.DateField()
    local_time = LocalTimeField()
    time_zone = serializers.CharField(max_length=64)


class ChannelChangeSerializer(serializers.Serializer):
    channel = serializers.IntegerField()
    name = serializers.CharField()
    state_before = serializers.CharField()
    state_after = serializers.CharField()


class PreviewReassignmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    agent = serializers.IntegerField(source="agent_id")
    agent_name = serializers.CharField(source="agent.name")
    from_team = serializers.CharField(source="from_team.name")
    to_team = serializers.CharField(source="to_team.name")
    effective_date = serializers.DateField()
    state = serializers.CharField()


class PublicChangeSerializer(serializers.Serializer):
    """One change the phase makes on a platform itself (the public notice), as the dry run lists it."""

    channel = serializers.IntegerField(source="channel_id")
    name = serializers.CharField(source="channel_name")
    platform = serializers.CharField(source="kind")
    action = serializers.CharField(
        help_text="post, announce, update_topic, read_only, unpin, greeting, description, localizations"
    )
    target = serializers.CharField(help_text="The X post's locale, the forum's category or topic id; empty otherwise")
    summary = serializers.CharField()
    locales = serializers.SerializerMethodField()
    title = serializers.SerializerMethodField()
    text = serializers.SerializerMethodField()
    texts = serializers.SerializerMethodField()
    problem = serializers.CharField(help_text="Why the change cannot be made; empty when it can")

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_locales(self, obj) -> list[str]:
        return [str(locale) for locale in obj.change.get("locales") or []]

    @extend_schema_field(serializers.CharField())
    def get_title(self, obj) -> str:
        return str(obj.change.get("title") or "")

    @extend_schema_field(serializers.CharField())
    def get_text(self, obj) -> str:
        return str(obj.change.get("text") or "")

    @extend_schema_field(serializers.DictField(child=serializers.CharField()))
    def get_texts(self, obj) -> dict[str, str]:
        """Messenger: the greeting per Meta locale; YouTube: the description per language."""
        return {str(k): str(v) for k, v in (obj.change.get("texts") or {}).items()}


class PhasePreviewSerializer(serializers.Serializer):
    phase = PhaseSerializer()
    channel_changes = serializers.SerializerMethodField()
    conversations_to_move = serializers.IntegerField()
    conversations_to_close = serializers.IntegerField()
    handoff_notices = serializers.IntegerField()
    reassignments = PreviewReassignmentSerializer(many=True)
    agents_without_destination = serializers.IntegerField()
    notifications = serializers.IntegerField()
    public_changes = PublicChangeSerializer(many=True)

    @extend_schema_field(ChannelChangeSerializer(many=True))
    def get_channel_changes(self, obj):
        return [
            {"channel": c.pk, "name": c.name, "state_before": before, "state_after": after}
            for c, before, after in obj.channel_changes
        ]


class PlanPreviewSerializer(serializers.Serializer):
    plan = serializers.IntegerField()
    changes_nothing = serializers.BooleanField(help_text="Always true: a preview never writes")
    phases = PhasePreviewSerializer(many=True)


class FunnelStepSerializer(serializers.Serializer):
    key = serializers.ChoiceField(choices=["redirected", "notified", "landed", "chose", "arrived", "solved"])
    count = serializers.IntegerField(help_text="Conversations that reached this step and every step before")
    share_of_first = serializers.FloatField(allow_null=True, help_text="count / redirected")
    lost = serializers.IntegerField(help_text="Of the step before, how many did not get here")
    lost_share = serializers.FloatField(allow_null=True, help_text="lost / the step before")


class FunnelChannelSerializer(serializers.Serializer):
    channel = serializers.IntegerField(source="key", help_text="The channel's id")
    name = serializers.CharField(source="label")
    steps = FunnelStepSerializer(many=True)


class FunnelDestinationSerializer(serializers.Serializer):
    choice = serializers.ChoiceField(
        choices=["target", "contact_form", "none"],
        help_text="What the customers chose first: a target, the landing page's contact form, nothing",
    )
    position = serializers.IntegerField(allow_null=True, help_text="The target's position; null unless a target")
    label = serializers.CharField(allow_blank=True, help_text="The target's label; empty unless a target")
    steps = FunnelStepSerializer(many=True)


class FunnelLanguageSerializer(serializers.Serializer):
    locale = serializers.CharField(source="key", help_text="The conversation's locale; empty when unknown")
    steps = FunnelStepSerializer(many=True)


class FunnelPointSerializer(serializers.Serializer):
    at = serializers.DateTimeField(help_text="Start of the hour or day, in the time zone of the series")
    landed = serializers.IntegerField(help_text="Customers a person landed for (human visits) in this period")
    chose = serializers.IntegerField(help_text="Customers who chose a target in this period")
    arrived = serializers.IntegerField(help_text="Customers a destination reported arrived (or solved) in this period")
    solved = serializers.IntegerField(help_text="Customers a destination reported solved in this period")


class FunnelSeriesSerializer(serializers.Serializer):
    unit = serializers.ChoiceField(choices=["hour", "day"])
    range = serializers.ChoiceField(choices=["2d", "7d", "30d", "90d", "all"])
    time_zone = serializers.CharField(help_text="The token owner's profile time zone (IANA)")
    points = FunnelPointSerializer(many=True)


class ContactHandoffSerializer(serializers.Serializer):
    destination = serializers.CharField(source="destination.kind", help_text="zendesk, freshdesk, chatwoot or webhook")
    state = serializers.CharField(help_text="pending, sending, sent or failed")
    attempts = serializers.IntegerField()
    remote_id = serializers.CharField(help_text="The destination's own id, once it took it")


class ContactRequestSerializer(serializers.Serializer):
    """What a customer wrote on the plan's landing page."""

    id = serializers.IntegerField()
    reference = serializers.CharField(source="conversation.reference")
    name = serializers.CharField()
    email = serializers.EmailField()
    message = serializers.CharField()
    transcript = serializers.CharField(help_text="The moved conversation, oldest message first")
    created_at = serializers.DateTimeField()
    handoffs = ContactHandoffSerializer(
        source="deliveries", many=True, help_text="Where it was handed off; empty: kept in Dusk only"
    )


class FunnelSerializer(serializers.Serializer):
    plan = serializers.IntegerField()
    steps = FunnelStepSerializer(many=True)
    by_channel = FunnelChannelSerializer(many=True, help_text="One row per channel; the rows add up to steps")
    by_destination = FunnelDestinationSerializer(
        many=True,
        help_text="One row per first choice (each target, the contact form), then those who chose none; "
        "the rows add up to steps",
    )
    by_language = FunnelLanguageSerializer(many=True, help_text="One row per locale; the rows add up to steps")
    series = FunnelSeriesSerializer()


# --- outcomes of the moves ----------------------------------------------------------------------


class DepartureInput(StrictInput):
    left_on = serializers.DateField(help_text="The day the agent left: open assignments end on it")
    reason = serializers.ChoiceField(choices=DepartureReason.choices)
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    deactivate = serializers.BooleanField(
        required=False, default=False, help_text="They left the company: deactivate the agent"
    )


class OutcomeLeftSerializer(serializers.Serializer):
    declined_role = serializers.IntegerField()
    resigned = serializers.IntegerField()
    other = serializers.IntegerField()
    not_recorded = serializers.IntegerField(help_text="Left with no reason recorded by HR")


class OutcomeCheckpointSerializer(serializers.Serializer):
    days = serializers.IntegerField(help_text="Days after the move took effect: 30, 60 or 90")
    reached = serializers.IntegerField(help_text="Moves whose day has come")
    in_role = serializers.IntegerField(help_text="On the team they were moved to that day")
    in_role_percent = serializers.IntegerField(allow_null=True, help_text="in_role / reached; null if none reached")
    moved_again = serializers.IntegerField(help_text="On another team that day")
    left = serializers.IntegerField(source="left_total", help_text="On no team that day")
    left_by_reason = OutcomeLeftSerializer(source="left")
    not_yet = serializers.IntegerField(help_text="Moves whose day has not come")


class OutcomeRowSerializer(serializers.Serializer):
    plan = serializers.IntegerField(source="plan_id", allow_null=True, help_text="null: every plan")
    title = serializers.CharField()
    moved = serializers.IntegerField(help_text="Moves made by the plan's cutover runs")
    accepted = serializers.IntegerField(allow_null=True, help_text="null while Dusk records no acceptance")
    checkpoints = OutcomeCheckpointSerializer(many=True)


class OutcomeReportSerializer(serializers.Serializer):
    today = serializers.DateField(help_text="The day the history was read on")
    total = OutcomeRowSerializer()
    plans = OutcomeRowSerializer(many=True, help_text="One row per plan that moved someone (overall report only)")


# --- auto-reply previews ---------------------------------------------------------------------


class AutoReplyRenderSerializer(serializers.Serializer):
    platform = serializers.CharField()
    label = serializers.CharField()
    rendered = serializers.CharField()
    length = serializers.IntegerField()
    limit = serializers.IntegerField(allow_null=True)
    unit = serializers.CharField()
    fits = serializers.BooleanField()
    problems = serializers.ListField(child=serializers.CharField())


class AutoReplyPreviewSerializer(serializers.Serializer):
    text = serializers.CharField()
    placeholders = serializers.ListField(child=serializers.CharField())
    values = serializers.DictField(child=serializers.CharField(allow_blank=True))
    renders = AutoReplyRenderSerializer(many=True)


class AutoReplyPreviewInput(StrictInput):
    text = serializers.CharField(max_length=100000, allow_blank=True)
    plan = serializers.PrimaryKeyRelatedField(
        queryset=SunsetPlan.objects.all(), required=False, allow_null=True, help_text="Fill placeholders from this plan"
    )
    locale = serializers.RegexField(
        LOCALE_RE,
        required=False,
        help_text="The reply's language: {date} is written as it writes dates (default: the plan's default, else en)",
    )
    platforms = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(textrules.LIMITS)),
        required=False,
        max_length=len(textrules.LIMITS),
        help_text="Platforms to render for (default: the plan's channels, else all)",
    )
    values = serializers.DictField(
        child=serializers.CharField(max_length=500, allow_blank=True),
        required=False,
        help_text="Placeholder values to use, e.g. customer_name",
    )


# --- reassignments ----------------------------------------------------------------------------


class RelocationSerializer(serializers.Serializer):
    from_site = serializers.CharField()
    from_time_zone = serializers.CharField()
    to_site = serializers.CharField()
    to_time_zone = serializers.CharField()
    label = serializers.CharField(help_text="e.g. “Relocation: Jakarta → Dublin”, in the request's language.")


class ReassignmentSerializer(serializers.ModelSerializer):
    agent_name = serializers.CharField(source="agent.name", read_only=True)
    from_team_name = serializers.CharField(source="from_team.name", read_only=True)
    to_team_name = serializers.CharField(source="to_team.name", read_only=True)
    relocation = serializers.SerializerMethodField(
        help_text="Set when the move sends the agent to another site or time zone; null when they stay."
    )

    @extend_schema_field(RelocationSerializer(allow_null=True))
    def get_relocation(self, move: Reassignment) -> dict | None:
        found = relocation(move.agent.site, move.agent.time_zone, move.to_team.site, move.to_team.time_zone)
        return found.as_dict() if found else None

    class Meta:
        model = Reassignment
        fields = [
            "id",
            "plan",
            "agent",
            "agent_name",
            "from_team",
            "from_team_name",
            "to_team",
            "to_team_name",
            "relocation",
            "role",
            "effective_date",
            "state",
        ]
        read_only_fields = fields


class ReassignmentItemInput(StrictInput):
    agent = serializers.IntegerField(min_value=1)
    to_team = serializers.IntegerField(min_value=1)
    effective_date = serializers.DateField()
    role = serializers.CharField(max_length=80, required=False, allow_blank=True, default="")


class ReassignmentBulkInput(StrictInput):
    items = ReassignmentItemInput(many=True, max_length=5000)


class ReassignmentBulkResult(serializers.Serializer):
    reassignments = ReassignmentSerializer(many=True)


class ConfirmInput(StrictInput):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        allow_null=True,
        max_length=5000,
        help_text="Reassignments to confirm (default: every proposed one of the plan)",
    )


class ConfirmResult(serializers.Serializer):
    confirmed = serializers.IntegerField()


class NotifyInput(StrictInput):
    agents = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        allow_null=True,
        max_length=5000,
        help_text="Agents to email (default: every agent of the plan with a confirmed move)",
    )


class NotifyResult(serializers.Serializer):
    queued = serializers.IntegerField(help_text="Emails queued now")
    requeued = serializers.IntegerField(help_text="Failed emails queued again")
    already = serializers.IntegerField(help_text="Agents already told about the same move")
    unconfirmed = serializers.IntegerField(help_text="Proposed moves, not announced")
    without_email = serializers.ListField(child=serializers.CharField(), help_text="Agents with no email address")


# --- runs and audit ------------------------------------------------------------------------------


class StepProgressSerializer(serializers.Serializer):
    step = serializers.CharField()
    label = serializers.CharField()
    state = serializers.CharField()
    done = serializers.IntegerField()
    total = serializers.IntegerField()
    started_at = serializers.CharField(allow_null=True)
    finished_at = serializers.CharField(allow_null=True)


class CutoverRunSerializer(serializers.ModelSerializer):
    phase_kind = serializers.CharField(source="phase.kind", read_only=True)
    progress = serializers.SerializerMethodField()
    percent_done = serializers.SerializerMethodField()
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)
    errors = serializers.ListField(child=serializers.DictField(), read_only=True)

    class Meta:
        model = CutoverRun
        fields = [
            "id",
            "plan",
            "phase",
            "phase_kind",
            "state",
            "current_step",
            "progress",
            "percent_done",
            "conversations_moved",
            "handoffs_queued",
            "agents_reassigned",
            "notifications_sent",
            "errors",
            "worker_id",
            "attempts",
            "queued_at",
            "started_at",
            "heartbeat_at",
            "finished_at",
            "duration_seconds",
        ]
        read_only_fields = fields

    @extend_schema_field(StepProgressSerializer(many=True))
    def get_progress(self, obj):
        steps = obj.steps or {}
        out = []
        for step in Step:
            info = steps.get(step.value, {})
            out.append(
                {
                    "step": step.value,
                    "label": str(step.label),
                    "state": info.get("state", "pending"),
                    "done": int(info.get("done", 0) or 0),
                    "total": int(info.get("total", 0) or 0),
                    "started_at": info.get("started_at"),
                    "finished_at": info.get("finished_at"),
                }
            )
        return out

    def get_percent_done(self, obj) -> float:
        if obj.state == "completed":
            return 100.0
        steps = obj.steps or {}
        finished = sum(1 for s in Step if steps.get(s.value, {}).get("state") == "done")
        return round(100.0 * finished / len(Step), 1)


class AuditEventSerializer(serializers.ModelSerializer):
    before = serializers.JSONField(read_only=True, allow_null=True)
    after = serializers.JSONField(read_only=True, allow_null=True)

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "at",
            "actor",
            "actor_label",
            "action",
            "object_type",
            "object_id",
            "before",
            "after",
            "prev_hash",
            "hash",
        ]
        read_only_fields = fields


# --- tokens ---------------------------------------------------------------------------------------


class ApiTokenSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.get_username", read_only=True)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=TokenScope.choices), read_only=True)
    status = serializers.ChoiceField(choices=["active", "expired", "revoked"], read_only=True)

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "owner",
            "prefix",
            "scopes",
            "status",
            "created_at",
            "last_used_at",
            "expires_at",
            "revoked_at",
        ]
        read_only_fields = fields


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The full token. Shown this once; store it now.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class ApiTokenInput(StrictInput):
    name = serializers.CharField(max_length=100)
    scopes = serializers.MultipleChoiceField(choices=TokenScope.choices, required=False, default=["read"])
    expires_in_days = serializers.IntegerField(min_value=1, max_value=366, required=False, default=90)


class PreflightChannelSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    ok = serializers.BooleanField()
    identity = serializers.CharField(help_text="Who the platform says the credentials act as.")
    problem = serializers.CharField()


class PreflightSerializer(serializers.Serializer):
    """A plan's preflight: what blocks submission, approval and the run, by area."""

    ok = serializers.BooleanField()
    problems = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Messages by area: phases, auto_replies, redirects, reassignments, channels.",
    )
    channels = PreflightChannelSerializer(many=True)
