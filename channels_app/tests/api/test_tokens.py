"""API tokens: shown once, stored as a digest, owner's roles narrowed by scopes,
revocable, and managed from a signed-in session only."""

import hashlib
import re
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from channels_app.accounts.services import create_api_token, revoke_api_token
from channels_app.models import ApiToken, AuditEvent, SunsetPlan
from channels_app.tests.support.factories import ChannelFactory, UserProfileFactory

pytestmark = pytest.mark.django_db


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def new_token(user, scopes=("read", "write"), **kwargs) -> str:
    return create_api_token(actor=user, name=kwargs.pop("name", "sync"), scopes=list(scopes), **kwargs)[1]


def test_token_is_stored_only_as_a_digest(manager):
    token, secret = create_api_token(actor=manager, name="helpdesk sync", scopes=["read"])
    assert secret.startswith(f"dusk_{token.prefix}_")
    raw_secret = secret.split("_", 2)[2]
    assert token.secret_hash == hashlib.sha256(raw_secret.encode()).hexdigest()
    stored = ApiToken.objects.filter(pk=token.pk).values()[0]
    assert raw_secret not in str(stored)
    event = AuditEvent.objects.get(action="api_token.created")
    assert raw_secret not in str(event.after) and event.after["prefix"] == token.prefix


def test_a_token_acts_with_its_owners_roles(manager, viewer):
    channel = ChannelFactory()
    body = {"kind": "x", "name": "Brand on X 2"}
    assert bearer(new_token(manager)).post("/api/v1/channels/", body, format="json").status_code == 201
    viewer_client = bearer(new_token(viewer))
    denied = viewer_client.post("/api/v1/channels/", {"kind": "x", "name": "Nope"}, format="json")
    assert denied.status_code == 403
    assert viewer_client.get(f"/api/v1/channels/{channel.pk}/", format="json").status_code == 200


def test_read_scope_cannot_write_even_when_the_role_could(manager):
    client = bearer(new_token(manager, scopes=["read"]))
    assert client.get("/api/v1/plans/").status_code == 200
    response = client.post("/api/v1/channels/", {"kind": "x", "name": "Brand"}, format="json")
    assert response.status_code == 403
    assert response.json()["detail"] == "This token does not have the “write” scope."
    # a preview only reads, so a read token may ask for one
    preview = client.post("/api/v1/auto-replies/render/", {"text": "Hello", "platforms": ["x"]}, format="json")
    assert preview.status_code == 200


def test_write_only_token_cannot_read(manager):
    response = bearer(new_token(manager, scopes=["write"])).get("/api/v1/plans/")
    assert response.status_code == 403
    assert "read" in response.json()["detail"]


def test_losing_a_role_takes_effect_at_once(manager):
    client = bearer(new_token(manager))
    assert client.post("/api/v1/channels/", {"kind": "x", "name": "One"}, format="json").status_code == 201
    manager.groups.clear()
    assert client.post("/api/v1/channels/", {"kind": "x", "name": "Two"}, format="json").status_code == 403


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), "Invalid token."),
        (lambda t: "dusk_nosuchprefix_" + t.split("_", 2)[2], "Invalid token."),
        (lambda t: "not-a-token", "Malformed token"),
    ],
)
def test_wrong_tokens_are_401(manager, mangle, message):
    response = bearer(mangle(new_token(manager))).get("/api/v1/plans/")
    assert response.status_code == 401
    assert response.json()["detail"].startswith(message)


def test_revoked_expired_and_deactivated_tokens_stop_working(manager, viewer):
    token, secret = create_api_token(actor=manager, name="ci", scopes=["read"])
    revoke_api_token(actor=manager, token=token)
    assert bearer(secret).get("/api/v1/plans/").json()["detail"] == "This token was revoked."
    token, secret = create_api_token(
        actor=manager, name="short", scopes=["read"], expires_at=timezone.now() + timedelta(hours=1)
    )
    now = timezone.now()
    ApiToken.objects.filter(pk=token.pk).update(
        created_at=now - timedelta(hours=2), expires_at=now - timedelta(seconds=1)
    )
    assert bearer(secret).get("/api/v1/plans/").json()["detail"] == "This token has expired."
    secret = new_token(viewer)
    viewer.is_active = False
    viewer.save()
    assert bearer(secret).get("/api/v1/plans/").status_code == 401


def test_last_use_is_recorded(manager):
    token, secret = create_api_token(actor=manager, name="ci", scopes=["read"])
    assert token.last_used_at is None
    bearer(secret).get("/api/v1/plans/")
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_tokens_are_created_through_the_api_once_and_listed_without_secret(manager):
    client = APIClient()
    client.force_login(manager)
    created = client.post("/api/v1/tokens/", {"name": "warehouse", "scopes": ["read"]}, format="json")
    assert created.status_code == 201
    secret = created.json()["token"]
    assert bearer(secret).get("/api/v1/plans/").status_code == 200
    listed = client.get("/api/v1/tokens/").json()["results"]
    assert [t["name"] for t in listed] == ["warehouse"]
    assert "token" not in listed[0] and secret not in str(listed)
    expires = timezone.datetime.fromisoformat(created.json()["expires_at"].replace("Z", "+00:00"))
    assert timedelta(days=89) < expires - timezone.now() <= timedelta(days=90)


