"""Every URL pattern of the project, for every role and for anonymous visitors,
answers allow or deny as the role matrix (permissions.ROLE_ACTIONS) says.

A new URL pattern must declare its access in ACCESS below, or this test fails:
add an entry naming the matrix action each method needs (see the kinds of rule).
"""

import os
import re
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from channels_app.accounts.services import create_api_token
from channels_app.core.permissions import ROLE_ACTIONS, ROLES, roles_of
from channels_app.directory.services import register_channel
from channels_app.models import SunsetPlan
from channels_app.plans.services.drafts import open_plan_draft
from channels_app.tests.support.factories import (
    TEST_TOKEN_ENV,
    TEST_URL_ENV,
    AssignmentFactory,
    ChannelFactory,
    ConversationFactory,
    CutoverRunFactory,
    TeamFactory,
)
from channels_app.tests.support.helpers import hard_close_plan
from channels_app.workforce.services.moves import assign_agents

pytestmark = pytest.mark.django_db

ANONYMOUS = "anonymous"


# --- kinds of rule ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Public:
    """Anyone, signed in or not."""

    methods: tuple[str, ...] = ("GET",)
    ok: tuple[int, ...] = (200,)
    kwargs: str | None = None


@dataclass(frozen=True)
class Page:
    """An HTML page: anonymous visitors are sent to sign in; a role without the
    action gets 403; `owner_only` objects of someone else are 404."""

    methods: dict[str, str]
    kwargs: str | None = None
    owner_only: bool = False
    admin_sees_all: bool = True  # False: even the admin role gets 404 for someone else's object


@dataclass(frozen=True)
class Api:
    """An API operation: anonymous 401, a role without the action 403 (with no
    object data), `owner_only` objects of someone else 404."""

    methods: dict[str, str]
    kwargs: str | None = None
    owner_only: bool = False


@dataclass(frozen=True)
class AdminSite:
    """Django admin pages: only the `use_admin_site` action gets in; everyone
    else is sent to the admin sign-in page."""

    public: bool = False  # the admin's own sign-in page
    denied_to: str = "admin:login"  # where someone without the role is sent


VIEW_ONLY = {"GET": "view"}

