"""Admin for every model. Changes of state go through services (actions);
append-only and run-owned records are read-only here."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import URLField

from channels_app import models
from channels_app.directory.services import clean_notice_settings
from channels_app.plans.services.plans import approve_plan, cancel_plan, submit_plan


def _call(modeladmin, request, queryset, func, verb: str, **kwargs) -> None:
    done = 0
    for obj in queryset:
        try:
            func(actor=request.user, plan=obj, **kwargs)
            done += 1
        except (ValidationError, PermissionDenied) as exc:
            text = "; ".join(getattr(exc, "messages", None) or [str(exc)])
            modeladmin.message_user(request, f"{obj}: {text}", messages.ERROR)
    if done:
        modeladmin.message_user(request, f"{done} plan(s) {verb}.", messages.SUCCESS)


@admin.action(description="Submit for approval")
def submit_plans(modeladmin, request, queryset):
    _call(modeladmin, request, queryset, submit_plan, "submitted")


@admin.action(description="Approve (you must not be the author)")
def approve_plans(modeladmin, request, queryset):
    _call(modeladmin, request, queryset, approve_plan, "approved")


@admin.action(description="Cancel")
def cancel_plans(modeladmin, request, queryset):
    _call(modeladmin, request, queryset, cancel_plan, "cancelled", reason="cancelled in admin")


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PhaseInline(admin.TabularInline):
    model = models.Phase
    extra = 0
    fields = ["kind", "region", "local_date", "local_time", "time_zone", "instant", "state"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class RedirectInline(admin.TabularInline):
    model = models.RedirectTarget
    extra = 0
    readonly_fields = ["position", "kind", "label", "value", "expected_share", "reference_mode", "reference_name"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class AutoReplyInline(admin.StackedInline):
    model = models.AutoReply
    extra = 0
    readonly_fields = ["phase_kind", "locale", "text"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(models.SunsetPlan)
class SunsetPlanAdmin(admin.ModelAdmin):
    list_display = ["title", "state", "author", "approved_by", "created_at"]
    list_filter = ["state"]
    search_fields = ["title"]
    list_select_related = ["author", "approved_by"]
    actions = [submit_plans, approve_plans, cancel_plans]
    inlines = [PhaseInline, RedirectInline, AutoReplyInline]
    readonly_fields = [
        "title",
        "state",
        "author",
        "approved_by",
        "approved_at",
        "submitted_at",
        "review_comment",
        "default_locale",
        "version",
        "created_at",
        "updated_at",
    ]

    def has_add_permission(self, request):
        return False  # plans are drafted in the portal, where they are validated


class ChannelAdminForm(forms.ModelForm):
    """The notice settings are checked as the portal and the API check them. (No Meta: the admin
    builds the fields, with its formfield_overrides.)"""

    def clean(self):
        data = super().clean()
        if "notice_settings" in data:
            errors: dict[str, list[str]] = {}
            kind = data.get("kind") or self.instance.kind
            data["notice_settings"] = clean_notice_settings(kind, data["notice_settings"], errors)
            for message in errors.get("notice_settings", []):
                self.add_error("notice_settings", message)
        return data


@admin.register(models.Channel)
class ChannelAdmin(admin.ModelAdmin):
    form = ChannelAdminForm
    list_display = ["name", "kind", "state", "handle"]
    list_filter = ["kind", "state"]
    search_fields = ["name", "handle"]
    # A base URL typed without a scheme means https (Django 6's default, chosen now).
    formfield_overrides = {URLField: {"assume_scheme": "https"}}
    readonly_fields = [
        "state",
        "archived_at",
        "created_at",
        "updated_at",
        # The YouTube poller's place: moved by the poller only.
        "poll_high_water",
        "poll_boundary_ids",
        "polled_at",
        "poll_error",
    ]


class OnboardingItemInline(admin.TabularInline):
    """The team's onboarding checklist, shown to each agent moving in (their personal page)."""

    model = models.OnboardingItem
    extra = 1
    formfield_overrides = {URLField: {"assume_scheme": "https"}}


