"""Every page costs the same number of queries with 10 rows as with 1,000: a page whose reads
grow with its rows fails here. The comment above each count lists the queries."""

import os
from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from channels_app.models import (
    Agent,
    Assignment,
    AuditEvent,
    Channel,
    Conversation,
    Message,
    Phase,
    PlanChannel,
    Reassignment,
    RunState,
    SunsetPlan,
)
from channels_app.tests.support.factories import TEST_TOKEN_ENV, TEST_URL_ENV, CutoverRunFactory, TeamFactory
from channels_app.tests.support.helpers import approved_plan

pytestmark = pytest.mark.django_db

ROWS = [10, 1000]


@pytest.fixture
def admin_user(db, django_user_model):
    from channels_app.core.permissions import ensure_roles

    ensure_roles()
    user = django_user_model.objects.create_user(username="ada", password="x", is_superuser=True)
    user.groups.set(Group.objects.filter(name="admin"))
    return user


def _world(n: int, manager, approver):
    """n channels, plans, agents, conversations, messages and audit events."""
    now = timezone.now()
    kinds = ["x" if i % 2 else "discourse" for i in range(n)]
    channels = Channel.objects.bulk_create(
        [
            # Wired to the session's platform sandbox, as ChannelFactory does: plans pass the preflight.
            Channel(
                kind=kind,
                name=f"Channel {i:05d}",
                handle=f"@c{i}",
                api_token_env=TEST_TOKEN_ENV[kind],
                api_base_url=os.environ[TEST_URL_ENV[kind]],
            )
            for i, kind in enumerate(kinds)
        ]
    )
    main = channels[0]
    team = TeamFactory(name="Social", capacity=n + 10)
    team.channels.set(channels[:3])
    dest = TeamFactory(name="Phone", capacity=n + 10)
    agents = Agent.objects.bulk_create(
        [Agent(employee_id=f"E{i:06d}", name=f"Agent {i}", email=f"a{i}@example.com") for i in range(n)]
    )
    convs = Conversation.objects.bulk_create(
        [
            Conversation(
                channel=main,
                platform_thread_id=f"t{i}",
                customer_id=f"c{i}",
                opened_at=now,
                last_message_at=now,
                reference=f"DSK-Q{i:07d}",
            )
            for i in range(n)
        ]
    )
    Message.objects.bulk_create(
        [
            Message(
                channel=main, conversation=c, platform_message_id=f"m{c.pk}", direction="in", text="hi", created_at=now
            )
            for c in convs
        ]
    )
    plan = approved_plan(manager=manager, approver=approver, channels=[main])
    # The agents join the social team after the approval (hired late): half of them have
    # a move, half are still waiting, which the pages must show.
    Assignment.objects.bulk_create([Assignment(agent=a, team=team, starts_on=date(2024, 1, 1)) for a in agents])
    Reassignment.objects.bulk_create(
        [
            Reassignment(plan=plan, agent=a, from_team=team, to_team=dest, effective_date=date(2030, 1, 1))
            for a in agents[: n // 2]
        ]
    )
    # n more plans, each with a channel and a phase, in every open state.
    states = ["draft", "pending_approval", "scheduled", "completed"]
    others = SunsetPlan.objects.bulk_create(
        [SunsetPlan(title=f"Plan {i}", author=manager, state=states[i % 4]) for i in range(n)]
    )
    PlanChannel.objects.bulk_create(
        [PlanChannel(plan=p, channel=channels[i], is_open=i != 0) for i, p in enumerate(others) if i > 0]
    )
    at = now + timedelta(days=10)
    Phase.objects.bulk_create(
        [
            Phase(
                plan=p,
                kind="hard_close",
                local_date=at.date(),
                local_time=at.time(),
                time_zone="UTC",
                instant=at + timedelta(hours=i),
            )
            for i, p in enumerate(others)
        ]
    )
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                at=now,
                actor=manager,
                actor_label="maya",
                action="plan.updated",
                object_type="sunsetplan",
                object_id=str(plan.pk),
                before={"title": "a"},
                after={"title": "b"},
                prev_hash="0" * 64,
                hash=f"{i:064d}",
            )
            for i in range(n)
        ]
    )
    phase = plan.phases.get()
    run = CutoverRunFactory(
        phase=phase,
        plan=plan,
        state=RunState.RUNNING,
        queued_at=now,
        started_at=now,
        steps={"freeze": {"state": "done", "done": 1, "total": 1, "started_at": now.isoformat()}},
        errors=[{"at": now.isoformat(), "step": "notifications", "error": f"e{i}"} for i in range(3)],
    )
    pending = next(p for p in others if p.state == "pending_approval")
    return {"channel": main, "plan": plan, "run": run, "pending": pending}


