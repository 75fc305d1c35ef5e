"""Roles from an identity provider's groups: DUSK_OIDC_ROLE_GROUPS is "role=group" pairs
("approver=dusk-approvers,manager=dusk-managers"; a role may be named twice, for two groups)."""

from collections.abc import Iterable

from django.core.exceptions import ImproperlyConfigured

from channels_app.core.permissions import ROLES


def parse_role_groups(entries: Iterable[str]) -> dict[str, frozenset[str]]:
    """["role=group", ...] -> {role: groups}; an unknown role or a malformed pair is refused."""
    mapping: dict[str, set[str]] = {}
    for entry in entries:
        role, sep, group = (part.strip() for part in entry.partition("="))
        if not sep or not role or not group:
            raise ImproperlyConfigured(f"DUSK_OIDC_ROLE_GROUPS: {entry!r} is not role=group.")
        if role not in ROLES:
            raise ImproperlyConfigured(f"DUSK_OIDC_ROLE_GROUPS: {role!r} is not a role (roles: {', '.join(ROLES)}).")
        mapping.setdefault(role, set()).add(group)
    return {role: frozenset(groups) for role, groups in mapping.items()}


def roles_for_groups(groups: object, mapping: dict[str, frozenset[str]]) -> set[str]:
    """The roles whose group is among `groups` (the claim: a list of names, or one name)."""
    if isinstance(groups, str):
        names = {groups}
    elif isinstance(groups, list | tuple):
        names = {g for g in groups if isinstance(g, str)}
    else:
        names = set()
    return {role for role, wanted in mapping.items() if wanted & names}
