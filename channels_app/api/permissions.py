"""One permission class for the whole API: the view says which action of the
role matrix an operation needs; this class asks `permissions.can`."""

from rest_framework.permissions import BasePermission

from channels_app.core.permissions import can
from channels_app.models import ApiToken, TokenScope


class RolePermission(BasePermission):
    message = "You do not have permission to do this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if getattr(view, "action", "") is None:
            return True  # a method this endpoint does not have: 405 follows, with no data
        action = view.required_action()
        if action is None:
            # An operation nobody declared is closed, not open.
            self.message = "This operation is not available."
            return False
        token = request.auth if isinstance(request.auth, ApiToken) else None
        if token is not None:
            if not getattr(view, "allow_token_auth", True):
                self.message = "API tokens cannot do this: sign in to the portal."
                return False
            needed = TokenScope.READ if view.is_read_only_operation() else TokenScope.WRITE
            if needed not in token.scopes:
                self.message = f"This token does not have the “{needed}” scope."
                return False
        if not can(user, action):
            self.message = f"Your role does not allow: {action.replace('_', ' ')}."
            return False
        return True
