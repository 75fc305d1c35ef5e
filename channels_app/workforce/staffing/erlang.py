"""Erlang C staffing maths for the channels that stay open after a sunset.

When a channel is retired its traffic moves to the remaining ones (phone, web form, chat), and the
question "how many agents does the phone queue need now?" is answered with Erlang C (M/M/N queue,
no abandonment).

Numerical stability: the textbook formula divides A**N by N!, which overflows a float long before
N = 200. We never form either term. The Erlang B blocking probability obeys the recursion

    B(A, 0) = 1,    B(A, k) = A * B(A, k-1) / (k + A * B(A, k-1))

whose every step stays in [0, 1], and Erlang C follows from it exactly:

    C(A, N) = N * B(A, N) / (N - A * (1 - B(A, N)))     for N > A.

Time units: ``calls`` are counted per ``interval_seconds``; handle and answer times are in seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "StaffingResult",
    "agents_needed",
    "average_speed_of_answer",
    "erlang_b",
    "erlang_c",
    "occupancy",
    "service_level",
    "traffic_intensity",
]

# Rounding guard for shrinkage: 14 / (1 - 0.3) is 20.000000000000004 in binary floating point, and
# a naive ceil() would hire a 21st agent nobody asked for.
_CEIL_EPSILON = 1e-9


@dataclass(frozen=True)
class StaffingResult:
    """Outcome of :func:`agents_needed`.

    ``agents`` is the headcount to schedule (after shrinkage); the quality figures describe the
    ``raw_agents`` that are actually on the phones, which is what the customer experiences.
    """

    agents: int
    service_level: float
    asa_seconds: float
    occupancy: float
    traffic_erlangs: float
    raw_agents: int
    probability_of_waiting: float


def _check_non_negative(**values: float) -> None:
    for name, value in values.items():
        if value < 0 or math.isnan(value):
            raise ValueError(f"{name} must be >= 0, got {value!r}")


def _check_agents(agents: int) -> None:
    if isinstance(agents, bool) or not isinstance(agents, int) or agents < 0:
        raise ValueError(f"agents must be a non-negative integer, got {agents!r}")


def traffic_intensity(calls: float, aht_seconds: float, interval_seconds: float = 3600) -> float:
    """Offered load in Erlangs: calls per second times the average handle time."""
    _check_non_negative(calls=calls, aht_seconds=aht_seconds)
    if interval_seconds <= 0:
        raise ValueError(f"interval_seconds must be > 0, got {interval_seconds!r}")
    return calls * aht_seconds / interval_seconds


def _erlang_b_step(traffic: float, previous: float, k: int) -> float:
    """B(A, k) from B(A, k-1); stays within [0, 1] so it cannot overflow."""
    numerator = traffic * previous
    return numerator / (k + numerator)


def erlang_b(traffic_erlangs: float, agents: int) -> float:
    """Blocking probability of an M/M/N/N system (Erlang B), by the stable recursion."""
    _check_non_negative(traffic_erlangs=traffic_erlangs)
    _check_agents(agents)
    blocking = 1.0
    for k in range(1, agents + 1):
        blocking = _erlang_b_step(traffic_erlangs, blocking, k)
    return blocking


def _erlang_c_from_b(traffic: float, agents: int, blocking: float) -> float:
    if agents <= traffic:
        # The queue grows without bound: every caller waits.
        return 1.0
    return agents * blocking / (agents - traffic * (1.0 - blocking))


def erlang_c(traffic_erlangs: float, agents: int) -> float:
    """Probability that a call has to wait (Erlang C). 1.0 when the queue is unstable (N <= A)."""
    _check_non_negative(traffic_erlangs=traffic_erlangs)
    _check_agents(agents)
    if traffic_erlangs == 0:
        return 0.0
    return _erlang_c_from_b(traffic_erlangs, agents, erlang_b(traffic_erlangs, agents))


def _service_level(traffic: float, agents: int, p_wait: float, aht: float, target: float) -> float:
    if traffic == 0:
        return 1.0
    if agents <= traffic:
        return 0.0
    # P(wait <= t) = 1 - C * exp(-(N - A) * t / AHT) for exponential handle times.
    return 1.0 - p_wait * math.exp(-(agents - traffic) * target / aht)


def _asa(traffic: float, agents: int, p_wait: float, aht: float) -> float:
    if traffic == 0:
        return 0.0
    if agents <= traffic:
        return math.inf
    return p_wait * aht / (agents - traffic)


def service_level(
    calls: float,
    aht_seconds: float,
    agents: int,
    target_answer_seconds: float,
    interval_seconds: float = 3600,
) -> float:
    """Fraction of calls answered within ``target_answer_seconds``.

    ``calls`` arrive per ``interval_seconds`` (default one hour, i.e. an hourly arrival rate).
    """
    _check_non_negative(target_answer_seconds=target_answer_seconds)
    traffic = traffic_intensity(calls, aht_seconds, interval_seconds)
    p_wait = erlang_c(traffic, agents)
    return _service_level(traffic, agents, p_wait, aht_seconds, target_answer_seconds)


def average_speed_of_answer(calls: float, aht_seconds: float, agents: int, interval_seconds: float = 3600) -> float:
    """Mean wait in seconds over all calls (ASA); ``math.inf`` when the queue is unstable."""
    traffic = traffic_intensity(calls, aht_seconds, interval_seconds)
    return _asa(traffic, agents, erlang_c(traffic, agents), aht_seconds)


def occupancy(calls: float, aht_seconds: float, agents: int, interval_seconds: float = 3600) -> float:
    """Share of agent time spent handling calls, A / N, capped at 1 (agents cannot exceed 100%)."""
    _check_agents(agents)
    traffic = traffic_intensity(calls, aht_seconds, interval_seconds)
    if traffic == 0:
        return 0.0
    if agents == 0:
        return 1.0
    return min(traffic / agents, 1.0)


def _check_targets(target_service_level: float, max_occupancy: float | None, shrinkage: float) -> None:
    if not 0.0 < target_service_level < 1.0:
        # 100% is unreachable under Erlang C for any finite N; 0% needs no formula.
        raise ValueError(f"target_service_level must be in (0, 1), got {target_service_level!r}")
    if max_occupancy is not None and not 0.0 < max_occupancy <= 1.0:
        raise ValueError(f"max_occupancy must be in (0, 1], got {max_occupancy!r}")
    if not 0.0 <= shrinkage < 1.0:
        raise ValueError(f"shrinkage must be in [0, 1), got {shrinkage!r}")


def _with_shrinkage(raw_agents: int, shrinkage: float) -> int:
    return math.ceil(raw_agents / (1.0 - shrinkage) - _CEIL_EPSILON)


def agents_needed(
    calls_per_interval: float,
    aht_seconds: float,
    target_service_level: float,
    target_answer_seconds: float,
    interval_seconds: float = 1800,
    max_occupancy: float | None = None,
    shrinkage: float = 0.0,
) -> StaffingResult:
    """Smallest staffing that meets the service level (and the occupancy cap, if given).

    Walks N upwards from the first stable value, advancing Erlang B one step per N, so the cost is
    O(N) in total even for thousands of Erlangs. Shrinkage (breaks, training, absence) is applied
    last: ``agents = ceil(raw_agents / (1 - shrinkage))``.
    """
    _check_targets(target_service_level, max_occupancy, shrinkage)
    _check_non_negative(target_answer_seconds=target_answer_seconds)
    traffic = traffic_intensity(calls_per_interval, aht_seconds, interval_seconds)
    if traffic == 0:
        return StaffingResult(0, 1.0, 0.0, 0.0, 0.0, 0, 0.0)

    agents = math.floor(traffic)  # N <= A is never stable; the first candidate is floor(A) + 1.
    blocking = erlang_b(traffic, agents)
    while True:
        agents += 1
        blocking = _erlang_b_step(traffic, blocking, agents)
        p_wait = _erlang_c_from_b(traffic, agents, blocking)
        level = _service_level(traffic, agents, p_wait, aht_seconds, target_answer_seconds)
        busy = traffic / agents
        if level >= target_service_level and (max_occupancy is None or busy <= max_occupancy):
            return StaffingResult(
                agents=_with_shrinkage(agents, shrinkage),
                service_level=level,
                asa_seconds=_asa(traffic, agents, p_wait, aht_seconds),
                occupancy=busy,
                traffic_erlangs=traffic,
                raw_agents=agents,
                probability_of_waiting=p_wait,
            )
