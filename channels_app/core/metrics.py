"""Counters of events for /metrics, shared by every process on every machine.

Events happen in many processes (gunicorn workers take webhooks and sign-ins, Celery workers fail
and retry tasks), but /metrics is answered by whichever web process the scrape reaches. So event
counters are not kept in process memory: each is one key in Django's default cache, the same
shared store as the rate limits (DUSK_CACHE_URL, Redis in production), incremented atomically
and read at scrape time. Figures the database already holds (reply backlog, publications, runs,
schedule lag) are computed from it at scrape time instead (channels_app/web/metrics.py).

A counter restarts from zero if the cache is flushed; Prometheus's rate() handles such resets.
With the default per-process cache (no DUSK_CACHE_URL) each process counts only its own events:
fine for `make run`, not for a deployment (docs/operations.md).
"""

import logging

from django.core.cache import cache

log = logging.getLogger(__name__)

# family -> (help, label names). The label values each family may take are listed where they
# are read (known platforms, HTTP statuses, registered task names), so no index of keys is kept.
WEBHOOK_DELIVERIES = "dusk_webhook_deliveries"
TASK_FAILURES = "dusk_celery_task_failures"
TASK_RETRIES = "dusk_celery_task_retries"
SIGNIN_FAILURES = "dusk_signin_failures"
HANDOFF_ARRIVALS = "dusk_handoff_arrivals"

COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    WEBHOOK_DELIVERIES: ("Webhook deliveries received, by platform and HTTP status answered.", ("platform", "status")),
    TASK_FAILURES: ("Celery tasks that raised, by task.", ("task",)),
    TASK_RETRIES: ("Celery tasks that asked to be retried, by task.", ("task",)),
    SIGNIN_FAILURES: ("Failed sign-ins (wrong password or locked out).", ()),
    HANDOFF_ARRIVALS: (
        "Arrival reports from hand-off destinations, by outcome: accepted, 401 (unsigned), 403 (bad "
        "signature, stale timestamp or a destination taking no reports), 4xx (other refusals), 5xx.",
        ("outcome",),
    ),
}

# The statuses a webhook answers (webhooks.py): 200 stored, 400 malformed, 403 bad signature,
# 404 no such channel, 405 wrong method, 500 server error, 503 secret not configured.
WEBHOOK_STATUSES = ("200", "400", "403", "404", "405", "500", "503")

# What an arrival report (handoff/views.py: handoff_arrival) came to.
ARRIVAL_OUTCOMES = ("accepted", "401", "403", "4xx", "5xx")


def arrival_outcome(status: int) -> str:
    if status < 300:
        return "accepted"
    if status in (401, 403):
        return str(status)
    return "4xx" if status < 500 else "5xx"


def _key(family: str, labels: tuple[str, ...]) -> str:
    return "dusk:metrics:" + ":".join((family, *labels))


def count(family: str, *labels: str) -> None:
    """Add one to a counter. Never raises: a metric must not fail the request or task it counts."""
    key = _key(family, labels)
    try:
        try:
            cache.incr(key)
        except ValueError:  # first event: create the key (no expiry); a racing creator wins
            if not cache.add(key, 1, timeout=None):
                cache.incr(key)
    except Exception:
        log.warning("metrics: could not count %s", key, exc_info=True)


def counter_values(family: str, label_sets: list[tuple[str, ...]]) -> dict[tuple[str, ...], int]:
    """Current values of a counter for these label sets (one round trip); missing ones read 0."""
    keys = {_key(family, labels): labels for labels in label_sets}
    found = cache.get_many(list(keys))
    return {labels: int(found.get(key, 0)) for key, labels in keys.items()}


def count_signin_failure(sender=None, **kwargs) -> None:
    """Receiver of django.contrib.auth's user_login_failed (connected in apps.py)."""
    count(SIGNIN_FAILURES)
