"""A hand-countable history of moved agents for the outcome report's tests (the counts are in
channels_app/tests/workforce/test_outcomes.py).

Day 0 is the first plan's cutover (1 January 2026); the report is read on day 100. Plan A ("Retire
X") moved ten agents from Social to Phone on day 0; plan B ("Retire the forum") moved two on day 50.
"""

from datetime import date, timedelta

from channels_app.models import Assignment
from channels_app.tests.support.factories import (
    AgentFactory,
    AssignmentFactory,
    CutoverRunFactory,
    PhaseFactory,
    SunsetPlanFactory,
    TeamFactory,
)
from channels_app.workforce.services.departures import record_departure

DAY0 = date(2026, 1, 1)
TODAY = DAY0 + timedelta(days=100)


def day(n: int) -> date:
    return DAY0 + timedelta(days=n)


class History:
    def __init__(self, hr):
        self.hr = hr
        self.social = TeamFactory(name="Social")
        self.phone = TeamFactory(name="Phone")
        self.web = TeamFactory(name="Web desk")
        self.plan_a = SunsetPlanFactory(title="Retire X")
        self.plan_b = SunsetPlanFactory(title="Retire the forum")
        self.run_a = CutoverRunFactory(phase=PhaseFactory(plan=self.plan_a, local_date=day(0)))
        self.run_b = CutoverRunFactory(phase=PhaseFactory(plan=self.plan_b, local_date=day(50)))
        self.agents = {}

    def moved(self, name: str, run, on: int):
        """Social since 2024, moved to Phone by `run` on day `on`, as the cutover writes it."""
        agent = AgentFactory(name=name)
        AssignmentFactory(agent=agent, team=self.social, starts_on=date(2024, 1, 1), ends_on=day(on), ended_by_run=run)
        AssignmentFactory(agent=agent, team=self.phone, starts_on=day(on), created_by_run=run)
        self.agents[name] = agent
        return agent

    def move_again(self, name: str, on: int, team=None):
        agent = self.agents[name]
        Assignment.objects.filter(agent=agent, ends_on__isnull=True).update(ends_on=day(on))
        AssignmentFactory(agent=agent, team=team or self.web, starts_on=day(on))

    def leave(self, name: str, on: int, reason: str, **kwargs):
        record_departure(actor=self.hr, agent=self.agents[name], left_on=day(on), reason=reason, **kwargs)


def build_history(hr) -> History:
    h = History(hr)
    for name in ("Ana", "Ben", "Chloé", "Dev", "Eve", "Fay", "Gus", "Hal", "Ivy", "Jon"):
        h.moved(name, h.run_a, 0)
    h.move_again("Ben", 45)  # to the web desk
    h.leave("Chloé", 10, "declined_role", deactivate=True, note="Wanted to stay on social")
    h.leave("Dev", 75, "resigned", deactivate=True)
    Assignment.objects.filter(agent=h.agents["Eve"], ends_on__isnull=True).update(ends_on=day(20))  # no reason
    h.agents["Fay"].is_active = False  # deactivated in the admin, never dated
    h.agents["Fay"].save()
    h.leave("Gus", 40, "other", note="Sabbatical")
    AssignmentFactory(agent=h.agents["Gus"], team=h.web, starts_on=day(70))  # came back elsewhere
    h.move_again("Hal", 30)  # moved again on the 30th day itself
    h.move_again("Ivy", 50, team=h.phone)  # a new role in the same team: still in role
    h.leave("Jon", 90, "resigned")  # left on the 90th day itself
    h.moved("Kim", h.run_b, 50)
    h.moved("Lea", h.run_b, 50)
    h.leave("Lea", 60, "resigned", deactivate=True)
    AssignmentFactory(agent=AgentFactory(name="Zed"), team=h.social, starts_on=date(2024, 1, 1))  # never moved
    return h
