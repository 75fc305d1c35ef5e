"""Teams, agents and their dated assignments; each team's onboarding checklist."""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Team(models.Model):
    name = models.CharField(max_length=120, unique=True)
    capacity = models.PositiveIntegerField(help_text=_("Seats"))
    languages = models.JSONField(default=list, blank=True)
    skills = models.JSONField(default=list, blank=True)
    site = models.CharField(max_length=80, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    channels = models.ManyToManyField("Channel", related_name="teams", blank=True)
    # What an agent moving here reads on their personal page (docs/workforce.md).
    lead = models.ForeignKey(
        "Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text=_("Team lead")
    )
    day_one = models.CharField(max_length=300, blank=True, help_text=_("Where to go on the first day"))
    shift_start = models.TimeField(null=True, blank=True, help_text=_("Shift start, in the team's time zone"))
    shift_end = models.TimeField(null=True, blank=True, help_text=_("Shift end, in the team's time zone"))

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


def new_page_secret() -> str:
    return secrets.token_urlsafe(32)


class AgentLanguage(models.TextChoices):
    """The languages the portal writes to agents in (emails and the agent's page)."""

    EN = "en", "English"
    FR = "fr", "Français"
    ID = "id", "Bahasa Indonesia"


class Agent(models.Model):
    employee_id = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=120)
    email = models.EmailField()
    languages = models.JSONField(default=list, blank=True)
    skills = models.JSONField(default=list, blank=True)
    site = models.CharField(max_length=80, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    preferred_team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Empty: the first of `languages` the portal speaks, else English (selectors.agent_language).
    preferred_language = models.CharField(max_length=8, blank=True, choices=AgentLanguage.choices)
    # Part of every link to the agent's page: rotating it (HR) revokes every link sent before.
    page_secret = models.CharField(max_length=64, default=new_page_secret, editable=False)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.employee_id})"


class Assignment(models.Model):
    """An agent's membership of a team over a date range. Rows are never
    overwritten: a move ends one row and starts another."""

    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="assignments")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="assignments")
    role = models.CharField(max_length=80, blank=True)
    starts_on = models.DateField()
    ends_on = models.DateField(null=True, blank=True)
    created_by_run = models.ForeignKey(
        "CutoverRun", null=True, blank=True, on_delete=models.PROTECT, related_name="started_assignments"
    )
    ended_by_run = models.ForeignKey(
        "CutoverRun", null=True, blank=True, on_delete=models.PROTECT, related_name="ended_assignments"
    )

    class Meta:
        ordering = ["-starts_on", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["agent", "team"], condition=Q(ends_on__isnull=True), name="one_open_assignment_per_team"
            ),
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True) | Q(ends_on__gte=models.F("starts_on")),
                name="assignment_ends_after_start",
            ),
        ]
        indexes = [
            # A team's open assignments, with the agent: the dashboard's and the plan page's counts
            # of affected agents read them from the index alone (agent_id included).
            models.Index(fields=["team", "agent"], condition=Q(ends_on__isnull=True), name="open_assignment_team_agent")
        ]

    def __str__(self) -> str:
        return f"{self.agent} in {self.team} from {self.starts_on}"


class DepartureReason(models.TextChoices):
    DECLINED_ROLE = "declined_role", _("Declined the role")
    RESIGNED = "resigned", _("Resigned")
    OTHER = "other", _("Other")


class AgentDeparture(models.Model):
    """HR's record of an agent leaving: their open assignments ended on `left_on` with no new one
    (and the agent deactivated when they left the company), with the reason. The outcome report
    reads it to say why a moved agent is no longer in role."""

    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="departures")
    left_on = models.DateField()
    reason = models.CharField(max_length=16, choices=DepartureReason.choices)
    note = models.CharField(max_length=500, blank=True)
    deactivated = models.BooleanField(default=False)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-left_on", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "left_on"], name="one_departure_per_agent_day"),
            models.CheckConstraint(condition=Q(reason__in=DepartureReason.values), name="departure_reason_known"),
        ]

    def __str__(self) -> str:
        return f"{self.agent} left on {self.left_on} ({self.reason})"


class OnboardingItem(models.Model):
    """One step of a team's onboarding checklist, shown to each agent moving into the team."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="onboarding_items")
    position = models.PositiveSmallIntegerField(default=0)
    title = models.CharField(max_length=200)
    url = models.URLField(blank=True, help_text=_("An https link, for example the phone-system training"))

    class Meta:
        ordering = ["team", "position", "id"]

    def __str__(self) -> str:
        return f"{self.team}: {self.title}"
