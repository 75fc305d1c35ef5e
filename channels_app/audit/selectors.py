"""Reads of the audit trail, filtered and paged from an event id."""

from django.db.models import BooleanField, ExpressionWrapper, Q

from channels_app.models import AuditEvent


def audit_events(*, obj: str = "", actor: str = "", action: str = "", since=None, until=None):
    qs = AuditEvent.objects.all()
    if obj:
        kind, _sep, pk = obj.partition(":")
        qs = qs.filter(object_type=kind.strip())
        if pk.strip():
            qs = qs.filter(object_id=pk.strip())
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
