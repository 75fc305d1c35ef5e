"""What the operator's probes read: heartbeats of the periodic work."""

from django.db import models


class Heartbeat(models.Model):
    """The last time a periodic task ran, one row per name (`beat-sweep`: the sweep for due
    phases). /healthz answers 503 when the sweep's row is older than DUSK_BEAT_STALE_AFTER."""

    BEAT_SWEEP = "beat-sweep"

    name = models.CharField(max_length=64, primary_key=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.beat_at:%Y-%m-%d %H:%M:%S}"
