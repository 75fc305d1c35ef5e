"""Ids that every log line written while they hold carries: request, task, run, plan, channel.

A request (web/middleware.py), a Celery task (portal/celery.py) or a service (the cutover engine,
the webhooks) opens a `log_context(run_id=...)`; `ContextFilter`, on the console handler
(LOGGING in portal/settings.py), copies the ids onto each record. With DUSK_LOG_JSON=1 they
become fields of the JSON line; plain logs leave them out.
"""

import inspect
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

FIELDS = ("request_id", "task_id", "task", "run_id", "plan_id", "channel_id")
# A task argument with one of these names is logged as that id.
ID_ARGUMENTS = ("run_id", "plan_id", "channel_id")

_ids: ContextVar[dict[str, Any] | None] = ContextVar("dusk_log_ids", default=None)


def _get() -> dict[str, Any]:
    return _ids.get() or {}


@contextmanager
def log_context(**ids: Any) -> Iterator[None]:
    """Add ids for the duration of the block (and restore the previous ones after it)."""
    token = _ids.set({**_get(), **{k: v for k, v in ids.items() if v is not None}})
    try:
        yield
    finally:
        _ids.reset(token)


def bind(**ids: Any) -> None:
    """Add ids until the enclosing log_context ends (for ids learnt inside it)."""
    _ids.set({**_get(), **{k: v for k, v in ids.items() if v is not None}})


def start_task(*, task_id: str | None, name: str, function: Any, args: tuple, kwargs: dict) -> None:
    """Replace the ids at the start of a Celery task: its id and name, and any run_id, plan_id or
    channel_id among its arguments. (A worker process runs one task after another: nothing of
    the previous task may leak into the next one's lines.)"""
    ids: dict[str, Any] = {"task_id": task_id, "task": name}
    try:
        bound = inspect.signature(function).bind_partial(*args, **kwargs)
        ids.update({name: value for name, value in bound.arguments.items() if name in ID_ARGUMENTS})
    except (TypeError, ValueError):
        pass
    _ids.set(ids)


def clear() -> None:
    _ids.set({})


def current() -> dict[str, Any]:
    return dict(_get())


class ContextFilter(logging.Filter):
    """Copies the current ids onto each record (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True
