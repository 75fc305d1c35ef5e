"""System checks for running on several nodes (docs/scaling.md). Registered in apps.py."""

from django.conf import settings
from django.core.checks import Error

# Cache backends whose data lives in one process (or nowhere): counters kept there are per process,
# so with several nodes each would enforce its own limit.
PER_PROCESS_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


def check_shared_cache(app_configs=None, **kwargs) -> list[Error]:
    """dusk.E401: DUSK_NODES > 1 needs a cache every node shares (the API rate-limit counters live
    there), not a per-process one that would silently multiply each limit by the number of
    processes."""
    nodes = getattr(settings, "DUSK_NODES", 1)
    if nodes <= 1:
        return []
    return [
        Error(
            f"DUSK_NODES={nodes} but the {alias!r} cache is per process ({config['BACKEND']}): "
            "rate-limit counters would not be shared between nodes.",
            hint="Point DUSK_CACHE_URL at a cache every node reaches, e.g. redis://host:6379/1.",
            obj="settings.CACHES",
            id="dusk.E401",
        )
        for alias, config in settings.CACHES.items()
        if config.get("BACKEND") in PER_PROCESS_CACHES
    ]


def check_publication_wait(app_configs=None, **kwargs) -> list[Error]:
    """dusk.E402: a run waiting out a platform's Retry-After while it publishes the public notice
    (up to three requests and DUSK_PUBLICATION_MAX_WAIT) must not look stuck to the reaper."""
    wait = settings.DUSK_PUBLICATION_MAX_WAIT + 3 * settings.DUSK_OUTBOX_HTTP_TIMEOUT
    if wait < settings.DUSK_RUN_STUCK_AFTER:
        return []
    return [
        Error(
            f"DUSK_PUBLICATION_MAX_WAIT + 3 x DUSK_OUTBOX_HTTP_TIMEOUT ({wait:g} s) must stay under "
            f"DUSK_RUN_STUCK_AFTER ({settings.DUSK_RUN_STUCK_AFTER:g} s): a run waiting out a rate limit "
            "would look stuck and be taken over.",
            hint="Lower DUSK_PUBLICATION_MAX_WAIT or raise DUSK_RUN_STUCK_AFTER.",
            obj="settings.DUSK_PUBLICATION_MAX_WAIT",
            id="dusk.E402",
        )
    ]
