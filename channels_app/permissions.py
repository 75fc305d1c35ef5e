"""Roles are Django groups. One table (ROLE_ACTIONS) says who may do what; the
services, views and API all ask `can(user, action)`."""

from django.contrib.auth.models import AnonymousUser, Group
from django.core.exceptions import PermissionDenied

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
}


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


def has_role(user, role: str) -> bool:
    return role in roles_of(user)


def can(user, action: str) -> bool:
    return bool(roles_of(user) & ROLE_ACTIONS[action])


def require(user, action: str) -> None:
    if not can(user, action):
        raise PermissionDenied(f"Your role does not allow: {action.replace('_', ' ')}.")


def ensure_roles() -> None:
    for role in ROLES:
        Group.objects.get_or_create(name=role)
