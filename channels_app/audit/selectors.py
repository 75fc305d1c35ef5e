"""Reads of the audit trail, filtered and paged from an event id."""

from django.db.models import BooleanField, ExpressionWrapper, Q

from channels_app.models import AuditEvent, CutoverRun, Phase


def audit_events(*, obj: str = "", actor: str = "", action: str = "", since=None, until=None):
    qs = AuditEvent.objects.all()
    if obj:
        kind, _sep, pk = obj.partition(":")
        kind, pk = kind.strip(), pk.strip()
        if kind == "sunsetplan" and pk.isdigit():
            qs = qs.filter(_plan_history(int(pk)))
        else:
            qs = qs.filter(object_type=kind)
            if pk:
                qs = qs.filter(object_id=pk)
    if actor:
        qs = qs.filter(actor_label__iexact=actor.strip())
    if action:
        qs = qs.filter(action__startswith=action.strip())
    if since:
        qs = qs.filter(at__gte=since)
    if until:
        qs = qs.filter(at__lte=until)
    # Before/after are loaded when an event is opened (they can be large); the list only
    # needs to know whether there is anything to open.
    return (
        qs.defer("before", "after")
        .annotate(has_detail=ExpressionWrapper(~(_empty_json("before") & _empty_json("after")), BooleanField()))
        .order_by("-id")
    )


def _empty_json(name: str) -> Q:
    return Q(**{f"{name}__isnull": True}) | Q(**{name: {}})


def _plan_history(plan_id: int) -> Q:
    """A plan's history: its own events and those of its phases and runs (claims, channel
    changes, completion, rollback), which the engine records on the phase or the run."""
    runs = [str(pk) for pk in CutoverRun.objects.filter(plan_id=plan_id).values_list("pk", flat=True)]
    phases = [str(pk) for pk in Phase.objects.filter(plan_id=plan_id).values_list("pk", flat=True)]
    return (
        Q(object_type="sunsetplan", object_id=str(plan_id))
        | Q(object_type="cutoverrun", object_id__in=runs)
        | Q(object_type="phase", object_id__in=phases)
    )
