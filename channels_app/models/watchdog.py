"""After the door closes: did customers find their way, and is anyone still knocking?"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class RedirectClick(models.Model):
    """A customer followed the tracked link in an auto-reply or hand-off notice."""

    conversation = models.ForeignKey("Conversation", on_delete=models.CASCADE, related_name="redirect_clicks")
    target = models.ForeignKey("RedirectTarget", on_delete=models.CASCADE, related_name="clicks")
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["target", "at"], name="click_target_at")]

    def __str__(self) -> str:
        return f"click {self.conversation_id} -> {self.target_id}"


class AlertKind(models.TextChoices):
    INBOUND = "inbound", _("Inbound still arriving")
    REDIRECT_SHARE = "redirect_share", _("Few customers reach the redirect")
    FAILED_REPLIES = "failed_replies", _("Replies failing")


class WatchdogAlert(models.Model):
    """A threshold crossed on a retired channel; one per channel, kind and day."""

    channel = models.ForeignKey("Channel", on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=20, choices=AlertKind.choices)
    day = models.DateField()
    value = models.FloatField()
    threshold = models.FloatField()
    message = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["channel", "kind", "day"], name="alert_once_a_day")]

    def __str__(self) -> str:
        return self.message