# pattern name (or route, for an unnamed pattern) -> rule. Patterns under admin/
# are covered by the AdminSite rule unless named here.
ACCESS: dict[str, object] = {
    "login": Public(),
    "logout": Public(methods=("POST",), ok=(302,)),
    "home": Page(VIEW_ONLY),
    "healthz": Public(ok=(200, 503)),
    # A bearer token or an allow-listed address, never a role: 401 for every persona.
    "metrics": Public(ok=(401,)),
    "api_tokens": Page({"GET": "use_api_tokens", "POST": "use_api_tokens"}),
    "api_token_revoke": Page({"POST": "use_api_tokens"}, kwargs="token", owner_only=True),
    "admin:login": AdminSite(public=True),
    "admin:logout": AdminSite(denied_to="admin:index"),
    # --- REST API
    "api:api-root": Api(VIEW_ONLY),
    "api:schema": Api(VIEW_ONLY),
    "api:docs": Page(VIEW_ONLY),
    "api:channel-list": Api({"GET": "view", "POST": "manage_channels"}),
    "api:channel-detail": Api({"GET": "view", "PUT": "manage_channels", "PATCH": "manage_channels"}, kwargs="channel"),
    "api:team-list": Api({"GET": "view", "POST": "manage_workforce"}),
    "api:team-detail": Api({"GET": "view", "PUT": "manage_workforce", "PATCH": "manage_workforce"}, kwargs="team"),
    "api:agent-list": Api({"GET": "view", "POST": "manage_workforce"}),
    "api:agent-detail": Api({"GET": "view", "PUT": "manage_workforce", "PATCH": "manage_workforce"}, kwargs="agent"),
    "api:plan-list": Api({"GET": "view", "POST": "draft_plan"}),
    "api:plan-detail": Api({"GET": "view", "PUT": "draft_plan", "PATCH": "draft_plan"}, kwargs="plan"),
    "api:plan-preview": Api(VIEW_ONLY, kwargs="plan"),
    "api:plan-preflight": Api(VIEW_ONLY, kwargs="plan"),
    "api:plan-funnel": Api(VIEW_ONLY, kwargs="plan"),
    "api:plan-outcomes": Api({"GET": "view_outcomes"}, kwargs="plan"),
    "api:plan-contact-requests": Api({"GET": "read_contact_requests"}, kwargs="plan"),
    "api:outcome-list": Api({"GET": "view_outcomes"}),
    "api:agent-departure": Api({"POST": "manage_workforce"}, kwargs="agent"),
    "api:plan-submit": Api({"POST": "submit_plan"}, kwargs="plan"),
    "api:plan-approve": Api({"POST": "approve_plan"}, kwargs="plan"),
    "api:plan-reject": Api({"POST": "approve_plan"}, kwargs="plan"),
    "api:plan-cancel": Api({"POST": "cancel_plan"}, kwargs="plan"),
    "api:plan-reschedule": Api({"POST": "reschedule_plan"}, kwargs="phase"),
    "api:plan-reassignments": Api({"POST": "manage_reassignments"}, kwargs="plan"),
    "api:plan-confirm-reassignments": Api({"POST": "manage_reassignments"}, kwargs="plan"),
    "api:plan-notify-agents": Api({"POST": "manage_reassignments"}, kwargs="plan"),
    "api:autoreply-list": Api(VIEW_ONLY),
    "api:autoreply-detail": Api(VIEW_ONLY, kwargs="auto_reply"),
    "api:autoreply-preview": Api(VIEW_ONLY, kwargs="auto_reply"),
    "api:autoreply-render": Api({"POST": "view"}),
    "api:reassignment-list": Api(VIEW_ONLY),
    "api:reassignment-detail": Api(VIEW_ONLY, kwargs="reassignment"),
    "api:run-list": Api(VIEW_ONLY),
    "api:run-detail": Api(VIEW_ONLY, kwargs="run"),
    "api:auditevent-list": Api({"GET": "view_audit"}),
    "api:auditevent-detail": Api({"GET": "view_audit"}, kwargs="audit_event"),
    "api:apitoken-list": Api({"GET": "use_api_tokens", "POST": "use_api_tokens"}),
    "api:apitoken-detail": Api({"GET": "use_api_tokens"}, kwargs="token", owner_only=True),
    "api:apitoken-revoke": Api({"POST": "use_api_tokens"}, kwargs="token", owner_only=True),
    # --- cutover safety
    "phase_dry_run": Page(VIEW_ONLY, kwargs="phase_of_plan"),
    "run_rollback": Page({"GET": "view", "POST": "rollback_plan"}, kwargs="run_id"),
    "run_retry_deliveries": Page({"POST": "manage_channels"}, kwargs="run"),
    "run_retry_restores": Page({"POST": "rollback_plan"}, kwargs="run"),
    "phase_dry_run_by_kind": Page(VIEW_ONLY, kwargs="phase_kind_of_plan"),
    "channel_watchdog": Page(VIEW_ONLY, kwargs="channel_id"),
    "tracked_redirect": Public(ok=(200, 404), kwargs="reference"),
    "landing_choose": Public(ok=(404,), kwargs="reference_position"),
    "landing_contact": Public(methods=("POST",), ok=(404,), kwargs="reference"),
    "landing_brand_css": Public(ok=(200,), kwargs="plan_version"),
    "landing_logo": Public(ok=(404,), kwargs="plan_version"),
    "plan_landing": Page({"GET": "view", "POST": "draft_plan"}, kwargs="plan_id"),
    "plan_handoffs": Page({"GET": "view", "POST": "draft_plan"}, kwargs="plan_id"),
    "plan_contact_requests": Page({"GET": "read_contact_requests"}, kwargs="plan_id"),
    "plan_funnel": Page(VIEW_ONLY, kwargs="plan_id"),
    "plan_funnel_csv": Page(VIEW_ONLY, kwargs="plan_id"),
    "plan_handoff_destination_remove": Page({"POST": "draft_plan"}, kwargs="plan_destination"),
    "handoff_delivery_requeue": Page({"POST": "manage_channels"}, kwargs="plan_delivery"),
    # --- workforce transition (HR)
    "plan_reassignments": Page(VIEW_ONLY, kwargs="plan_id"),
    "plan_reassignments_assign": Page({"POST": "manage_reassignments"}, kwargs="plan_id"),
    "plan_reassignments_accept": Page({"POST": "manage_reassignments"}, kwargs="plan_id"),
    "plan_reassignments_confirm": Page({"POST": "manage_reassignments"}, kwargs="plan_id"),
    "plan_reassignments_clear": Page({"POST": "manage_reassignments"}, kwargs="plan_id"),
    "plan_reassignments_notify": Page({"POST": "manage_reassignments"}, kwargs="plan_id"),
    "plan_reassignments_import": Page({"POST": "manage_reassignments"}, kwargs="plan_id"),
    "plan_reassignments_csv": Page(VIEW_ONLY, kwargs="plan_id"),
    "plan_staffing": Page({"GET": "view", "POST": "manage_reassignments"}, kwargs="plan_id"),
    "plan_outcomes": Page({"GET": "view_outcomes"}, kwargs="plan_id"),
    "plan_outcomes_csv": Page({"GET": "view_outcomes"}, kwargs="plan_id"),
    "outcomes": Page({"GET": "view_outcomes"}),
    "outcomes_csv": Page({"GET": "view_outcomes"}),
    "outcomes_departure": Page({"POST": "manage_workforce"}),
    "plan_reassignments_reply": Page({"POST": "manage_reassignments"}, kwargs="plan_id"),
    "plan_reassignments_link": Page({"POST": "manage_reassignments"}, kwargs="plan_id"),
    # The agent's page: public, the signed link is the key; a link that is not one is refused (403).
    "agent_page": Public(ok=(403,), kwargs="agent_token"),
    "agent_page_answer": Public(methods=("POST",), ok=(403,), kwargs="agent_token"),
    "agent_page_tick": Public(methods=("POST",), ok=(403,), kwargs="agent_token_item"),
    # --- the portal's pages
    "channel_list": Page(VIEW_ONLY),
    "channel_detail": Page(VIEW_ONLY, kwargs="channel"),
    "channel_volume": Page(VIEW_ONLY, kwargs="channel"),
    # A forum's notice settings (another platform's channel has none: 404).
    "channel_notice_settings": Page({"GET": "manage_channels", "POST": "manage_channels"}, kwargs="forum"),
    "plan_new": Page({"GET": "draft_plan", "POST": "draft_plan"}),
    "plan_detail": Page(VIEW_ONLY, kwargs="plan"),
    "plan_edit": Page({"GET": "draft_plan", "POST": "draft_plan"}, kwargs="plan"),
    "plan_submit": Page({"POST": "submit_plan"}, kwargs="plan"),
    "plan_cancel": Page({"POST": "cancel_plan"}, kwargs="other_plan"),
    "plan_copy": Page({"POST": "draft_plan"}, kwargs="plan"),
    # A wizard draft belongs to the person writing it: nobody else sees it, the admin neither.
    "plan_draft_autosave": Page({"POST": "draft_plan"}, kwargs="draft", owner_only=True, admin_sees_all=False),
    "plan_draft_instant": Page({"POST": "draft_plan"}, kwargs="draft", owner_only=True, admin_sees_all=False),
    "plan_draft_preview": Page({"POST": "draft_plan"}, kwargs="draft", owner_only=True, admin_sees_all=False),
    "plan_draft_notice_preview": Page({"POST": "draft_plan"}, kwargs="draft", owner_only=True, admin_sees_all=False),
    "plan_draft_discard": Page(
        {"GET": "draft_plan", "POST": "draft_plan"}, kwargs="draft", owner_only=True, admin_sees_all=False
    ),
    "approvals": Page({"GET": "approve_plan"}),
    "approval_review": Page({"GET": "approve_plan"}, kwargs="plan"),
    "plan_approve": Page({"POST": "approve_plan"}, kwargs="plan"),
    "plan_send_back": Page({"POST": "approve_plan"}, kwargs="plan"),
    "run_detail": Page(VIEW_ONLY, kwargs="run"),
    "run_failures": Page(VIEW_ONLY, kwargs="run"),
    "audit_log": Page({"GET": "view_audit"}),
    "audit_event": Page({"GET": "view_audit"}, kwargs="audit_event"),
    "plan_history": Page(VIEW_ONLY, kwargs="plan"),
    "profile": Page({"GET": "view", "POST": "view"}),
    "password_change": Page({"GET": "view", "POST": "view"}),
    # Single sign-on: not configured in this walk, so both ends are 404 (tests/accounts/test_sso.py).
    "oidc_authentication_init": Public(ok=(404,)),
    "oidc_authentication_callback": Public(ok=(404,)),
    "csp_report": Public(methods=("POST",), ok=(204,)),
    "set_language": Public(methods=("POST",), ok=(302,)),
    # --- the platform edge. Webhooks need no session but a platform signature: an unsigned
    # request is refused (the walk's channel is an X channel with no secret configured, so
    # the other platforms' hooks do not find it).
    "hook_x": Public(methods=("GET", "POST"), ok=(400, 403, 503), kwargs="channel_id"),
    "hook_discourse": Public(methods=("POST",), ok=(404,), kwargs="channel_id"),
    "hook_messenger": Public(methods=("GET", "POST"), ok=(404,), kwargs="channel_id"),
    "hook_email": Public(methods=("POST",), ok=(404,), kwargs="channel_id"),
    "handoff_arrival": Public(methods=("POST",), ok=(401,), kwargs="destination_id"),
    "channel_messages": Page(VIEW_ONLY, kwargs="channel_id"),
    "channel_messages_retry_failed": Page({"POST": "manage_channels"}, kwargs="channel_id"),
    "channel_test_connection": Page({"POST": "manage_channels"}, kwargs="channel_id"),
}


