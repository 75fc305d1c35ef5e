"""Pure computational core of the workforce transition: seat assignment and Erlang C staffing.

No Django imports here, so services, benchmarks and tests can use it without a configured project.
"""

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
from channels_app.workforce.staffing.solver import (
    AgentProfile,
    FitTotals,
    Placement,
    SeatPool,
    Suggestion,
    Weights,
    suggest_assignment,
)

__all__ = [
    "AgentProfile",
    "FitTotals",
    "Placement",
    "SeatPool",
    "StaffingResult",
    "Suggestion",
    "Weights",
    "agents_needed",
    "average_speed_of_answer",
    "erlang_b",
    "erlang_c",
    "occupancy",
    "service_level",
    "suggest_assignment",
    "traffic_intensity",
]
