"""Print what a plan's cutover would change, changing nothing."""

from django.core.management.base import BaseCommand, CommandError

from channels_app.core import textrules
from channels_app.cutover.selectors import preview_phase
from channels_app.models import SunsetPlan
from channels_app.plans.selectors import placeholder_values


class Command(BaseCommand):
    help = "Show what each phase of a sunset plan would change. Read-only."

    def add_arguments(self, parser):
        parser.add_argument("plan", help="plan id")
        parser.add_argument("--phase", help="only this phase kind (notice, soft_close, hard_close, archive)")
        parser.add_argument("--agents", type=int, default=20, help="list at most this many reassignments")

    def handle(self, *args, plan, phase=None, agents=20, **options):
        try:
            plan_obj = SunsetPlan.objects.select_related("author", "approved_by").get(pk=int(plan))
        except (ValueError, SunsetPlan.DoesNotExist):
            raise CommandError(f"No sunset plan with id {plan!r}.") from None
        phases = list(plan_obj.phases.order_by("instant", "id"))
        if phase:
            phases = [p for p in phases if p.kind == phase]
            if not phases:
                raise CommandError(f"Plan {plan_obj.pk} has no {phase} phase.")
        out = self.stdout.write
        out(f"Plan {plan_obj.pk}: {plan_obj.title} [{plan_obj.state}]")
        replies = {(a.phase_kind, a.locale): a.text for a in plan_obj.auto_replies.all()}
        first_target = plan_obj.redirects.order_by("position").first()
        channel_names = ", ".join(plan_obj.channels.order_by("name").values_list("name", flat=True))
        for ph in phases:
            preview = preview_phase(ph)
            out("")
            out(
                f"== {ph.get_kind_display()}{' (' + ph.region + ')' if ph.region else ''}: "
                f"{ph.local_date} {ph.local_time:%H:%M} {ph.time_zone} = {ph.instant:%Y-%m-%d %H:%M} UTC [{ph.state}]"
            )
            if preview.channel_changes:
                for channel, old, new in preview.channel_changes:
                    out(f"  channel {channel.name}: {old} -> {new}")
            else:
                out("  channels: no state change")
            out(f"  open conversations moved to the redirect queue: {preview.conversations_to_move}")
            if first_target and preview.conversations_to_move:
                out(f"    redirect target: {first_target.label} ({first_target.value})")
            out(f"  hand-off notices queued: {preview.handoff_notices}")
            if preview.conversations_to_close:
                out(f"  conversations closed: {preview.conversations_to_close}")
            out(f"  agents reassigned: {len(preview.reassignments)}")
            for r in preview.reassignments[:agents]:
                out(f"    {r.agent.name} ({r.agent.employee_id}): {r.from_team.name} -> {r.to_team.name}")
            if len(preview.reassignments) > agents:
                out(f"    ... and {len(preview.reassignments) - agents} more")
            if preview.agents_without_destination:
                out(f"  WARNING: {preview.agents_without_destination} affected agent(s) have no destination")
            out(f"  emails sent: {preview.notifications}")
            for change in preview.public_changes:
                where = f" {change.target}" if change.target and change.action != "post" else ""
                locales = change.change.get("locales") or []
                langs = f" ({', '.join(locales)})" if locales else ""
                problem = f": CANNOT: {change.problem}" if change.problem else ""
                out(f"  public notice, {change.channel_name}: {change.summary}{where}{langs}{problem}")
            for (kind, locale), text in sorted(replies.items()):
                if kind == ph.kind:
                    sample = textrules.render(
                        text,
                        placeholder_values(
                            plan_obj,
                            locale=locale,
                            customer_name="Alex",
                            reference="DSK-EXAMPLE1",
                            channel=channel_names,
                        ),
                    )
                    out(f"  auto-reply [{locale}]: {sample}")
        out("")
        out("Nothing was changed.")
