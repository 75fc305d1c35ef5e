"""Single sign-on against a real OpenID Connect provider on 127.0.0.1 (oidc-provider-mock):
the portal is driven with the test client, the provider over HTTP, and the code is exchanged
by the portal with the provider for real."""

from urllib.parse import urlsplit

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.core.checks import run_checks
from django.test import Client

from channels_app.accounts.services import create_api_token
from channels_app.audit.services import verify_chain
from channels_app.core.permissions import roles_of
from channels_app.models import AuditEvent

PASSWORD = "correct horse battery staple"  # the persona fixtures' password


def sign_in_with_sso(client: Client, provider, sub: str):
    """Start at the portal, pick `sub` on the provider's page, come back; returns the portal's
    last answer (a redirect to the dashboard, or to the sign-in page when refused)."""
    start = client.get("/accounts/login/")
    assert start.status_code == 200
    to_provider = client.get("/oidc/authenticate/")
    assert to_provider.status_code == 302
    assert to_provider["Location"].startswith(f"{provider.url}/oauth2/authorize?")
    back = urlsplit(provider.authorize(to_provider["Location"], sub))
    assert back.path == "/oidc/callback/"
    return client.get(f"{back.path}?{back.query}")


def _person(sub: str):
    return get_user_model().objects.get(dusk_profile__oidc_subject=sub)


def test_a_member_of_the_approvers_group_signs_in_with_exactly_the_approver_role(oidc_provider):
    oidc_provider.set_person("ana-1", email="ana@example.com", preferred_username="ana", groups=["dusk-approvers"])
    client = Client()
    response = sign_in_with_sso(client, oidc_provider, "ana-1")
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    ana = _person("ana-1")
    assert ana.username == "ana" and ana.is_active and not ana.has_usable_password()
    assert roles_of(ana) == {"approver"}
    assert client.get("/approvals/").status_code == 200
    assert AuditEvent.objects.filter(action="user.sso_created", after__roles=["approver"]).exists()
    assert verify_chain() == []


def test_roles_are_replaced_at_each_sign_in_and_no_mapped_group_deactivates(oidc_provider, manager):
    oidc_provider.set_person("bo-2", preferred_username="bo", groups=["dusk-approvers", "unrelated"])
    assert sign_in_with_sso(Client(), oidc_provider, "bo-2")["Location"] == "/"
    assert roles_of(_person("bo-2")) == {"approver"}

    # Moved from the approvers to the managers: exactly manager at the next sign-in.
    oidc_provider.set_person("bo-2", preferred_username="bo", groups=["dusk-managers"])
    assert sign_in_with_sso(Client(), oidc_provider, "bo-2")["Location"] == "/"
    assert roles_of(_person("bo-2")) == {"manager"}

    # Removed from every mapped group: the role goes, the account is deactivated, the sign-in refused.
    oidc_provider.set_person("bo-2", preferred_username="bo", groups=["unrelated"])
    client = Client()
    refused = sign_in_with_sso(client, oidc_provider, "bo-2")
    assert refused["Location"] == "/accounts/login/?sso=refused"
    bo = _person("bo-2")
    assert not bo.is_active and roles_of(bo) == set()
    assert bo.groups.filter(name__in=["approver", "manager"]).count() == 0
    page = client.get(refused["Location"])
    assert "did not give you access to Dusk" in page.content.decode()
    assert client.get("/").status_code == 302  # not signed in
    event = AuditEvent.objects.filter(action="user.sso_updated").order_by("-id").first()
    assert event.before["roles"] == ["manager"] and event.after == {"roles": [], "active": False, "email": ""}

    # Back in a group: active again.
    oidc_provider.set_person("bo-2", preferred_username="bo", groups=["dusk-everyone"])
    assert sign_in_with_sso(Client(), oidc_provider, "bo-2")["Location"] == "/"
    assert _person("bo-2").is_active and roles_of(_person("bo-2")) == {"viewer"}


def test_the_provider_cannot_hand_out_a_local_persons_account(oidc_provider, manager):
    oidc_provider.set_person("evil", preferred_username=manager.username, groups=["dusk-approvers"])
    response = sign_in_with_sso(Client(), oidc_provider, "evil")
    assert response["Location"] == "/accounts/login/?sso=refused"
    manager.refresh_from_db()
    assert roles_of(manager) == {"manager"}


