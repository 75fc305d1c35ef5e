"""What the browser portal keeps per person: a time zone, and wizard drafts."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class UserProfile(models.Model):
    """Per-person preferences. Times are shown in `time_zone` (UTC beside them
    where the instant matters); the UI language follows Django's language cookie."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="dusk_profile")
    time_zone = models.CharField(max_length=64, default="UTC")
    # The language of the emails Dusk sends this person (empty: the portal's default, English).
    language = models.CharField(max_length=8, blank=True, choices=settings.LANGUAGES)
    # The identity provider's `sub` for a person who signs in with SSO (empty for local users):
    # SSO finds people by it, never by an e-mail address or a user name someone else may hold.
    oidc_subject = models.CharField(max_length=255, null=True, blank=True, unique=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user_id}: {self.time_zone}"


class PlanDraft(models.Model):
    """What a manager has typed in the sunset wizard and not yet turned into a
    plan (or into a new version of one). Saved as they type, so nothing typed
    is lost; the plan itself is only written by services.create_plan/update_plan."""

    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="plan_drafts")
    plan = models.ForeignKey("SunsetPlan", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    data = models.JSONField(default=dict, blank=True)
    # The landing page's logo uploaded in the wizard, kept apart from `data` (JSON, bounded) until
    # the draft is finished into the plan.
    logo = models.BinaryField(blank=True, default=b"")
    logo_type = models.CharField(max_length=20, blank=True)
    step = models.CharField(max_length=16, default="channels")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        constraints = [
            # One wizard in progress per person for a new plan, and per person per plan.
            models.UniqueConstraint(fields=["author"], condition=Q(plan__isnull=True), name="one_new_plan_draft"),
            models.UniqueConstraint(
                fields=["author", "plan"], condition=Q(plan__isnull=False), name="one_draft_per_plan"
            ),
        ]

    def __str__(self) -> str:
        return f"draft {self.pk} by {self.author_id} ({self.step})"
