"""API tokens in the admin site: visible (never the secret), revocable through the service."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError

from channels_app.accounts.services import revoke_api_token
from channels_app.admin.modeladmins import ReadOnlyAdmin
from channels_app.models import ApiToken


@admin.action(description="Revoke")
def revoke_tokens(modeladmin, request, queryset):
    for token in queryset:
        try:
            revoke_api_token(actor=request.user, token=token)
        except (ValidationError, PermissionDenied) as exc:
            modeladmin.message_user(
                request, f"{token}: {' '.join(getattr(exc, 'messages', [str(exc)]))}", messages.ERROR
            )
        else:
            modeladmin.message_user(request, f"{token} revoked.", messages.SUCCESS)


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    list_display = ["name", "owner", "prefix", "scopes", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_select_related = ["owner"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "owner__username"]
    exclude = ["secret_hash"]
    actions = [revoke_tokens]

    def has_change_permission(self, request, obj=None):
        # Actions need change permission on the changelist; the form stays read-only.
        return obj is None and super(ReadOnlyAdmin, self).has_change_permission(request)