# Every page starts with the same three queries: the session, the user, and the
# user's role groups (cached on the user for the rest of the request).
SIGNED_IN = 3

# page -> (url, queries after SIGNED_IN)
PAGES = {
    # plans by state (which also counts the pages) + channels by state + recently changed
    # channels + timeline's soonest plans + their phases + active runs + to approve
    # + unplaced: soonest open plans + agents SQL + their plans
    # + over capacity: soonest open plans + their (plan, destination team) pairs + the seats taken
    #   in those teams (one more query than when a correlated count per move did it all in one SQL:
    #   that one read each team's rows once per agent moved into it, a scan of all moves at 100,000
    #   agents)
    # + runs with undelivered messages + failed runs no one has acted on + my drafts + page of plans + its channels + its phases
    "dashboard": (lambda w: reverse("home"), 19),
    # channels count + page of channels (open conversations as a subquery) + their open plans
    "channels": (lambda w: reverse("channel_list"), 3),
    # channel (with open conversations) + its plans + their phases + teams + volume per hour
    "channel": (lambda w: reverse("channel_detail", args=[w["channel"].pk]), 5),
    # channel + volume per hour
    "volume": (lambda w: reverse("channel_volume", args=[w["channel"].pk]), 2),
    # plan with author/approver + phases + channels + redirects + replies + runs
    # + conversations aggregate + agents aggregate + reassignments by state
    # + what its runs delivered (hand-off notices by state, emails by state)
    # + the preflight's agent guard (staffing inputs, the channels' teams, their volumes, agents
    # without a confirmed destination, receiving teams) + its public notice + the agents' answers
    # (acknowledgements, one aggregate); its other reads use the prefetched rows
    "plan": (lambda w: reverse("plan_detail", args=[w["plan"].pk]), 18),
    # pending count + page of plans + their channels + their phases
    "approvals": (lambda w: reverse("approvals"), 4),
    # plan page's 6 + its public notice + audit baseline + snapshot (channels, regions, phases,
    # redirects, replies, public notices) + the plan page's 3 impact aggregates + the preflight's 5
    # agent-guard reads (as on the plan page)
    "review": (lambda w: reverse("approval_review", args=[w["pending"].pk]), 22),
    # run with plan and phase + its delivery (hand-off notices by state, emails by state)
    "run": (lambda w: reverse("run_detail", args=[w["run"].pk]), 3),
    # plan + the moved conversations grouped by channel, language and first choice + the plan's
    # targets (labels) + the series (six grouped counts in one UNION ALL)
    "funnel": (lambda w: reverse("plan_funnel", args=[w["plan"].pk]) + "?by=destination&range=7d", 4),
    # page of events (read from an id: no count)
    "audit": (lambda w: reverse("audit_log") + "?object=sunsetplan&actor=maya", 1),
    # savepoint + draft + release + busy channels + the channel choices
    "wizard": (lambda w: reverse("plan_new") + "?step=channels", 5),
    # the outcome report: savepoint + SET LOCAL jit = off + the counts (one query) + release
    # + the moves accepted on the agents' pages
    "outcomes": (lambda w: reverse("outcomes"), 5),
    # savepoint + draft + release (no channel chosen yet: nothing else to read)
    "wizard_replies": (lambda w: reverse("plan_new") + "?step=replies", 3),
}


@pytest.mark.parametrize("n", ROWS)
def test_every_page_costs_the_same_queries_at_10_and_1000_rows(
    n, client, manager, approver, admin_user, django_assert_num_queries
):
    # One world per size (building 1,000 of everything is the slow part), every page on it.
    world = _world(n, manager, approver)
    client.force_login(admin_user)
    for page, (url, expected) in PAGES.items():
        client.get(url(world))  # the first visit caches the time zone in the session
        with django_assert_num_queries(SIGNED_IN + expected, info=f"page {page} with {n} rows"):
            response = client.get(url(world))
        assert response.status_code == 200, page


@pytest.mark.parametrize("n", ROWS)
def test_run_progress_poll_is_one_query(n, client, manager, approver, admin_user, django_assert_num_queries):
    world = _world(n, manager, approver)
    client.force_login(admin_user)
    url = reverse("run_detail", args=[world["run"].pk])
    client.get(url)
    # session + user + roles + run with plan and phase + its delivery (two aggregates)
    with django_assert_num_queries(6):
        response = client.get(url, headers={"HX-Request": "true"})
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="progress"') and "<html" not in body