# --- walking the URLconf --------------------------------------------------------------------------------


@dataclass
class Pattern:
    key: str
    route: str
    name: str | None
    params: list[str] = field(default_factory=list)


def all_patterns() -> list[Pattern]:
    found: list[Pattern] = []

    def walk(patterns, prefix: str, namespace: str) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
                walk(entry.url_patterns, prefix + str(entry.pattern), ns)
            elif isinstance(entry, URLPattern):
                route = prefix + str(entry.pattern)
                name = f"{namespace}{entry.name}" if entry.name else None
                params = list(entry.pattern.regex.groupindex)
                found.append(Pattern(key=name or route, route=route, name=name, params=params))

    walk(get_resolver().url_patterns, "", "")
    return found


def rule_for(pattern: Pattern):
    if pattern.key in ACCESS:
        return ACCESS[pattern.key]
    if pattern.route.startswith("admin/"):
        return AdminSite()
    return None


def test_every_url_pattern_declares_its_access():
    patterns = all_patterns()
    missing = [p.key for p in patterns if rule_for(p) is None]
    assert not missing, (
        "These URL patterns have no access rule: add them to ACCESS in "
        f"channels_app/tests/test_url_access.py (who may use them, per the role matrix): {missing}"
    )
    stale = set(ACCESS) - {p.key for p in patterns}
    assert not stale, f"ACCESS names URL patterns that no longer exist: {sorted(stale)}"
    for rule in ACCESS.values():
        for action in getattr(rule, "methods", {}).values() if isinstance(rule, Page | Api) else ():
            assert action in ROLE_ACTIONS, f"unknown action {action!r} in ACCESS"