def test_a_token_cannot_mint_or_revoke_tokens(manager):
    token, secret = create_api_token(actor=manager, name="ci", scopes=["read", "write"])
    response = bearer(secret).post("/api/v1/tokens/", {"name": "escalate", "scopes": ["write"]}, format="json")
    assert response.status_code == 403
    assert "sign in" in response.json()["detail"]
    assert bearer(secret).post(f"/api/v1/tokens/{token.pk}/revoke/").status_code == 403
    assert ApiToken.objects.count() == 1


def test_someone_elses_token_is_not_found(manager, viewer, administrator):
    token, _ = create_api_token(actor=manager, name="ci", scopes=["read"])
    client = APIClient()
    client.force_login(viewer)
    for response in (client.get(f"/api/v1/tokens/{token.pk}/"), client.post(f"/api/v1/tokens/{token.pk}/revoke/")):
        assert response.status_code == 404
        assert "ci" not in response.content.decode() and token.prefix not in response.content.decode()
    assert client.get("/api/v1/tokens/").json()["count"] == 0
    client.force_login(administrator)
    assert client.post(f"/api/v1/tokens/{token.pk}/revoke/").json()["status"] == "revoked"


def test_bad_token_requests_are_refused_with_messages(manager):
    client = APIClient()
    client.force_login(manager)
    create_api_token(actor=manager, name="ci", scopes=["read"])
    duplicate = client.post("/api/v1/tokens/", {"name": "ci", "scopes": ["read"]}, format="json")
    assert duplicate.status_code == 400 and "already have a token named" in duplicate.json()["errors"]["name"][0]
    bad = client.post("/api/v1/tokens/", {"name": "x", "scopes": ["admin"], "expires_in_days": 1000}, format="json")
    assert set(bad.json()["errors"]) == {"scopes", "expires_in_days"}
    assert ApiToken.objects.count() == 1


# --- the portal page ------------------------------------------------------------------------------------


def test_portal_page_creates_a_token_and_shows_it_once(client, hr_coordinator):
    client.force_login(hr_coordinator)
    page = client.get(reverse("api_tokens"))
    assert page.status_code == 200
    assert "No API tokens yet." in page.content.decode()
    created = client.post(
        reverse("api_tokens"), {"name": "HR import", "scopes": ["read", "write"], "expires_in_days": 30}
    )
    assert created.status_code == 201
    secret = created.context["new_token"]
    assert secret in created.content.decode()
    assert bearer(secret).get("/api/v1/agents/").status_code == 200
    again = client.get(reverse("api_tokens")).content.decode()
    assert "HR import" in again and secret not in again
    assert "<td>Read, Write</td>" in again and '<span class="state state-active">Active</span>' in again
    # No inline script or style (external scripts such as the vendored htmx are fine).
    assert not re.search(r"<script(?![^>]*\bsrc=)", again) and "style=" not in again


def test_portal_page_shows_form_errors_and_creates_nothing(client, manager):
    client.force_login(manager)
    response = client.post(reverse("api_tokens"), {"name": "", "scopes": [], "expires_in_days": 30})
    assert response.status_code == 422
    assert "This field is required." in response.content.decode()
    assert not ApiToken.objects.exists()


def test_portal_page_revokes_and_hides_other_peoples_tokens(client, manager, viewer):
    token, secret = create_api_token(actor=manager, name="ci", scopes=["read"])
    client.force_login(viewer)
    assert "ci" not in client.get(reverse("api_tokens")).context["tokens"].values_list("name", flat=True)
    assert client.post(reverse("api_token_revoke", args=[token.pk])).status_code == 404
    client.force_login(manager)
    response = client.post(reverse("api_token_revoke", args=[token.pk]), follow=True)
    assert "revoked" in response.content.decode()
    assert '<span class="state state-revoked">Revoked</span>' in response.content.decode()
    assert bearer(secret).get("/api/v1/plans/").status_code == 401
    assert not SunsetPlan.objects.exists()


def test_portal_page_needs_csrf(manager):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    assert (
        client.post(reverse("api_tokens"), {"name": "x", "scopes": ["read"], "expires_in_days": 30}).status_code == 403
    )
    assert not ApiToken.objects.exists()


def test_portal_page_writes_token_times_in_the_readers_zone_with_utc_beside(client, manager):

    UserProfileFactory(user=manager, time_zone="Asia/Jakarta")
    token, _ = create_api_token(actor=manager, name="ci", scopes=["read"])
    client.force_login(manager)
    html = client.get(reverse("api_tokens")).content.decode()
    local = token.created_at.astimezone(ZoneInfo("Asia/Jakarta"))
    assert f"{local:%Y-%m-%d %H:%M} WIB" in html
    assert f"({token.created_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC)" in html


def test_portal_page_speaks_french_in_its_messages_and_errors(client, manager):
    client.force_login(manager)
    client.cookies["django_language"] = "fr"
    created = client.post(reverse("api_tokens"), {"name": "Synchro", "scopes": ["read"], "expires_in_days": 30})
    assert created.status_code == 201
    assert "Jeton « Synchro » créé. Copiez-le maintenant : il ne sera plus affiché." in created.content.decode()
    again = client.post(reverse("api_tokens"), {"name": "Synchro", "scopes": ["read"], "expires_in_days": 30})
    assert again.status_code == 422
    assert (
        "Vous avez déjà un jeton nommé « Synchro » ; révoquez-le ou choisissez un autre nom." in again.content.decode()
    )
