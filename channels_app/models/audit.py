"""The append-only, hash-chained audit trail."""

import hashlib
import json

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class AuditEvent(models.Model):
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # An affected agent acting on their own page: not a user account, a kind of actor of its own
    # (`actor_label` is then "agent:<employee id>").
    actor_agent = models.ForeignKey("Agent", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor_label = models.CharField(max_length=200, help_text="user name, 'agent:<employee id>' or 'system:<worker>'")
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    before = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    after = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    # Id of the DUSK_AUDIT_KEYS key whose HMAC is `hash`; empty for the events written before
    # the chain was keyed (plain SHA-256, sealed by the first keyed event after them).
    key_id = models.CharField(max_length=32, blank=True, default="")

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.object_type}:{self.object_id}"

    @property
    def actor_kind(self) -> str:
        """ "user", "agent" (an agent on their page) or "system" (workers, anonymous requests)."""
        if self.actor_id:
            return "user"
        return "agent" if self.actor_agent_id else "system"

    def payload(self) -> bytes:
        """What the hash covers: every field but the hash itself, canonical JSON."""
        fields = {
            "at": self.at.isoformat(),
            "actor": self.actor_id,
            "actor_label": self.actor_label,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": str(self.object_id),
            "before": self.before,
            "after": self.after,
            "prev": self.prev_hash,
        }
        if self.key_id:
            fields["key_id"] = self.key_id
        if self.actor_agent_id:  # only where set, so the events written before it still verify
            fields["actor_agent"] = self.actor_agent_id
        return json.dumps(fields, sort_keys=True, cls=DjangoJSONEncoder, separators=(",", ":")).encode()

    def compute_hash(self) -> str:
        """The unkeyed SHA-256 of events written before the chain was keyed (and the forgery
        anyone with database access can compute: verification needs the keyed HMAC, audit/services)."""
        return hashlib.sha256(self.payload()).hexdigest()


class AuditChainHead(models.Model):
    """A single row locked while an event is appended, so the chain stays a
    chain when several processes write at once."""

    last_hash = models.CharField(max_length=64, default="0" * 64)
    count = models.PositiveBigIntegerField(default=0)
    # HMAC of (count, last_hash) with the key `key_id`: truncating the trail, or rewriting it
    # all with unkeyed hashes, needs the key too.
    key_id = models.CharField(max_length=32, blank=True, default="")
    mac = models.CharField(max_length=64, blank=True, default="")

    def __str__(self) -> str:
        return f"audit chain: {self.count} events"

    @property
    def actor_kind(self) -> str:
        """ "user", "agent" (an agent on their page) or "system" (workers, anonymous requests)."""
        if self.actor_id:
            return "user"
        return "agent" if self.actor_agent_id else "system"

    def payload(self) -> bytes:
        return f"dusk-audit-head:{self.count}:{self.last_hash}".encode()