@admin.register(models.Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "capacity", "site", "time_zone"]
    search_fields = ["name", "site"]
    filter_horizontal = ["channels"]
    raw_id_fields = ["lead"]
    inlines = [OnboardingItemInline]


@admin.register(models.Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ["name", "employee_id", "email", "site", "preferred_language", "is_active"]
    search_fields = ["name", "employee_id", "email"]
    list_filter = ["site", "preferred_language", "is_active"]
    raw_id_fields = ["preferred_team"]


@admin.register(models.Assignment)
class AssignmentAdmin(ReadOnlyAdmin):
    list_display = ["agent", "team", "role", "starts_on", "ends_on"]
    list_select_related = ["agent", "team"]
    list_filter = ["team"]
    raw_id_fields = ["agent", "team", "created_by_run", "ended_by_run"]


@admin.register(models.Reassignment)
class ReassignmentAdmin(ReadOnlyAdmin):
    list_display = ["agent", "from_team", "to_team", "effective_date", "state", "plan"]
    list_select_related = ["agent", "from_team", "to_team", "plan"]
    list_filter = ["state"]


@admin.register(models.Phase)
class PhaseAdmin(ReadOnlyAdmin):
    list_display = ["plan", "kind", "region", "instant", "time_zone", "state"]
    list_select_related = ["plan"]
    list_filter = ["kind", "state"]


@admin.register(models.RedirectTarget)
class RedirectTargetAdmin(ReadOnlyAdmin):
    list_display = ["plan", "position", "kind", "label", "value"]


@admin.register(models.AutoReply)
class AutoReplyAdmin(ReadOnlyAdmin):
    list_display = ["plan", "phase_kind", "locale"]


@admin.register(models.PlanChannel)
class PlanChannelAdmin(ReadOnlyAdmin):
    list_display = ["plan", "channel", "is_open"]


@admin.register(models.Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = ["reference", "channel", "customer_handle", "state", "last_message_at"]
    list_filter = ["state", "channel"]
    search_fields = ["reference", "customer_handle"]
    show_full_result_count = False


@admin.register(models.Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["platform_message_id", "channel", "direction", "created_at"]
    list_filter = ["direction", "channel"]
    show_full_result_count = False


@admin.register(models.OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    list_display = ["dedupe_key", "channel", "kind", "state", "attempts", "created_at"]
    list_filter = ["state", "kind"]
    show_full_result_count = False


@admin.register(models.CutoverRun)
class CutoverRunAdmin(ReadOnlyAdmin):
    list_display = ["id", "plan", "phase", "state", "current_step", "conversations_moved", "agents_reassigned"]
    list_select_related = ["plan", "phase"]
    list_filter = ["state"]


@admin.register(models.Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["recipient", "kind", "state", "sent_at"]
    list_filter = ["state", "kind"]


@admin.register(models.AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor_label", "action", "object_type", "object_id"]
    list_filter = ["action", "object_type"]
    search_fields = ["object_id", "actor_label"]


@admin.register(models.AuditChainHead)
class AuditChainHeadAdmin(ReadOnlyAdmin):
    list_display = ["count", "last_hash"]


# Workforce transition: read-only here; HR changes them on the plan's pages.
@admin.register(models.PlanStaffing)
class PlanStaffingAdmin(ReadOnlyAdmin):
    list_display = ["plan", "affected_share_threshold", "volume_window_days", "aht_seconds", "updated_by"]
    list_select_related = ["plan", "updated_by"]


@admin.register(models.AgentNotice)
class AgentNoticeAdmin(ReadOnlyAdmin):
    list_display = ["recipient", "to_team", "effective_date", "state", "attempts", "sent_at", "plan"]
    list_select_related = ["to_team", "plan"]
    list_filter = ["state"]
    raw_id_fields = ["reassignment", "plan", "agent", "to_team", "requested_by"]


@admin.register(models.ReplyCooldown)
class ReplyCooldownAdmin(ReadOnlyAdmin):
    list_display = ["channel", "customer_id", "last_reply_at"]
    list_filter = ["channel"]
    search_fields = ["customer_id"]
    show_full_result_count = False


@admin.register(models.SendBudget)
class SendBudgetAdmin(ReadOnlyAdmin):
    list_display = ["channel", "next_slot_at"]