# --- the world the walk happens in: one row of each kind, named with secrets -------------------------------------


@pytest.fixture
def people(manager, approver, hr_coordinator, viewer, outsider, administrator):
    return {
        "admin": administrator,
        "manager": manager,
        "approver": approver,
        "hr_coordinator": hr_coordinator,
        "viewer": viewer,
        "outsider": outsider,
    }


@pytest.fixture
def one_secret_row_of_each_kind(people):
    manager = people["manager"]
    channel = register_channel(
        actor=manager,
        kind="x",
        name="Secret X handle",
        handle="@secret_brand",
        # The session's platform sandbox: the plan's preflight passes.
        api_token_env=TEST_TOKEN_ENV["x"],
        api_base_url=os.environ[TEST_URL_ENV["x"]],
    )
    team = TeamFactory(name="Secret social team")
    team.channels.add(channel)
    assignment = AssignmentFactory(team=team, agent__email="secret.agent@example.com", agent__name="Secret Agent")
    destination = TeamFactory(name="Phone team")
    plan = hard_close_plan(manager=manager, channels=[channel], title="Secret retirement plan")
    assign_agents(
        actor=people["hr_coordinator"],
        plan=plan,
        agent_ids=[assignment.agent.pk],
        to_team=destination,
        effective_date=timezone.now().date() + timedelta(days=40),
    )
    reassignment = plan.reassignments.get()
    other = hard_close_plan(manager=manager, channels=[ChannelFactory()], title="Secret other plan")
    run = CutoverRunFactory(phase=other.phases.get(), plan=other, queued_at=timezone.now())
    token, _ = create_api_token(actor=manager, name="secret-token-name", scopes=["read"])
    from channels_app.models import HandoffDelivery, HandoffDestination, HandoffRequest

    destination = HandoffDestination.objects.create(
        plan=plan, position=0, kind="webhook", url="https://hooks.example.com/dusk", credential_env="DUSK_CHANNEL_HOOK"
    )
    handoff = HandoffRequest.objects.create(
        conversation=ConversationFactory(channel=channel),
        plan=plan,
        name="Secret customer",
        email="secret.customer@example.com",
        message="secret message",
        created_at=timezone.now(),
    )
    delivery = HandoffDelivery.objects.create(request=handoff, destination=destination, state="failed", attempts=8)
    draft = open_plan_draft(actor=manager)
    forum = ChannelFactory(kind="discourse", notice_settings={"announcement_category": 12})
    from channels_app.models import AuditEvent

    objects = {
        "channel": {"pk": channel.pk},
        "forum": {"pk": forum.pk},
        "team": {"pk": team.pk},
        "agent": {"pk": assignment.agent.pk},
        "plan": {"pk": plan.pk},
        # Editing a draft rewrites its phases and replies (new ids): look them up when used.
        "phase": lambda: {"pk": plan.pk, "phase_id": plan.phases.get().pk},
        "auto_reply": lambda: {"pk": plan.auto_replies.get().pk},
        "reassignment": {"pk": reassignment.pk},
        "run": {"pk": run.pk},
        "audit_event": {"pk": AuditEvent.objects.order_by("id").first().pk},
        "token": {"pk": token.pk},
        "plan_id": {"plan_id": plan.pk},
        "other_plan": {"pk": other.pk},
        "draft": {"pk": draft.pk},
        "phase_of_plan": lambda: {"plan_id": plan.pk, "phase_id": plan.phases.get().pk},
        "phase_kind_of_plan": lambda: {"plan_id": plan.pk, "kind": plan.phases.get().kind},
        "run_id": {"run_id": run.pk},
        "channel_id": {"channel_id": channel.pk},
        "reference": {"reference": "DSK-NOSUCH00"},
        "agent_token": {"token": "not-a-signed-link"},
        "agent_token_item": {"token": "not-a-signed-link", "item_id": 1},
        "reference_position": {"reference": "DSK-NOSUCH00", "position": 0},
        "plan_version": {"plan_id": plan.pk, "version": 1},
        "plan_destination": {"plan_id": plan.pk, "destination_id": destination.pk},
        "destination_id": {"destination_id": destination.pk},
        "plan_delivery": {"plan_id": plan.pk, "delivery_id": delivery.pk},
    }
    secrets_ = [
        "Secret X handle",
        "@secret_brand",
        "secret.agent@example.com",
        "Secret retirement plan",
        "secret-token-name",
        token.prefix,
    ]
    return {"kwargs": objects, "token_owner": manager, "secrets": secrets_}


