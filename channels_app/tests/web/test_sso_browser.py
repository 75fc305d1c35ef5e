"""Single sign-on in a real browser (Debian's Chromium) against a real OpenID Connect provider
on 127.0.0.1 (oidc-provider-mock): a member of the approvers group lands with exactly the
approver role; removed from the group, they lose it at the next sign-in."""

import re

import pytest
from django.contrib.auth import get_user_model

from channels_app.core.permissions import roles_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sso_sign_in(session, sub: str):
    page = session.goto("/accounts/login/")
    session.shot("sso-01-sign-in")
    page.get_by_role("link", name="Sign in with your organisation's account").click()
    page.wait_for_url(re.compile(r"/oauth2/authorize"))
    page.locator("input[name=sub]").fill(sub)
    page.get_by_role("button", name="Authorize").click()
    return page


def test_an_approver_signs_in_through_the_provider_and_loses_the_role_when_removed(browse, oidc_provider):
    oidc_provider.set_person(
        "ana-approver", email="ana@example.com", preferred_username="ana", groups=["dusk-approvers", "staff"]
    )
    ana = browse("ana-sso")
    # The provider's pages ask for a stylesheet on a CDN and a favicon it does not have; neither
    # is Dusk's, so answer them here (the browse fixture fails on any 404 in the console).
    ana.context.route(re.compile(r"^https://cdn\.jsdelivr\.net/.*"), lambda route: route.fulfill(body=""))
    ana.context.route(f"{oidc_provider.url}/favicon.ico", lambda route: route.fulfill(body=""))
    page = _sso_sign_in(ana, "ana-approver")
    page.wait_for_url(re.compile(r"^[^?]*/$"))
    ana.shot("sso-02-dashboard-as-approver")
    assert "ana" in page.locator(".who").inner_text()
    person = get_user_model().objects.get(dusk_profile__oidc_subject="ana-approver")
    assert roles_of(person) == {"approver"}
    approvals = ana.goto("/approvals/")
    assert approvals.get_by_role("heading", level=1).count() == 1
    ana.shot("sso-03-approvals")

    # Sign out: the session ends here, then at the provider.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/oauth2/end_session"))
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(re.compile(r"/accounts/login/"))

    # The provider takes Ana out of the approvers group: at the next sign-in the role is gone.
    oidc_provider.set_person("ana-approver", email="ana@example.com", preferred_username="ana", groups=["staff"])
    page = _sso_sign_in(ana, "ana-approver")
    page.wait_for_url(re.compile(r"/accounts/login/\?sso=refused"))
    ana.shot("sso-04-refused")
    assert "did not give you access to Dusk" in page.content()
    person.refresh_from_db()
    assert roles_of(person) == set() and not person.is_active
    assert ana.goto("/approvals/").url.split("?")[0].endswith("/accounts/login/")
