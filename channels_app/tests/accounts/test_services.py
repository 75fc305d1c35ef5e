"""A person's profile: the time zone pages are shown in, the language of the emails they get."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from channels_app.accounts.services import update_profile
from channels_app.models import AuditEvent, UserProfile

pytestmark = pytest.mark.django_db


def test_time_zone_is_saved_and_audited(viewer):
    update_profile(actor=viewer, time_zone="Asia/Jakarta")
    assert UserProfile.objects.get(user=viewer).time_zone == "Asia/Jakarta"
    event = AuditEvent.objects.get(action="profile.updated")
    assert (event.before, event.after) == (
        {"time_zone": "UTC", "language": ""},
        {"time_zone": "Asia/Jakarta", "language": ""},
    )


def test_the_language_of_ones_emails_is_saved_and_only_a_portal_language(viewer):
    update_profile(actor=viewer, time_zone="UTC", language="id")
    assert UserProfile.objects.get(user=viewer).language == "id"
    update_profile(actor=viewer, time_zone="Asia/Jakarta")  # not given: kept
    assert UserProfile.objects.get(user=viewer).language == "id"
    with pytest.raises(ValidationError, match="portal's languages"):
        update_profile(actor=viewer, time_zone="UTC", language="de")
    assert UserProfile.objects.get(user=viewer).language == "id"


def test_unknown_time_zone_is_refused_and_nothing_changes(viewer, outsider):
    with pytest.raises(ValidationError, match="Unknown time zone"):
        update_profile(actor=viewer, time_zone="Europe/Atlantis")
    with pytest.raises(PermissionDenied):
        update_profile(actor=outsider, time_zone="UTC")
    assert not UserProfile.objects.exists()
