"""Roles are Django groups. One table (ROLE_ACTIONS) says who may do what; the
services, views and API all ask `can(user, action)`."""

from django.contrib.auth.models import AnonymousUser, Group
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

ADMIN = "admin"
MANAGER = "manager"
APPROVER = "approver"
HR_COORDINATOR = "hr_coordinator"
VIEWER = "viewer"
ROLES = (ADMIN, MANAGER, APPROVER, HR_COORDINATOR, VIEWER)

# action -> roles allowed. Superusers may do everything.
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "view": frozenset(ROLES),
    "manage_channels": frozenset({ADMIN, MANAGER}),
    "draft_plan": frozenset({ADMIN, MANAGER}),
    "submit_plan": frozenset({ADMIN, MANAGER}),
    "approve_plan": frozenset({ADMIN, APPROVER}),
    "cancel_plan": frozenset({ADMIN, MANAGER}),
    "reschedule_plan": frozenset({ADMIN, MANAGER}),
    "rollback_plan": frozenset({ADMIN, MANAGER}),
    "manage_reassignments": frozenset({ADMIN, HR_COORDINATOR}),
    "manage_workforce": frozenset({ADMIN, HR_COORDINATOR}),
    "view_audit": frozenset({ADMIN, MANAGER, APPROVER}),
    "view_outcomes": frozenset({ADMIN, MANAGER, HR_COORDINATOR}),
    "read_contact_requests": frozenset({ADMIN, MANAGER}),
    "use_api_tokens": frozenset(ROLES),
    "use_admin_site": frozenset({ADMIN}),
}

# What each action means, for docs/roles.md (generated from this module by
# `python manage.py roles_matrix --write`; a test fails when they disagree).
ACTION_LABELS: dict[str, str] = {
    "view": "See channels, teams, agents, plans, auto-replies, reassignments and cutover runs",
    "manage_channels": "Register and edit channels",
    "draft_plan": "Draft and edit sunset plans (while draft), with their phases, redirects and auto-replies",
    "submit_plan": "Submit a plan for approval",
    "approve_plan": "Approve or send back a plan (never one's own: four eyes)",
    "cancel_plan": "Cancel a plan that has not run",
    "reschedule_plan": "Move a phase that has not run to another instant",
    "rollback_plan": "Roll back a completed phase within the rollback window",
    "manage_reassignments": "Propose and confirm agents' reassignments",
    "manage_workforce": "Create and edit teams and agents",
    "view_audit": "Read the audit trail",
    "view_outcomes": "Read the outcome report of moved agents (30/60/90 days after the move)",
    "read_contact_requests": "Read what customers wrote on the landing page's contact form, with their address",
    "use_api_tokens": "Create and revoke one's own API tokens (the admin role sees and revokes everyone's)",
    "use_admin_site": "Use the Django admin site (the admin role is superuser-like)",
}


# The action as a refusal names it ("Your role does not allow: manage reassignments.").
ACTION_NAMES: dict[str, str] = {
    "view": gettext_lazy("view"),
    "manage_channels": gettext_lazy("manage channels"),
    "draft_plan": gettext_lazy("draft plan"),
    "submit_plan": gettext_lazy("submit plan"),
    "approve_plan": gettext_lazy("approve plan"),
    "cancel_plan": gettext_lazy("cancel plan"),
    "reschedule_plan": gettext_lazy("reschedule plan"),
    "rollback_plan": gettext_lazy("rollback plan"),
    "manage_reassignments": gettext_lazy("manage reassignments"),
    "manage_workforce": gettext_lazy("manage workforce"),
    "view_audit": gettext_lazy("view audit"),
    "view_outcomes": gettext_lazy("view outcomes"),
    "read_contact_requests": gettext_lazy("read contact requests"),
    "use_api_tokens": gettext_lazy("use api tokens"),
    "use_admin_site": gettext_lazy("use admin site"),
}


def permission_denied_message(action: str) -> str:
    return _("Your role does not allow: %(action)s.") % {"action": ACTION_NAMES.get(action, action.replace("_", " "))}


def roles_of(user) -> set[str]:
    if user is None or isinstance(user, AnonymousUser) or not user.is_active:
        return set()
    cached = getattr(user, "_dusk_roles", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True)) & set(ROLES)
        if user.is_superuser:
            cached.add(ADMIN)
        user._dusk_roles = cached
    return cached


def may(user) -> dict[str, bool]:
    """Every action with whether this person may take it (templates show only what they may)."""
    roles = roles_of(user)
    return {action: bool(roles & allowed) for action, allowed in ROLE_ACTIONS.items()}


def has_role(user, role: str) -> bool:
    return role in roles_of(user)


def can(user, action: str) -> bool:
    return bool(roles_of(user) & ROLE_ACTIONS[action])


def require(user, action: str) -> None:
    if not can(user, action):
        raise PermissionDenied(permission_denied_message(action))


def ensure_roles() -> None:
    for role in ROLES:
        Group.objects.get_or_create(name=role)
