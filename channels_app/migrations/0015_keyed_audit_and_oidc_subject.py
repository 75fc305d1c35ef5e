"""The audit chain is keyed: each event stores the id of the HMAC key that signed it, and the
chain head carries a MAC. Events written before stay as they are (plain SHA-256, key id empty);
the head is sealed with the current key here, so the trail as it stands is what is trusted.
A person's profile keeps the identity provider's subject of those who sign in with SSO."""

from django.db import migrations, models

from channels_app.core import audit_keys


def seal_head(apps, schema_editor):
    AuditChainHead = apps.get_model("channels_app", "AuditChainHead")
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is None:
        return
    kid, secret = audit_keys.current_key()
    head.key_id = kid
    head.mac = audit_keys.sign(secret, f"dusk-audit-head:{head.count}:{head.last_hash}".encode())
    head.save(update_fields=["key_id", "mac"])


class Migration(migrations.Migration):
    dependencies = [
        ("channels_app", "0014_security_fixes"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="key_id",
            field=models.CharField(blank=True, default="", max_length=32),
        ),
        migrations.AddField(
            model_name="auditchainhead",
            name="key_id",
            field=models.CharField(blank=True, default="", max_length=32),
        ),
        migrations.AddField(
            model_name="auditchainhead",
            name="mac",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.RunPython(seal_head, migrations.RunPython.noop),
        migrations.AddField(
            model_name="userprofile",
            name="oidc_subject",
            field=models.CharField(blank=True, max_length=255, null=True, unique=True),
        ),
    ]
