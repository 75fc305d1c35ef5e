"""List, item by item, what one phase would change and send. Changes nothing."""

import json

from django.core.management.base import BaseCommand, CommandError

from channels_app.cutover.selectors import dry_run
from channels_app.models import Phase, SunsetPlan


class Command(BaseCommand):
    help = "Dry run of a phase: every channel, conversation (with its rendered notice), move and email."

    def add_arguments(self, parser):
        parser.add_argument("plan", help="plan id")
        parser.add_argument("--phase", required=True, help="notice, soft_close, hard_close or archive")
        parser.add_argument("--region", default="", help="for follow-the-sun plans: the region")
        parser.add_argument("--json", action="store_true", help="machine-readable output")

    def handle(self, *args, plan, phase, region="", json=False, **options):
        try:
            plan_obj = SunsetPlan.objects.select_related("author", "approved_by").get(pk=int(plan))
        except (ValueError, SunsetPlan.DoesNotExist):
            raise CommandError(f"No sunset plan with id {plan!r}.") from None
        try:
            phase_obj = plan_obj.phases.get(kind=phase, region=region)
        except Phase.DoesNotExist:
            where = f" for region {region!r}" if region else ""
            raise CommandError(f"Plan {plan_obj.pk} has no {phase} phase{where}.") from None
        report = dry_run(phase_obj)
        data = {
            "plan": plan_obj.pk,
            "phase": phase_obj.kind,
            "region": phase_obj.region,
            "instant_utc": phase_obj.instant.isoformat(),
            "channels": [{"channel": c.name, "from": old, "to": new} for c, old, new in report.preview.channel_changes],
            "conversations": [
                {
                    "reference": item.conversation.reference,
                    "channel": item.conversation.channel.name,
                    "customer": item.conversation.customer_handle,
                    "locale": item.locale,
                    "notice": item.text,
                }
                for item in report.conversations
            ],
            "conversations_closed": report.preview.conversations_to_close,
            "moves": [
                {
                    "agent": m.agent.name,
                    "employee_id": m.agent.employee_id,
                    "from": m.from_team.name,
                    "to": m.to_team.name,
                    "effective": str(m.effective_date),
                }
                for m in report.preview.reassignments
            ],
            "agents_without_destination": report.preview.agents_without_destination,
            "emails": [{"to": to, "subject": subject} for to, subject in report.emails],
        }
        if json:
            self.stdout.write(_json_dumps(data))
            return
        out = self.stdout.write
        out(
            f"Dry run: plan {plan_obj.pk} “{plan_obj.title}”, {phase_obj.get_kind_display()}"
            f"{' (' + region + ')' if region else ''} at {phase_obj.instant:%Y-%m-%d %H:%M} UTC"
        )
        out(f"\nChannels ({len(data['channels'])}):")
        for item in data["channels"]:
            out(f"  {item['channel']}: {item['from']} -> {item['to']}")
        out(f"\nConversations moved, each with this hand-off notice ({len(data['conversations'])}):")
        for item in data["conversations"]:
            out(f"  {item['reference']} {item['channel']} {item['customer']} [{item['locale']}]: {item['notice']}")
        if data["conversations_closed"]:
            out(f"\nConversations closed: {data['conversations_closed']}")
        out(f"\nAgent moves ({len(data['moves'])}):")
        for item in data["moves"]:
            out(f"  {item['agent']} ({item['employee_id']}): {item['from']} -> {item['to']} from {item['effective']}")
        if data["agents_without_destination"]:
            out(f"  WARNING: {data['agents_without_destination']} affected agent(s) have no destination")
        out(f"\nEmails ({len(data['emails'])}):")
        for item in data["emails"]:
            out(f"  {item['to']}: {item['subject']}")
        out("\nNothing was changed.")


def _json_dumps(data) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)
