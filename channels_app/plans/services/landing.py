"""A plan's landing page: its branding (display name, logo, accent colour), the default query
parameter that carries the reference, and the phone hours. Set in the wizard (the redirect step)
and on the plan's landing page; the page itself is served by `handoff`."""

import re
from datetime import time

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from channels_app.audit.services import record_event
from channels_app.core.permissions import require
from channels_app.core.zones import unknown_zone_message, zone_names
from channels_app.models import HEX_COLOUR, REFERENCE_NAME, LandingPage, SunsetPlan

DEFAULT_ACCENT = "#3b5bdb"
DEFAULT_REFERENCE_PARAM = "ref"
DISPLAY_NAME_MAX = 80


def landing_problems(
    *, display_name: str, accent: str, reference_param: str, phone_opens, phone_closes, phone_zone: str
) -> dict[str, list[str]]:
    """What is wrong with a landing page's settings, per field (the forms say the same)."""
    errors: dict[str, list[str]] = {}
    if len(display_name) > DISPLAY_NAME_MAX:
        errors["display_name"] = [_("Keep the display name under %(limit)s characters.") % {"limit": DISPLAY_NAME_MAX}]
    if not re.fullmatch(HEX_COLOUR, accent or ""):
        errors["accent"] = [_("Enter a colour as # and six hex digits, such as #3b5bdb.")]
    if reference_param and not re.fullmatch(REFERENCE_NAME, reference_param):
        errors["reference_param"] = [_("Use letters, digits, _ . or -, starting with a letter.")]
    if phone_zone and phone_zone not in zone_names():
        errors["phone_zone"] = [unknown_zone_message(phone_zone)]
    given = [v for v in (phone_opens, phone_closes, phone_zone) if v not in (None, "")]
    if given and len(given) < 3:
        errors["__all__"] = [_("Give the phone's opening time, closing time and time zone, or none of them.")]
    return errors


LANDING_FIELDS = ("display_name", "accent", "reference_param", "phone_opens", "phone_closes", "phone_zone")


def save_landing_page(
    *,
    actor,
    plan: SunsetPlan,
    display_name: str,
    accent: str,
    reference_param: str,
    phone_opens: time | None,
    phone_closes: time | None,
    phone_zone: str,
    logo: bytes | None = None,
    logo_type: str = "",
    remove_logo: bool = False,
) -> LandingPage:
    """Set a plan's landing-page branding; ValidationError (per field) and nothing written when a
    value is wrong. `logo` None keeps the current one (the forms checked the image's type)."""
    require(actor, "draft_plan")
    display_name, accent, reference_param = display_name.strip(), accent.strip().lower(), reference_param.strip()
    problems = landing_problems(
        display_name=display_name,
        accent=accent,
        reference_param=reference_param,
        phone_opens=phone_opens,
        phone_closes=phone_closes,
        phone_zone=phone_zone,
    )
    if problems:
        raise ValidationError(problems)
    with transaction.atomic():
        page, _created = LandingPage.objects.select_for_update().get_or_create(plan=plan)
        before = {name: str(getattr(page, name) or "") for name in LANDING_FIELDS}
        page.display_name = display_name
        page.accent = accent
        page.reference_param = reference_param
        page.phone_opens, page.phone_closes, page.phone_zone = phone_opens, phone_closes, phone_zone
        if remove_logo:
            page.logo, page.logo_type = b"", ""
        elif logo is not None:
            page.logo, page.logo_type = logo, logo_type
        page.version += 1
        page.save()
        after = {name: str(getattr(page, name) or "") for name in LANDING_FIELDS}
        after["logo"] = page.logo_type or "none"
        record_event(actor=actor, action="plan.landing_page_set", obj=plan, before=before, after=after)
    return page
