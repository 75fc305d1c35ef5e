"""HTML views and the health check. Each: fetch, validate, delegate, respond."""

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .pages.browse import dashboard as home  # noqa: F401  (the dashboard is the home page)


def _broker_ok() -> tuple[bool, str]:
    from portal.celery import app

    try:
        with app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True, "ok"
    except Exception as exc:  # any failure means "not reachable"; say which
        return False, f"{type(exc).__name__}: {exc}"


@require_GET
@never_cache
def healthz(request):
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()
        db_ok, db_detail = True, "ok"
    except Exception as exc:
        db_ok, db_detail = False, f"{type(exc).__name__}: {exc}"
    broker_ok, broker_detail = _broker_ok()
    body = {
        "status": "ok" if db_ok and broker_ok else "degraded",
        "database": {"ok": db_ok, "vendor": connection.vendor, "detail": db_detail},
        "broker": {
            "ok": broker_ok,
            "transport": settings.CELERY_BROKER_URL.split("://", 1)[0],
            "detail": broker_detail,
        },
    }
    return JsonResponse(body, status=200 if db_ok and broker_ok else 503)
