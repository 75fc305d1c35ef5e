"""The dashboard, the health check, the metrics and the CSP report endpoint."""

import hmac
import ipaddress
import logging

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from channels_app.core.client_ip import client_ip
from channels_app.core.errors import NotFound
from channels_app.core.permissions import ADMIN, has_role, may, require
from channels_app.cutover.selectors import beat_sweep_age, oldest_due_phase_age
from channels_app.directory.selectors import channel_state_counts
from channels_app.models import Channel, CutoverRun, PlanState, RunState
from channels_app.plans.selectors import plan_counts_by_state, plans_for_list
from channels_app.web import metrics as prometheus
from channels_app.web.selectors import needs_action, timeline
from portal.celery import app

log = logging.getLogger("dusk.csp")
health_log = logging.getLogger("dusk.health")


@require_GET
@login_required
def dashboard(request):
    require(request.user, "view")
    now = timezone.now()
    state = request.GET.get("state", "")
    if state and state not in PlanState.values:
        state = ""
    counts = plan_counts_by_state()
    # The dashboard is a summary: ten plans a page (all of them, page by page). The counts
    # by state already say how many there are: the paginator need not count again.
    paginator = Paginator(plans_for_list(state=state), 10)
    paginator.count = counts.get(state, 0) if state else sum(counts.values())
    page = paginator.get_page(request.GET.get("page"))
    context = {
        "page": page,
        "state": state,
        "counts": [(s, label, counts.get(s, 0)) for s, label in PlanState.choices],
        "channel_counts": channel_state_counts(),
        "recent_channels": list(Channel.objects.exclude(state="active").order_by("-updated_at", "id")[:8]),
        "timeline": timeline(now=now),
        "active_runs": list(
            # Delivering is part of the run: its hand-off notices and emails are still going out.
            CutoverRun.objects.filter(state__in=[RunState.QUEUED, RunState.RUNNING, RunState.DELIVERING])
            .select_related("plan", "phase")
            .only("state", "plan__title", "phase__kind")  # not the rollback snapshot: it can be large
            .order_by("queued_at")[:10]
        ),
        "action": needs_action(request.user, may(request.user)),
        "now": now,
    }
    return render(request, "channels_app/dashboard.html", context)


@csrf_exempt  # browsers send reports without a token; the body is only logged
@require_POST
def csp_report(request):
    body = request.body[:8192].decode("utf-8", "replace")
    log.warning("CSP violation reported: %s", body)
    return HttpResponse(status=204)


def _broker_ok() -> tuple[bool, str]:
    try:
        with app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True, "ok"
    except Exception as exc:  # any failure means "not reachable"; the log says which
        health_log.warning("healthz: broker unreachable", exc_info=True)
        return False, f"{type(exc).__name__}: {exc}"


def _database_ok() -> tuple[bool, str]:
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()
        return True, "ok"
    except Exception as exc:
        health_log.warning("healthz: database unreachable", exc_info=True)
        return False, f"{type(exc).__name__}: {exc}"


@require_GET
@never_cache
def healthz(request):
    """Database, broker, beat's last sweep and the oldest due phase nobody claimed: 200 when all
    hold, else 503. Anonymous callers (load balancers) get flags and ages only; the reasons go to
    the log, and to a signed-in admin."""
    stale_after = settings.DUSK_BEAT_STALE_AFTER
    db_ok, db_detail = _database_ok()
    broker_ok, broker_detail = _broker_ok()
    sweep_age = due_age = None
    if db_ok:
        try:
            sweep_age = beat_sweep_age()
            due_age = oldest_due_phase_age()
        except Exception as exc:
            health_log.warning("healthz: scheduler state unreadable", exc_info=True)
            db_ok, db_detail = False, f"{type(exc).__name__}: {exc}"
    beat_ok = sweep_age is not None and sweep_age <= stale_after
    due_ok = due_age is None or due_age <= stale_after
    healthy = db_ok and broker_ok and beat_ok and due_ok
    body = {
        "status": "ok" if healthy else "degraded",
        "database": {"ok": db_ok},
        "broker": {"ok": broker_ok},
        "beat": {"ok": beat_ok, "last_sweep_age_s": sweep_age, "stale_after_s": stale_after},
        "due_phases": {"ok": due_ok, "oldest_unclaimed_age_s": due_age},
    }
    if has_role(request.user, ADMIN):
        body["database"].update(vendor=connection.vendor, detail=db_detail)
        body["broker"].update(transport=settings.CELERY_BROKER_URL.split("://", 1)[0], detail=broker_detail)
    if not healthy:
        health_log.warning("healthz degraded: %s", body)
    return JsonResponse(body, status=200 if healthy else 503)


def _may_scrape(request) -> bool:
    """A bearer token equal to DUSK_METRICS_TOKEN (constant-time), or a client address in
    DUSK_METRICS_ALLOWED_IPS (addresses or networks). With neither configured, nobody."""
    token = settings.DUSK_METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    if token and given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), token.encode()):
        return True
    address = client_ip(request)
    if not address or not settings.DUSK_METRICS_ALLOWED_IPS:
        return False
    ip = ipaddress.ip_address(address)
    return any(ip in ipaddress.ip_network(allowed, strict=False) for allowed in settings.DUSK_METRICS_ALLOWED_IPS)


@require_GET
@never_cache
def metrics(request):
    if not _may_scrape(request):
        response = HttpResponse("Unauthorized\n", status=401, content_type="text/plain; charset=utf-8")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(prometheus.render(), content_type=prometheus.CONTENT_TYPE)


def not_found(request, exception=None):
    """The 404 page (handler404): with the reason when a view gave one written for people."""
    reason = str(exception) if isinstance(exception, NotFound) else ""
    return render(request, "404.html", {"reason": reason}, status=404)