def _admin_kwargs(pattern: Pattern) -> dict:
    kwargs: dict[str, str] = {}
    parts = pattern.route.split("/")
    model = None
    if len(parts) > 3 and parts[1] in {a.label for a in apps.get_app_configs()}:
        try:
            model = apps.get_model(parts[1], parts[2])
        except LookupError:
            model = None
    for param in pattern.params:
        if param in ("object_id", "id"):
            obj = model.objects.order_by("pk").first() if model is not None else None
            kwargs[param] = str(obj.pk if obj is not None else SunsetPlan.objects.first().pk)
        elif param == "app_label":
            kwargs[param] = "channels_app"
        elif param == "content_type_id":
            kwargs[param] = str(ContentType.objects.get_for_model(SunsetPlan).pk)
        elif param == "url":
            kwargs[param] = "no-such-page/"
    return kwargs


def _fill(route: str, kwargs: dict) -> str:
    """A URL for an unnamed pattern: put the values into <converters> and (?P<groups>)."""
    url = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: kwargs[m.group(1)], route)
    url = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: kwargs[m.group(1)], url)
    return "/" + url.replace("^", "").replace("$", "")


def _url(pattern: Pattern, rule, one_secret_row_of_each_kind) -> str:
    if isinstance(rule, AdminSite):
        kwargs = _admin_kwargs(pattern)
        if pattern.name is None:
            return _fill(pattern.route, kwargs)
        return reverse(pattern.name, kwargs=kwargs)
    kwargs = one_secret_row_of_each_kind["kwargs"][rule.kwargs] if getattr(rule, "kwargs", None) else {}
    return reverse(pattern.name, kwargs=kwargs() if callable(kwargs) else kwargs)


