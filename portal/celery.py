"""The Celery application. Settings come from Django settings (CELERY_* names)."""

import os

from celery import Celery
from celery.signals import setup_logging, task_failure, task_postrun, task_prerun, task_retry

from channels_app.core import logcontext, metrics

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each feature that has Celery tasks keeps them in its tasks.py.
app.autodiscover_tasks(
    [
        "channels_app.cutover",
        "channels_app.handoff",
        "channels_app.plans",
        "channels_app.platforms",
        "channels_app.workforce",
    ]
)


@setup_logging.connect
def _use_django_logging(**kwargs) -> None:
    """Let Django's LOGGING configure the worker too (it quiets the per-second
    sweep chatter while keeping cutover events)."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@task_failure.connect
def _count_failure(sender=None, **kwargs) -> None:
    """Failures and retries are counted for /metrics in the shared cache (channels_app/core/metrics.py)."""
    metrics.count(metrics.TASK_FAILURES, getattr(sender, "name", "unknown"))


@task_retry.connect
def _count_retry(sender=None, **kwargs) -> None:
    metrics.count(metrics.TASK_RETRIES, getattr(sender, "name", "unknown"))


@task_prerun.connect
def _log_ids(sender=None, task_id=None, args=(), kwargs=None, **extra) -> None:
    """Each task's log lines carry its id, name and any run_id, plan_id or channel_id argument."""
    logcontext.start_task(
        task_id=task_id,
        name=getattr(sender, "name", ""),
        function=getattr(sender, "run", None),
        args=args or (),
        kwargs=kwargs or {},
    )


@task_postrun.connect
def _clear_log_ids(**kwargs) -> None:
    logcontext.clear()
