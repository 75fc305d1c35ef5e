"""A plan's landing-page settings: managers set them, bad values change nothing, the logo and the
accent colour are served by the portal."""

import base64

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from channels_app.models import AuditEvent, LandingPage

pytestmark = pytest.mark.django_db

# A 1x1 transparent PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
GOOD = {
    "display_name": "Brand Co",
    "accent": "#AA3300",
    "reference_param": "ticket",
    "phone_opens": "08:30",
    "phone_closes": "17:00",
    "phone_zone": "Asia/Jakarta",
}


def test_a_manager_sets_the_branding_and_the_page_uses_it(client, manager, moved):
    conversation, plan = moved
    client.force_login(manager)
    logo = SimpleUploadedFile("logo.png", PNG, content_type="image/png")
    response = client.post(reverse("plan_landing", args=[plan.pk]), {**GOOD, "logo": logo})
    assert response.status_code == 302
    page = LandingPage.objects.get(plan=plan)
    assert (page.display_name, page.accent, page.reference_param, page.phone_zone) == (
        "Brand Co",
        "#aa3300",
        "ticket",
        "Asia/Jakarta",
    )
    assert bytes(page.logo) == PNG and page.logo_type == "image/png"
    assert AuditEvent.objects.filter(action="plan.landing_page_set", object_id=str(plan.pk)).exists()

    client.logout()
    html = client.get(reverse("tracked_redirect", args=[conversation.reference])).content.decode()
    logo_url = reverse("landing_logo", args=[plan.pk, page.version])
    assert logo_url in html
    assert "08:30–17:00 (Asia/Jakarta)" in html
    served = client.get(logo_url)
    assert (served.status_code, served["Content-Type"], served.content) == (200, "image/png", PNG)
    assert served["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"accent": "red"}, "Enter a colour as # and six hex digits"),
        ({"accent": "#12345g"}, "Enter a colour as # and six hex digits"),
        ({"accent": "#123;} body{x:y"}, "Ensure this value has at most 7 characters"),
        ({"reference_param": "a b"}, "Use letters, digits"),
        ({"phone_zone": "Mars/Olympus"}, "Unknown time zone"),
        ({"phone_zone": ""}, "or none of them"),
        ({"logo": "svg"}, "The logo must be a PNG, JPEG or WebP image."),
        ({"logo": "big"}, "The logo may be at most 200 KB."),
    ],
)
def test_bad_settings_are_refused_and_change_nothing(client, manager, moved, changes, error):
    _conversation, plan = moved
    client.force_login(manager)
    data = {**GOOD, **changes}
    if changes.get("logo") == "svg":
        data["logo"] = SimpleUploadedFile("logo.svg", SVG, content_type="image/svg+xml")
    elif changes.get("logo") == "big":
        data["logo"] = SimpleUploadedFile("logo.png", PNG + b"\0" * 200_001, content_type="image/png")
    response = client.post(reverse("plan_landing", args=[plan.pk]), data)
    assert response.status_code == 422
    assert error in response.content.decode()
    assert not LandingPage.objects.exists()
    assert not AuditEvent.objects.filter(action="plan.landing_page_set").exists()


def test_a_viewer_reads_the_settings_but_cannot_change_them(client, viewer, branded):
    _conversation, plan = branded
    client.force_login(viewer)
    page = client.get(reverse("plan_landing", args=[plan.pk]))
    assert page.status_code == 200
    assert "#aa3300" in page.content.decode()
    assert '<form method="post" enctype' not in page.content.decode()
    assert client.post(reverse("plan_landing", args=[plan.pk]), GOOD).status_code == 403
    assert LandingPage.objects.get(plan=plan).accent == "#aa3300"