def _client(person) -> Client:
    client = Client()
    if person is not None:
        client.force_login(person)
    return client


def _send(client: Client, method: str, url: str):
    if method == "GET":
        return client.get(url)
    return getattr(client, method.lower())(url, data="{}", content_type="application/json")


def _redirects_to(response, url: str) -> bool:
    return response.status_code == 302 and response["Location"].split("?")[0] == url


def test_every_url_answers_every_role_as_the_matrix_says(people, one_secret_row_of_each_kind):
    login_url = reverse("login")
    personas = [(ANONYMOUS, None), *people.items()]
    clients = {who: _client(person) for who, person in personas}
    checked = 0
    failures: list[str] = []

    def expect(cond: bool, what: str) -> None:
        if not cond:
            failures.append(what)

    for pattern in all_patterns():
        rule = rule_for(pattern)
        for who, person in personas:
            url = _url(pattern, rule, one_secret_row_of_each_kind)
            allowed_roles = roles_of(person) if person is not None else set()
            methods = rule.methods if isinstance(rule, Public | Page | Api) else ("GET",)
            for method in methods:
                # Signing out ends the session: that one gets a client of its own.
                client = _client(person) if pattern.key == "logout" else clients[who]
                response = _send(client, method, url)
                checked += 1
                where = f"{method} {url} as {who}: {response.status_code}"
                expect(
                    response.status_code < 500 or (isinstance(rule, Public) and response.status_code in rule.ok),
                    f"{where} (server error)",
                )
                if isinstance(rule, Public):
                    expect(response.status_code in rule.ok, f"{where}, expected {rule.ok}")
                    continue
                if isinstance(rule, AdminSite):
                    may = person is not None and bool(allowed_roles & ROLE_ACTIONS["use_admin_site"])
                    denied_to = reverse(rule.denied_to)
                    if rule.public:
                        expect(response.status_code in (200, 302), where)
                    elif may:
                        expect(not _redirects_to(response, denied_to) and response.status_code != 401, where)
                    else:
                        expect(_redirects_to(response, denied_to), f"{where}, expected a redirect to {denied_to}")
                    continue
                action = rule.methods[method]
                may = bool(allowed_roles & ROLE_ACTIONS[action])
                body = response.content.decode(errors="replace")
                if person is None:
                    if isinstance(rule, Api):
                        expect(response.status_code == 401, f"{where}, expected 401")
                    else:
                        expect(_redirects_to(response, login_url), f"{where}, expected a redirect to sign-in")
                elif not may:
                    expect(response.status_code == 403, f"{where}, expected 403 ({action})")
                elif (
                    rule.owner_only
                    and person != one_secret_row_of_each_kind["token_owner"]
                    and ("admin" not in allowed_roles or not getattr(rule, "admin_sees_all", True))
                ):
                    expect(response.status_code == 404, f"{where}, expected 404 for someone else's object")
                else:
                    expect(response.status_code not in (401, 403, 404), f"{where}, expected to be let in ({action})")
                    if method == "GET":
                        expect(response.status_code == 200, f"{where}, expected 200")
                if response.status_code in (401, 403, 404) or _redirects_to(response, login_url):
                    leaked = [s for s in one_secret_row_of_each_kind["secrets"] if s in body]
                    expect(not leaked, f"{where} leaks {leaked}")
    assert not failures, f"{len(failures)} of {checked} checks failed:\n" + "\n".join(failures)
    assert checked > 500


def test_roles_in_the_walk_cover_every_role(people):
    assert {role for person in people.values() for role in roles_of(person)} == set(ROLES)
