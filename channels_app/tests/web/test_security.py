"""Security settings and guarantees: production checks, sign-in lockout, the
tamper-evident audit trail, the role matrix document, the API docs page."""

import io
import os
import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from channels_app.accounts.services import create_api_token
from channels_app.core import roles_doc
from channels_app.core.permissions import ROLE_ACTIONS
from channels_app.models import AuditEvent
from channels_app.tests.support.factories import ChannelFactory
from channels_app.tests.support.helpers import approved_plan, readme_production_block

ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "correct horse battery staple"  # the persona fixtures' password


def _manage(script: str, tmp_path) -> subprocess.CompletedProcess:
    """Run shell lines then manage.py in a clean environment (nothing from the test run leaks in)."""
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "DUSK_VAR_DIR": str(tmp_path / "var")}
    return subprocess.run(
        ["bash", "-c", f"set -e\n{script}\nexec {sys.executable} manage.py check --deploy --fail-level WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_with_the_production_environment_in_the_readme(tmp_path):
    result = _manage(readme_production_block(), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_without_it(tmp_path):
    result = _manage("true", tmp_path)
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W009", "security.W012", "security.W016"):
        assert warning in result.stderr


def test_production_refuses_to_start_with_the_development_secret_key(tmp_path):
    result = _manage("export DUSK_PRODUCTION=1 DJANGO_ALLOWED_HOSTS=dusk.example.com", tmp_path)
    assert result.returncode != 0
    assert "DUSK_PRODUCTION=1 needs DJANGO_SECRET_KEY" in result.stderr


def test_password_hashing_prefers_argon2(tmp_path):
    # The tests themselves hash with MD5 (DUSK_FAST_PASSWORD_HASHER); read the settings as a
    # deployment gets them, in a clean environment.
    result = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.PASSWORD_HASHERS[0])"],
        cwd=ROOT,
        env={
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "DUSK_VAR_DIR": str(tmp_path / "var"),
            "DJANGO_SETTINGS_MODULE": "portal.settings",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "django.contrib.auth.hashers.Argon2PasswordHasher", result.stderr


# --- sign-in lockout -------------------------------------------------------------------------------------


def _sign_in(client: Client, username: str, password: str, **headers):
    return client.post(reverse("login"), {"username": username, "password": password}, **headers)


@pytest.fixture
def short_cooloff(settings):
    settings.AXES_COOLOFF_TIME = timedelta(seconds=2)
    return 2


def test_twenty_wrong_passwords_lock_the_account_from_that_address(manager, viewer, short_cooloff):
    client = Client()
    for attempt in range(1, 20):
        response = _sign_in(client, "maya", f"wrong-{attempt}")
        assert response.status_code == 200, attempt  # the form again, with its error
        assert "Please enter a correct" in response.content.decode()
    locked = _sign_in(client, "maya", "wrong-20")
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.content.decode()
    # The right password does not help while the lock lasts...
    still = _sign_in(client, "maya", PASSWORD)
    assert still.status_code == 429
    assert "_auth_user_id" not in client.session
    # ...someone else from the same address, and the same person elsewhere, are not affected.
    assert _sign_in(Client(), "vic", PASSWORD).status_code == 302
    assert _sign_in(Client(REMOTE_ADDR="192.0.2.44"), "maya", PASSWORD).status_code == 302
    # Once the lock ends, the right password works again.
    time.sleep(short_cooloff + 0.2)
    signed_in = _sign_in(client, "maya", PASSWORD)
    assert signed_in.status_code == 302
    assert client.session["_auth_user_id"] == str(manager.pk)


def test_behind_a_proxy_the_lock_follows_the_real_client_not_a_forged_header(manager, settings, short_cooloff):
    settings.DUSK_PROXY_COUNT = 1
    proxy = Client(REMOTE_ADDR="10.0.0.2")
    for attempt in range(20):
        # The client forges the left part; the proxy appends the address it saw.
        _sign_in(proxy, "maya", "wrong", HTTP_X_FORWARDED_FOR=f"198.51.100.{attempt}, 203.0.113.5")
    assert _sign_in(proxy, "maya", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.99, 203.0.113.5").status_code == 429
    other_client = _sign_in(Client(REMOTE_ADDR="10.0.0.2"), "maya", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.6")
    assert other_client.status_code == 302


@pytest.mark.parametrize(
    ("proxies", "forwarded_for", "expected"),
    [
        (0, "198.51.100.1", "10.0.0.2"),  # no proxy: the header is the client's own claim
        (1, "198.51.100.1, 203.0.113.5", "203.0.113.5"),
        (2, "198.51.100.1, 203.0.113.5, 10.0.0.9", "203.0.113.5"),
        (2, "203.0.113.5", "10.0.0.2"),  # did not come through both proxies
        (1, "not-an-address", "10.0.0.2"),
    ],
)
def test_client_address_is_counted_from_the_trusted_end(settings, rf, proxies, forwarded_for, expected):
    from channels_app.core.client_ip import client_ip

    settings.DUSK_PROXY_COUNT = proxies
    request = rf.get("/", HTTP_X_FORWARDED_FOR=forwarded_for, REMOTE_ADDR="10.0.0.2")
    assert client_ip(request) == expected


# --- the audit trail ---------------------------------------------------------------------------------------


def _verify() -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("verify_audit_chain", stdout=out, stderr=err)
    return out.getvalue()


def _sql(statement: str, params) -> None:
    with connection.cursor() as cur:
        cur.execute(statement.format(table=connection.ops.quote_name(AuditEvent._meta.db_table)), params)


@pytest.fixture
def audited(db, manager, approver):
    approved_plan(manager=manager, approver=approver, channels=[ChannelFactory()])
    approved_plan(manager=manager, approver=approver, channels=[ChannelFactory()])
    assert "intact: 6 events" in _verify()
    return list(AuditEvent.objects.order_by("id"))


def test_an_event_edited_with_raw_sql_is_detected(audited):
    _sql("UPDATE {table} SET actor_label = %s WHERE id = %s", ["someone-else", audited[2].pk])
    with pytest.raises(CommandError, match="tampered"):
        _verify()


def test_an_edit_that_also_recomputes_its_hash_without_the_key_is_detected(audited):
    event = audited[2]
    event.after = {"state": "draft"}
    forged = event.compute_hash()  # all one can compute without DUSK_AUDIT_KEYS
    _sql("UPDATE {table} SET after = %s, hash = %s WHERE id = %s", ['{"state": "draft"}', forged, event.pk])
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("verify_audit_chain", stderr=err)
    assert f"event {event.pk}: contents do not match its hash (edited)" in err.getvalue()
    assert f"event {audited[3].pk}: previous hash does not match" in err.getvalue()


def test_an_event_deleted_with_raw_sql_is_detected(audited):
    _sql("DELETE FROM {table} WHERE id = %s", [audited[3].pk])
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("verify_audit_chain", stderr=err)
    assert f"event {audited[4].pk}: previous hash does not match" in err.getvalue()


def test_the_last_events_deleted_with_raw_sql_are_detected(audited):
    _sql("DELETE FROM {table} WHERE id >= %s", [audited[-2].pk])
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("verify_audit_chain", stderr=err)
    assert "chain head expects 6 events" in err.getvalue()


# --- roles ------------------------------------------------------------------------------------------------


def test_roles_document_matches_the_code():
    documented = roles_doc.documented_matrix(roles_doc.DOC_PATH.read_text())
    assert documented == roles_doc.matrix_markdown(), (
        "docs/roles.md is stale: run python manage.py roles_matrix --write"
    )
    for action in ROLE_ACTIONS:
        assert f"| `{action}` |" in documented


def test_roles_matrix_check_fails_when_the_document_is_stale(tmp_path, monkeypatch):
    stale = tmp_path / "roles.md"
    stale.write_text(roles_doc.DOC_PATH.read_text().replace("| `view_audit` |", "| `read_audit` |"))
    monkeypatch.setattr("channels_app.management.commands.roles_matrix.DOC_PATH", stale)
    with pytest.raises(CommandError, match="disagrees"):
        call_command("roles_matrix", "--check", stdout=io.StringIO())
    call_command("roles_matrix", "--write", stdout=io.StringIO())
    assert roles_doc.documented_matrix(stale.read_text()) == roles_doc.matrix_markdown()


def test_admin_role_enters_the_admin_site_without_is_staff(client, administrator, manager):
    assert not administrator.is_staff and not administrator.is_superuser
    client.force_login(administrator)
    assert client.get("/admin/channels_app/sunsetplan/").status_code == 200
    refused = Client().post(reverse("admin:login"), {"username": "maya", "password": PASSWORD})
    assert "Only people with the admin role" in refused.content.decode()


# --- API docs page ------------------------------------------------------------------------------------------


def test_api_docs_load_local_files_only_and_no_inline_code(client, viewer):
    client.force_login(viewer)
    response = client.get(reverse("api:docs"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<style" not in html and "style=" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert url.startswith("/"), url  # nothing from another origin
        if url.startswith("/static/"):
            assert finders.find(url.removeprefix("/static/")), url
    assert "script-src" not in response["Content-Security-Policy"]  # default-src 'self' covers it
    assert response["Content-Security-Policy"].startswith("default-src 'self'")
    assert client.get(reverse("api:schema") + "?format=json").json()["info"]["title"] == "Dusk API"


def test_admin_revokes_a_token_from_the_admin_site(client, administrator, manager):
    pass
    from channels_app.models import ApiToken

    token, secret = create_api_token(actor=manager, name="ci", scopes=["read"])
    client.force_login(administrator)
    page = client.get("/admin/channels_app/apitoken/").content.decode()
    assert token.prefix in page and token.secret_hash not in page and secret not in page
    client.post("/admin/channels_app/apitoken/", {"action": "revoke_tokens", "_selected_action": [token.pk]})
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    detail = client.get(f"/admin/channels_app/apitoken/{token.pk}/change/").content.decode()
    assert token.secret_hash not in detail


def test_the_channel_admin_reads_a_base_url_typed_without_a_scheme_as_https(rf, administrator):
    from django.contrib import admin

    from channels_app.models import Channel

    request = rf.get("/admin/channels_app/channel/add/")
    request.user = administrator
    form_class = admin.site._registry[Channel].get_form(request)
    assert form_class.base_fields["api_base_url"].clean("forum.example.com") == "https://forum.example.com"
    assert form_class.base_fields["api_base_url"].clean("http://127.0.0.1:8025") == "http://127.0.0.1:8025"


def test_every_action_has_a_translatable_name_for_refusals():
    from channels_app.core.permissions import ACTION_NAMES, permission_denied_message

    assert set(ACTION_NAMES) == set(ROLE_ACTIONS)
    assert permission_denied_message("manage_reassignments") == "Your role does not allow: manage reassignments."


def test_a_page_may_widen_form_action_by_bare_origins_only(rf):
    """The landing page names its form targets' origins; anything but a bare origin (a policy
    injected through a URL, another scheme) is left out of the policy."""
    from django.http import HttpResponse

    from channels_app.web.middleware import ContentSecurityPolicyMiddleware

    def view(request):
        response = HttpResponse("ok")
        response.csp_form_action = [
            "https://help.example.com",
            "http://127.0.0.1:8080",
            "https://evil.example; script-src *",
            "javascript:",
            "https://x.example/path",
        ]
        return response

    policy = ContentSecurityPolicyMiddleware(view)(rf.get("/"))["Content-Security-Policy"]
    assert "form-action 'self' https://help.example.com http://127.0.0.1:8080;" in policy
    assert "evil" not in policy and "javascript" not in policy and "x.example" not in policy
    assert "script-src 'self';" in policy
