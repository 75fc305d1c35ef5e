"""Check the audit trail's hash chain; exit 1 if anything was edited or removed."""

from django.core.management.base import BaseCommand, CommandError

from channels_app.audit.services import verify_chain
from channels_app.models import AuditEvent


class Command(BaseCommand):
    help = "Verify the audit trail: every event's hash and its link to the one before."

    def handle(self, *args, **options):
        problems = verify_chain()
        if problems:
            for problem in problems:
                self.stderr.write(problem)
            raise CommandError(f"The audit trail has been tampered with ({len(problems)} problem(s)).")
        self.stdout.write(self.style.SUCCESS(f"Audit trail intact: {AuditEvent.objects.count()} events."))
