"""dusk.E401: several nodes need a shared cache; dusk.E402: a run waiting out a platform's
Retry-After must not look stuck (channels_app/core/checks.py)."""

import os
import subprocess
import sys
from pathlib import Path

from channels_app.core.checks import check_publication_wait, check_shared_cache

ROOT = Path(__file__).resolve().parents[3]
LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "dusk"}}
REDIS = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:6379/5"}}


def test_one_node_may_keep_its_cache_in_process(settings):
    settings.DUSK_NODES = 1
    settings.CACHES = LOCMEM
    assert check_shared_cache() == []


def test_several_nodes_with_a_per_process_cache_is_an_error(settings):
    settings.DUSK_NODES = 3
    settings.CACHES = LOCMEM
    [error] = check_shared_cache()
    assert error.id == "dusk.E401"
    assert error.is_serious()
    assert "DUSK_NODES=3" in error.msg and "LocMemCache" in error.msg
    assert "DUSK_CACHE_URL" in error.hint


def test_several_nodes_with_a_shared_cache_pass(settings):
    settings.DUSK_NODES = 3
    settings.CACHES = REDIS
    assert check_shared_cache() == []


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DUSK_NODES", "DUSK_CACHE_URL", "DUSK_RUN_STUCK_AFTER", "DUSK_PUBLICATION_MAX_WAIT")
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_refuse_to_start_two_nodes_on_a_per_process_cache():
    """At start: `manage.py check` (and migrate, which the deploy runs first) stops with the error."""
    refused = _manage("check", DUSK_NODES="2")
    assert refused.returncode != 0
    assert "dusk.E401" in refused.stderr
    assert "rate-limit counters would not be shared" in refused.stderr
    migrate = _manage("migrate", "--plan", DUSK_NODES="2")
    assert migrate.returncode != 0 and "dusk.E401" in migrate.stderr
    shared = _manage("check", DUSK_NODES="2", DUSK_CACHE_URL="redis://127.0.0.1:6379/5")
    assert shared.returncode == 0, shared.stderr


def test_a_publication_wait_shorter_than_the_runs_lease_passes(settings):
    settings.DUSK_RUN_STUCK_AFTER = 120
    settings.DUSK_PUBLICATION_MAX_WAIT = 30
    settings.DUSK_OUTBOX_HTTP_TIMEOUT = 15
    assert check_publication_wait() == []


def test_a_publication_wait_as_long_as_the_runs_lease_is_an_error(settings):
    settings.DUSK_RUN_STUCK_AFTER = 60
    settings.DUSK_PUBLICATION_MAX_WAIT = 30
    settings.DUSK_OUTBOX_HTTP_TIMEOUT = 10
    [error] = check_publication_wait()
    assert error.id == "dusk.E402" and error.is_serious()
    assert "(60 s)" in error.msg and "DUSK_RUN_STUCK_AFTER" in error.hint


def test_manage_check_stops_on_a_publication_wait_the_reaper_would_cut_short():
    refused = _manage("check", DUSK_RUN_STUCK_AFTER="40", DUSK_PUBLICATION_MAX_WAIT="30")
    assert refused.returncode != 0
    assert "dusk.E402" in refused.stderr
