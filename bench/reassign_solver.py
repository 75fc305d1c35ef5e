"""Benchmark the seat-assignment solver on a realistic large reorganisation (no Django needed).

10,000 agents from eight sites, each speaking the languages of their site (plus English for most),
with 1-4 of 12 skills and a stated preference for about a third of them; 300 destination teams
with ~12,000 free seats in total, each requiring one or two languages (some accept any language)
and desiring 1-3 skills.

Run: .venv/bin/python bench/reassign_solver.py [--agents N] [--pools N] [--seed N] [--repeat N]
Prints the time, a capacity check, the unplaced count and a machine-readable RESULT line.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from channels_app.workforce.staffing.solver import AgentProfile, SeatPool, suggest_assignment  # noqa: E402

TARGET_SECONDS = 5.0

# site -> (time zone, languages with weights); English is added separately for most agents.
SITES: dict[str, tuple[str, dict[str, int]]] = {
    "Dublin": ("Europe/Dublin", {"en": 6, "fr": 1, "de": 1, "it": 1, "nl": 1}),
    "Lisbon": ("Europe/Lisbon", {"pt": 5, "es": 3, "fr": 1}),
    "Berlin": ("Europe/Berlin", {"de": 7, "pl": 1, "tr": 1}),
    "Paris": ("Europe/Paris", {"fr": 8, "ar": 1}),
    "Krakow": ("Europe/Warsaw", {"pl": 5, "uk": 2, "de": 1, "cs": 1}),
    "Manila": ("Asia/Manila", {"tl": 4, "en": 4}),
    "Mexico City": ("America/Mexico_City", {"es": 8, "pt": 1}),
    "Cairo": ("Africa/Cairo", {"ar": 6, "fr": 1}),
}
SITE_WEIGHTS = {
    "Dublin": 18,
    "Lisbon": 14,
    "Berlin": 12,
    "Paris": 12,
    "Krakow": 10,
    "Manila": 16,
    "Mexico City": 10,
    "Cairo": 8,
}
SKILLS = [
    "billing", "refunds", "tech_support", "escalations", "social_media", "chat",
    "phone", "email", "vip", "fraud", "accessibility", "retention",
]  # fmt: skip
SKILL_WEIGHTS = [9, 8, 7, 4, 6, 6, 8, 7, 2, 2, 1, 3]


def _weighted(rng: random.Random, options: dict[str, int]) -> str:
    return rng.choices(list(options), weights=list(options.values()))[0]


def make_pools(rng: random.Random, count: int, total_seats: int) -> list[SeatPool]:
    pools = []
    for team_id in range(1, count + 1):
        site = rng.choices(list(SITE_WEIGHTS), weights=list(SITE_WEIGHTS.values()))[0]
        zone, mix = SITES[site]
        roll = rng.random()
        if roll < 0.08:
            languages: tuple[str, ...] = ()  # e.g. back-office teams: any language
        elif roll < 0.35:
            languages = tuple(sorted({_weighted(rng, mix), "en"}))
        else:
            languages = (_weighted(rng, mix),)
        skills = tuple(sorted(set(rng.choices(SKILLS, weights=SKILL_WEIGHTS, k=rng.randint(1, 3)))))
        seats = max(1, round(rng.gauss(total_seats / count, total_seats / count / 3)))
        name = f"{site} {'/'.join(languages) or 'any'} team {team_id}"
        pools.append(SeatPool(team_id, name, seats, languages, skills, site, zone))
    return pools


def make_agents(rng: random.Random, count: int, pools: list[SeatPool]) -> list[AgentProfile]:
    agents = []
    for agent_id in range(1, count + 1):
        site = rng.choices(list(SITE_WEIGHTS), weights=list(SITE_WEIGHTS.values()))[0]
        zone, mix = SITES[site]
        languages = {_weighted(rng, mix)}
        if rng.random() < 0.3:
            languages.add(_weighted(rng, mix))
        if rng.random() < 0.7:
            languages.add("en")
        skills = set(rng.choices(SKILLS, weights=SKILL_WEIGHTS, k=rng.randint(1, 4)))
        preferred = rng.choice(pools).team_id if rng.random() < 0.35 else None
        agents.append(
            AgentProfile(
                agent_id, f"Agent {agent_id}", tuple(sorted(languages)), tuple(sorted(skills)), site, zone, preferred
            )
        )
    return agents


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--pools", type=int, default=300)
    parser.add_argument("--seats", type=int, default=12_000)
    parser.add_argument("--seed", type=int, default=20251001)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    pools = make_pools(rng, args.pools, args.seats)
    agents = make_agents(rng, args.agents, pools)
    print(f"agents={len(agents)} pools={len(pools)} free_seats={sum(p.free_seats for p in pools)}")

    timings = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        suggestion = suggest_assignment(agents, pools)
        timings.append(time.perf_counter() - started)
    best = min(timings)

    used = Counter(p.team_id for p in suggestion.placements.values())
    over = [p.team_id for p in pools if used[p.team_id] > p.free_seats]
    print(f"timings_s={[round(t, 3) for t in timings]} best_s={best:.3f}")
    print(f"capacity_ok={not over} over_capacity_teams={over}")
    print(f"placed={len(suggestion.placements)} unplaced={len(suggestion.unplaced)} totals={tuple(suggestion.totals)}")
    for line in suggestion.notes:
        print(f"note: {line}")
    for line in suggestion.infeasibility[:5]:
        print(f"infeasibility: {line}")
    sample = min(suggestion.placements)
    print(f"example: {suggestion.explain(sample)}")
    print(f"RESULT suggest_10k_s={best:.3f} target=<={TARGET_SECONDS:g}")
    return 0 if not over and best <= TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