def test_sign_out_ends_the_session_at_the_provider_too(oidc_provider):
    oidc_provider.set_person("cy-3", preferred_username="cy", groups=["dusk-everyone"])
    client = Client()
    sign_in_with_sso(client, oidc_provider, "cy-3")
    out = client.post("/accounts/logout/")
    assert out.status_code == 302
    target = urlsplit(out["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{oidc_provider.url}/oauth2/end_session"
    assert "id_token_hint=" in target.query and "post_logout_redirect_uri=" in target.query
    assert client.get("/").status_code == 302
    # The provider's end-session page answers for that request.
    assert httpx.get(out["Location"], timeout=5).status_code == 200


def test_local_sign_in_off_refuses_passwords_but_not_api_tokens(oidc_provider, settings, manager):
    settings.DUSK_LOCAL_LOGIN = False
    client = Client()
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with your organisation" in page and 'name="password"' not in page
    refused = client.post("/accounts/login/", {"username": manager.username, "password": PASSWORD})
    assert refused.status_code == 403
    assert "Signing in with a password is turned off here" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    # The admin's sign-in form goes through the same backend.
    admin = client.post("/admin/login/", {"username": manager.username, "password": PASSWORD})
    assert "_auth_user_id" not in client.session and admin.status_code == 200
    # A person's API token keeps working.
    _, token = create_api_token(actor=manager, name="ci", scopes=["read"])
    assert client.get("/api/v1/plans/", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    # SSO still signs people in.
    oidc_provider.set_person("dee-4", preferred_username="dee", groups=["dusk-managers"])
    assert sign_in_with_sso(Client(), oidc_provider, "dee-4")["Location"] == "/"


def test_without_sso_configured_its_urls_are_404(client, db):
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404
    assert "organisation" not in client.get("/accounts/login/").content.decode()


@pytest.mark.parametrize("groups", [None, "dusk-approvers", ["dusk-approvers", 7, None]])
def test_odd_groups_claims_are_read_safely(oidc_provider, groups):
    claims = {"preferred_username": "odd"} | ({"groups": groups} if groups is not None else {})
    oidc_provider.set_person("odd-5", **claims)
    response = sign_in_with_sso(Client(), oidc_provider, "odd-5")
    expected = "/accounts/login/?sso=refused" if groups is None else "/"
    assert response["Location"] == expected


def _sso_check_ids() -> set[str]:
    return {m.id for m in run_checks(include_deployment_checks=True) if m.id.startswith(("dusk.E20", "dusk.W20"))}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, {"dusk.E206"}),  # the provider on 127.0.0.1 speaks http: refused for production
        ({"DUSK_OIDC_ROLE_GROUPS": ["boss=dusk-bosses"]}, {"dusk.E203", "dusk.E206"}),
        ({"DUSK_OIDC_ROLE_GROUPS": []}, {"dusk.E205", "dusk.E206"}),
        ({"OIDC_OP_TOKEN_ENDPOINT": ""}, {"dusk.E204", "dusk.E206"}),
        ({"DUSK_OIDC_CLIENT_ID": "", "DUSK_LOCAL_LOGIN": False}, {"dusk.W202"}),
    ],
)
def test_sso_settings_are_checked(oidc_provider, settings, change, expected):
    settings.DUSK_AUDIT_KEYS = [f"k1:{'k' * 40}"]
    for name, value in change.items():
        setattr(settings, name, value)
    assert _sso_check_ids() == expected


def test_https_sso_settings_pass_the_deploy_check(oidc_provider, settings):
    settings.DUSK_AUDIT_KEYS = [f"k1:{'k' * 40}"]
    for name in (
        "OIDC_OP_AUTHORIZATION_ENDPOINT",
        "OIDC_OP_TOKEN_ENDPOINT",
        "OIDC_OP_USER_ENDPOINT",
        "OIDC_OP_JWKS_ENDPOINT",
    ):
        setattr(settings, name, getattr(settings, name).replace("http://127.0.0.1", "https://idp.example.com"))
    settings.DUSK_OIDC_END_SESSION_ENDPOINT = "https://idp.example.com/oauth2/end_session"
    assert _sso_check_ids() == set()
