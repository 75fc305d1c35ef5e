"""What /metrics answers: Prometheus families computed when the scrape comes.

Two sources, so any web process on any machine answers the same figures (docs/operations.md,
"Metrics"):
- events counted as they happen, in whichever process (webhooks, sign-ins, Celery failures and
  retries), kept in the shared cache (channels_app/core/metrics.py);
- what the database already holds (reply backlog, publications, runs, schedule lag), read here.
"""

from bisect import bisect_left

from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from channels_app.core import metrics
from channels_app.cutover.selectors import (
    active_run_progress,
    beat_sweep_age,
    finished_run_durations,
    oldest_due_phase_age,
    run_counts_by_state,
    schedule_lags,
)
from channels_app.handoff.selectors import handoff_delivery_counts
from channels_app.models import ChannelKind, RunState
from channels_app.platforms.selectors import publications, reply_backlog
from portal.celery import app

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SCHEDULE_LAG_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
RUN_DURATION_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0)


def _histogram(name: str, documentation: str, values: list[float], bounds: tuple[float, ...]):
    ordered = sorted(values)
    buckets = [(str(bound), bisect_left(ordered, bound + 1e-9)) for bound in bounds]
    buckets.append(("+Inf", len(ordered)))
    return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=sum(ordered))


class DuskCollector:
    def collect(self):
        yield from self._event_counters()
        yield from self._outbox()
        yield from self._handoffs()
        yield from self._runs()

    def _event_counters(self):
        # A web process never imported the tasks modules: let Celery discover them to know the names.
        app.loader.import_default_modules()
        label_sets = {
            metrics.WEBHOOK_DELIVERIES: [
                (kind, status) for kind in ChannelKind.values for status in metrics.WEBHOOK_STATUSES
            ],
            metrics.TASK_FAILURES: [(name,) for name in sorted(app.tasks) if name.startswith("channels_app.")],
            metrics.TASK_RETRIES: [(name,) for name in sorted(app.tasks) if name.startswith("channels_app.")],
            metrics.SIGNIN_FAILURES: [()],
            metrics.HANDOFF_ARRIVALS: [(outcome,) for outcome in metrics.ARRIVAL_OUTCOMES],
        }
        for family, (documentation, labels) in metrics.COUNTERS.items():
            counter = CounterMetricFamily(family, documentation, labels=labels)
            for values, value in metrics.counter_values(family, label_sets[family]).items():
                if value or not labels:
                    counter.add_metric(list(values), value)
            yield counter

    def _outbox(self):
        now = timezone.now()
        size = GaugeMetricFamily(
            "dusk_reply_backlog",
            "Replies waiting to be sent, per channel.",
            labels=["channel_id", "channel", "platform"],
        )
        oldest = GaugeMetricFamily(
            "dusk_reply_backlog_oldest_seconds",
            "Age of the oldest reply waiting to be sent, per channel.",
            labels=["channel_id", "channel", "platform"],
        )
        for row in reply_backlog():
            labels = [str(row["channel_id"]), row["channel"], row["platform"]]
            size.add_metric(labels, row["size"])
            oldest.add_metric(labels, max((now - row["oldest"]).total_seconds(), 0.0))
        yield size
        yield oldest
        published = CounterMetricFamily(
            "dusk_publications",
            "Replies the outbox finished with, by platform, kind (auto_reply, handoff) and state (sent, failed, skipped).",
            labels=["platform", "kind", "state"],
        )
        for row in publications():
            published.add_metric([row["platform"], row["kind"], row["state"]], row["count"])
        yield published

    def _handoffs(self):
        deliveries = GaugeMetricFamily(
            "dusk_handoff_deliveries",
            "Contact requests handed off to destinations, by destination kind and outcome (sent, failed, "
            "waiting: pending or being sent).",
            labels=["destination", "outcome"],
        )
        for (kind, outcome), count in handoff_delivery_counts().items():
            deliveries.add_metric([kind, outcome], count)
        yield deliveries

    def _runs(self):
        counts = run_counts_by_state()
        runs = CounterMetricFamily("dusk_cutover_runs", "Cutover runs by state.", labels=["state"])
        for state in RunState.values:
            runs.add_metric([state], counts.get(state, 0))
        yield runs
        progress = GaugeMetricFamily(
            "dusk_cutover_run_progress_ratio",
            "Share of a queued or running cutover's steps done (0 to 1).",
            labels=["run_id", "plan_id", "step"],
        )
        for row in active_run_progress():
            progress.add_metric([str(row["run_id"]), str(row["plan_id"]), row["step"]], row["progress"])
        yield progress
        yield _histogram(
            "dusk_cutover_run_duration_seconds",
            "Seconds from start to finish of finished cutover runs.",
            finished_run_durations(),
            RUN_DURATION_BUCKETS,
        )
        yield _histogram(
            "dusk_schedule_lag_seconds",
            "Seconds from a phase's scheduled instant to its run's start.",
            schedule_lags(),
            SCHEDULE_LAG_BUCKETS,
        )
        sweep_age = beat_sweep_age()
        if sweep_age is not None:
            yield GaugeMetricFamily(
                "dusk_beat_sweep_age_seconds", "Seconds since beat's sweep for due phases last ran.", value=sweep_age
            )
        yield GaugeMetricFamily(
            "dusk_due_phase_oldest_seconds",
            "Seconds the oldest due phase has waited to be claimed (0 when none waits).",
            value=oldest_due_phase_age() or 0.0,
        )


def render() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DuskCollector())
    return generate_latest(registry)
