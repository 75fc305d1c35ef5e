"""Erlang C against published worked examples, exact rational arithmetic and large staffing levels."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from scipy.optimize import brentq

from channels_app.workforce.staffing.erlang import (
    StaffingResult,
    agents_needed,
    average_speed_of_answer,
    erlang_b,
    erlang_c,
    occupancy,
    service_level,
    traffic_intensity,
)

# ---------------------------------------------------------------------------------------------
# Published example 1: Call Centre Helper, "Erlang C Formula - Made Simple With an Easy Worked
# Example" (callcentrehelper.com/erlang-c-formula-example-121281.htm). Inputs: 100 calls in 30
# minutes, AHT 180 s, 80% of calls answered in 20 s, maximum occupancy 85%, shrinkage 30%.
# The article gets 200 calls/hour x 3 min = 10 Erlangs, starts at N = A + 1 = 11 and increases N
# until the service level is met. Its results are republished to 7 decimals by two independent
# implementations, whose printed outputs we check here:
#   * R package ErlangC 0.1.0 README (rdocumentation.org/packages/ErlangC/versions/0.1.0):
#     traffic_intensity 10; at 14 agents wait_probability 0.1741319, service_level 0.88835,
#     average_speed_of_answer 7.83593701177724 s, immediate_answer_probability 0.8258681,
#     occupancy 0.7142857; calculate_agents(..., 0.8, max_occupancy 0.85, shrinkage 0.3) -> 14
#     agents; its iteration table starts at traffic 10, wait_probability 0.6821182 (N = 11).
#   * pyworkforce 0.1.0 README (pypi.org/project/pyworkforce/0.1.0): ErlangC(transactions=100,
#     asa=20/60, aht=3, interval=30, max_occupancy=0.85, shrinkage=0.3).required_positions(0.8)
#     -> raw_positions 14, positions 20, service_level 0.8883500191794669,
#     occupancy 0.7142857142857143, waiting_probability 0.1741319335950498.
# ---------------------------------------------------------------------------------------------

CCH_CALLS, CCH_INTERVAL, CCH_AHT, CCH_TARGET = 100, 1800, 180, 20


def test_cch_traffic_intensity_is_ten_erlangs():
    assert traffic_intensity(CCH_CALLS, CCH_AHT, CCH_INTERVAL) == pytest.approx(10.0, abs=1e-12)
    assert traffic_intensity(200, CCH_AHT) == pytest.approx(10.0, abs=1e-12)  # 200 calls/hour


def test_cch_probability_of_waiting_with_the_first_guess_of_11_agents():
    assert erlang_c(10.0, 11) == pytest.approx(0.6821182, abs=5e-8)


def test_cch_figures_at_14_agents():
    assert erlang_c(10.0, 14) == pytest.approx(0.1741319335950498, abs=1e-12)
    assert 1 - erlang_c(10.0, 14) == pytest.approx(0.8258681, abs=5e-8)  # immediate answer
    assert service_level(CCH_CALLS, CCH_AHT, 14, CCH_TARGET, CCH_INTERVAL) == pytest.approx(
        0.8883500191794669, abs=1e-12
    )
    assert average_speed_of_answer(CCH_CALLS, CCH_AHT, 14, CCH_INTERVAL) == pytest.approx(7.83593701177724, abs=1e-9)
    assert occupancy(CCH_CALLS, CCH_AHT, 14, CCH_INTERVAL) == pytest.approx(0.7142857142857143, abs=1e-15)


def test_cch_hourly_rate_gives_the_same_answers():
    # 100 per half hour is 200 per hour; the default interval is one hour.
    assert service_level(200, CCH_AHT, 14, CCH_TARGET) == pytest.approx(0.8883500191794669, abs=1e-12)
    assert average_speed_of_answer(200, CCH_AHT, 14) == pytest.approx(7.83593701177724, abs=1e-9)


def test_cch_agents_needed_is_14_raw_and_20_with_30_percent_shrinkage():
    result = agents_needed(CCH_CALLS, CCH_AHT, 0.8, CCH_TARGET, CCH_INTERVAL, max_occupancy=0.85, shrinkage=0.3)
    assert result == StaffingResult(
        agents=20,
        service_level=pytest.approx(0.8883500191794669, abs=1e-12),
        asa_seconds=pytest.approx(7.83593701177724, abs=1e-9),
        occupancy=pytest.approx(0.7142857142857143, abs=1e-15),
        traffic_erlangs=pytest.approx(10.0, abs=1e-12),
        raw_agents=14,
        probability_of_waiting=pytest.approx(0.1741319335950498, abs=1e-12),
    )
    # 13 agents would not do: that is why the article (and both packages) land on 14.
    assert service_level(CCH_CALLS, CCH_AHT, 13, CCH_TARGET, CCH_INTERVAL) < 0.8


def test_cch_service_level_climbs_with_each_added_agent():
    levels = [service_level(CCH_CALLS, CCH_AHT, n, CCH_TARGET, CCH_INTERVAL) for n in range(11, 15)]
    assert levels == sorted(levels)
    assert levels[-2] < 0.8 <= levels[-1]


# ---------------------------------------------------------------------------------------------
# Published example 2: the Erlang C calculator's own worked example on "VR" Erlang calculators
# (personal.telefonica.terra.es/web/vr/erlang/eng/mcerlc.htm): "If in one hour there are 600
# calls with call length of 120 seconds, that is a traffic of 20 erlangs. For a target delay
# probability of 15% the number of circuits needed are 26. The average delay is 2.5 sec/CCS, so,
# 1800 total seconds or 3 seconds per call. If circuits are incremented to 30, delay is reduced
# to 2.5%. Those 30 circuits with 15% of delay could attend a traffic of 23.6 erlangs."
# The page displays delays at coarse precision (0.5 s/CCS and whole seconds), checked as such.
# ---------------------------------------------------------------------------------------------


def test_vr_traffic_is_20_erlangs():
    assert traffic_intensity(600, 120) == pytest.approx(20.0, abs=1e-12)


def test_vr_26_circuits_for_15_percent_delay_probability():
    assert erlang_c(20.0, 25) > 0.15 >= erlang_c(20.0, 26)
    assert min(n for n in range(21, 60) if erlang_c(20.0, n) <= 0.15) == 26


def test_vr_average_delay_is_about_3_seconds_per_call_and_2_5_s_per_ccs():
    per_call = average_speed_of_answer(600, 120, 26)
    assert round(per_call) == 3
    total_delay = 600 * per_call  # seconds of waiting in the hour
    ccs = 600 * 120 / 100  # hundred call-seconds of traffic
    assert round(total_delay / ccs * 2) / 2 == 2.5


def test_vr_30_circuits_cut_delay_probability_to_2_5_percent():
    assert round(erlang_c(20.0, 30) * 100, 1) == 2.5


def test_vr_30_circuits_at_15_percent_carry_23_6_erlangs():
    traffic = brentq(lambda a: erlang_c(a, 30) - 0.15, 1.0, 29.9, xtol=1e-10)
    assert math.floor(traffic * 10) / 10 == 23.6


# ---------------------------------------------------------------------------------------------
# Exactness and numerical stability: compare with rational arithmetic, no floats involved.
# ---------------------------------------------------------------------------------------------


def exact_erlang_c(traffic: int, agents: int) -> Fraction:
    """Textbook formula with exact integers: A^N/N! * N/(N-A) / (sum_{k<N} A^k/k! + that)."""
    terms = [Fraction(traffic**k, math.factorial(k)) for k in range(agents)]
    top = Fraction(traffic**agents, math.factorial(agents)) * Fraction(agents, agents - traffic)
    return top / (sum(terms) + top)


@pytest.mark.parametrize(
    ("traffic", "agents"),
    [
        (10, 11),
        (10, 14),
        (20, 26),
        # The 360-calls-per-half-hour, AHT 240 s example (A = 48) with 55 agents.
        (48, 55),
        (150, 170),
        (400, 420),  # 400^420 / 420! overflows any float; the recursion does not care.
    ],
)
def test_erlang_c_matches_exact_rational_arithmetic(traffic: int, agents: int):
    assert erlang_c(float(traffic), agents) == pytest.approx(float(exact_erlang_c(traffic, agents)), rel=1e-11)


def test_exact_check_of_the_360_calls_example_inputs():
    # 360 calls per 30 minutes with a 4-minute handle time is 48 Erlangs; values at 55 agents
    # and a 15 s target are cross-checked against exact arithmetic, not quoted from a page.
    assert traffic_intensity(360, 240, 1800) == pytest.approx(48.0, abs=1e-12)
    exact = float(exact_erlang_c(48, 55))
    assert average_speed_of_answer(360, 240, 55, 1800) == pytest.approx(exact * 240 / 7, rel=1e-11)
    assert service_level(360, 240, 55, 15, 1800) == pytest.approx(1 - exact * math.exp(-7 * 15 / 240), rel=1e-11)
    assert occupancy(360, 240, 55, 1800) == pytest.approx(48 / 55, abs=1e-15)


def test_erlang_b_recursion_matches_closed_form():
    assert erlang_b(1.0, 1) == pytest.approx(0.5)
    assert erlang_b(2.0, 2) == pytest.approx((2**2 / 2) / (1 + 2 + 2), abs=1e-15)
    assert erlang_b(5.0, 0) == 1.0


def test_hundreds_and_thousands_of_agents_do_not_overflow():
    # 20,000 calls per half hour at 5 minutes each: 3,333 Erlangs.
    result = agents_needed(20_000, 300, 0.8, 20, 1800)
    assert math.isfinite(result.asa_seconds) and 0 < result.probability_of_waiting < 1
    assert result.raw_agents > result.traffic_erlangs
    assert result.service_level >= 0.8
    assert service_level(20_000, 300, result.raw_agents - 1, 20, 1800) < 0.8
    assert erlang_c(1000.0, 1100) < erlang_c(1000.0, 1050) < erlang_c(1000.0, 1010) < 1


# ---------------------------------------------------------------------------------------------
# Behaviour at the edges and input validation
# ---------------------------------------------------------------------------------------------


def test_unstable_queue_waits_forever():
    assert erlang_c(10.0, 10) == 1.0 and erlang_c(10.0, 3) == 1.0
    assert service_level(CCH_CALLS, CCH_AHT, 10, CCH_TARGET, CCH_INTERVAL) == 0.0
    assert average_speed_of_answer(CCH_CALLS, CCH_AHT, 10, CCH_INTERVAL) == math.inf
    assert occupancy(CCH_CALLS, CCH_AHT, 5, CCH_INTERVAL) == 1.0


def test_no_traffic_needs_no_agents():
    assert erlang_c(0.0, 3) == 0.0
    assert agents_needed(0, 180, 0.8, 20) == StaffingResult(0, 1.0, 0.0, 0.0, 0.0, 0, 0.0)
    assert service_level(0, 180, 0, 20) == 1.0


def test_occupancy_cap_can_require_more_agents_than_the_service_level():
    # 80/20 alone needs 14 agents at 71% occupancy; a 65% cap needs ceil(10 / 0.65) = 16.
    capped = agents_needed(CCH_CALLS, CCH_AHT, 0.8, CCH_TARGET, CCH_INTERVAL, max_occupancy=0.65)
    assert capped.raw_agents == 16 and capped.occupancy <= 0.65


def test_shrinkage_rounds_up_without_float_noise():
    # 14 / 0.7 is 20.000000000000004 in floating point; the answer is still 20, and 14 / 0.75 -> 19.
    assert agents_needed(CCH_CALLS, CCH_AHT, 0.8, CCH_TARGET, CCH_INTERVAL, shrinkage=0.3).agents == 20
    assert agents_needed(CCH_CALLS, CCH_AHT, 0.8, CCH_TARGET, CCH_INTERVAL, shrinkage=0.25).agents == 19


@pytest.mark.parametrize(
    "kwargs",
    [
        {"target_service_level": 1.0},
        {"target_service_level": 0.0},
        {"shrinkage": 1.0},
        {"shrinkage": -0.1},
        {"max_occupancy": 0.0},
        {"target_answer_seconds": -1},
    ],
)
def test_agents_needed_rejects_impossible_targets(kwargs):
    arguments = {
        "calls_per_interval": 100,
        "aht_seconds": 180,
        "target_service_level": 0.8,
        "target_answer_seconds": 20,
    }
    with pytest.raises(ValueError):
        agents_needed(**{**arguments, **kwargs})


def test_invalid_inputs_are_rejected():
    with pytest.raises(ValueError):
        erlang_c(-1.0, 3)
    with pytest.raises(ValueError):
        erlang_c(1.0, -3)
    with pytest.raises(ValueError):
        traffic_intensity(10, 100, interval_seconds=0)
