"""Reads of the landing page: which plan a reference belongs to, its choices, who is a person."""

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.models import CharField, Count, Exists, OuterRef, Value
from django.db.models.functions import Trunc
from django.utils import timezone

from channels_app.models import (
    ArrivalStatus,
    Channel,
    Conversation,
    CutoverRun,
    HandoffArrival,
    HandoffDelivery,
    HandoffDeliveryState,
    HandoffDestination,
    HandoffRequest,
    LandingPage,
    LandingVisit,
    Message,
    OutboxMessage,
    OutboxState,
    PlanState,
    RedirectClick,
    RedirectKind,
    RedirectTarget,
    SunsetPlan,
    VisitKind,
)

# A plan's targets are shown to customers once four eyes have seen them: a draft's redirects can
# be changed at will by their author (the same rule as the watchdog's).
APPROVED_PLAN_STATES = (PlanState.SCHEDULED, PlanState.RUNNING, PlanState.COMPLETED)

# Link unfurlers and crawlers: they fetch the link to draw a preview or to index it, and are not
# customers. Matched case-insensitively anywhere in the User-Agent header.
CRAWLER_MARKERS = (
    "twitterbot",
    "facebookexternalhit",
    "facebookcatalog",
    "slackbot",
    "discordbot",
    "discourse forum onebox",
    "googlebot",
    "bingbot",
    "whatsapp",
    "telegrambot",
    "linkedinbot",
    "skypeuripreview",
    "applebot",
    "yandexbot",
    "duckduckbot",
    "embedly",
    "redditbot",
    "mastodon",
    "iframely",
    "pinterestbot",
    "bot/",
    "crawler",
    "spider",
    "preview",
)
REFERENCE_MAX = 16


def is_crawler(user_agent: str) -> bool:
    """Whether a User-Agent names a link unfurler or crawler (an empty one counts as a robot:
    browsers always send one)."""
    agent = user_agent.lower()
    return not agent.strip() or any(marker in agent for marker in CRAWLER_MARKERS)


def visitor_key(*, client_ip: str, user_agent: str) -> str:
    """A keyed hash telling one visitor from another without storing who they are."""
    return hmac.new(settings.SECRET_KEY.encode(), f"{client_ip}\n{user_agent}".encode(), hashlib.sha256).hexdigest()


@dataclass
class Choice:
    target: RedirectTarget
    href: str  # where choosing it finally leads (with the reference where configured)
    hours: str = ""  # "09:00–18:00 (Europe/Paris)", in the target's own zone
    opens_utc: str = ""  # today's opening and closing instants, for the visitor's clock (landing.js)
    closes_utc: str = ""


@dataclass
class Landing:
    conversation: Conversation
    plan: SunsetPlan
    page: LandingPage
    choices: list[Choice] = field(default_factory=list)

    @property
    def platform(self) -> str:
        return self.conversation.channel.get_kind_display()

    def choice_at(self, position: int) -> Choice | None:
        return next((c for c in self.choices if c.target.position == position), None)


def landing_plan(conversation: Conversation) -> SunsetPlan | None:
    """The approved plan a customer was sent on by: the one their conversation was moved to, else
    the newest approved plan of their channel."""
    target = conversation.redirected_to
    if target is not None and target.plan.state in APPROVED_PLAN_STATES:
        return target.plan
    return (
        SunsetPlan.objects.filter(plan_channels__channel_id=conversation.channel_id, state__in=APPROVED_PLAN_STATES)
        .order_by("-created_at", "-id")
        .first()
    )


def landing_for(reference: str, *, now: datetime | None = None) -> Landing | None:
    """Everything the landing page of `reference` shows, or None when the reference is unknown or
    its channel has no approved plan. Two queries (conversation with its plan, targets with the
    branding), three when the conversation was not moved by a run (its channel's newest plan)."""
    if not reference or len(reference) > REFERENCE_MAX or "\x00" in reference:
        return None
    conversation = (
        Conversation.objects.filter(reference=reference)
        .select_related("channel", "redirected_to__plan")
        .only("id", "reference", "locale", "channel__kind", "channel_id", "redirected_to__plan__state")
        .first()
    )
    if conversation is None:
        return None
    plan = landing_plan(conversation)
    if plan is None:
        return None
    # The targets and the plan's branding in one query (the landing page is a reverse one-to-one).
    targets = list(
        RedirectTarget.objects.filter(plan_id=plan.pk)
        .select_related("plan__landing")
        .defer("plan__landing__logo")
        .order_by("position")
    )
    page = getattr(targets[0].plan, "landing", None) if targets else None
    page = page or LandingPage(plan=plan)
    landing = Landing(conversation=conversation, plan=plan, page=page)
    landing.choices = [_choice(target, page, reference, now=now or timezone.now()) for target in targets]
    return landing


def _choice(target: RedirectTarget, page: LandingPage, reference: str, *, now: datetime) -> Choice:
    if target.kind == RedirectKind.PHONE:
        choice = Choice(target=target, href="tel:" + "".join(ch for ch in target.value if ch in "+0123456789"))
        if page.phone_opens is not None and page.phone_closes is not None and page.phone_zone:
            zone = ZoneInfo(page.phone_zone)
            today = now.astimezone(zone).date()
            opens = datetime.combine(today, page.phone_opens, tzinfo=zone)
            closes = datetime.combine(today, page.phone_closes, tzinfo=zone)
            choice.hours = f"{_hm(page.phone_opens)}–{_hm(page.phone_closes)} ({page.phone_zone})"
            choice.opens_utc = opens.astimezone(ZoneInfo("UTC")).isoformat()
            choice.closes_utc = closes.astimezone(ZoneInfo("UTC")).isoformat()
        return choice
    return Choice(target=target, href=with_reference(target.value, page.reference_param, reference))


def _hm(value: time) -> str:
    return value.strftime("%H:%M")


def with_reference(url: str, param: str, reference: str) -> str:
    """The target's URL with the reference as a query parameter (replacing one of that name)."""
    if not param:
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != param]
    query.append((param, reference))
    return urlunsplit(parts._replace(query=urlencode(query)))


def transcript(conversation_id: int, *, limit: int = 200) -> str:
    """The moved conversation as plain text, oldest first: who wrote, when, what."""
    lines = []
    for message in Message.objects.filter(conversation_id=conversation_id).order_by("created_at", "id")[:limit]:
        who = "Customer" if message.direction == "in" else "Support"
        lines.append(f"[{message.created_at:%Y-%m-%d %H:%M} UTC] {who}: {message.text}")
    return "\n".join(lines)


def logo_of(plan_id: int) -> LandingPage | None:
    return (
        LandingPage.objects.filter(plan_id=plan_id).exclude(logo_type="").only("logo", "logo_type", "version").first()
    )


@dataclass
class PlanHandoffs:
    destinations: list
    failed: list
    recent: list
    counts: dict[str, int]


def plan_handoffs(plan_id: int, *, limit: int = 50) -> PlanHandoffs:
    """A plan's hand-off destinations, its failed deliveries (to re-queue) and the latest ones,
    with counts by state: four queries whatever the volume."""
    deliveries = HandoffDelivery.objects.filter(request__plan_id=plan_id).select_related(
        "destination", "request__conversation"
    )
    counts = dict(
        HandoffDelivery.objects.filter(request__plan_id=plan_id)
        .values("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )
    return PlanHandoffs(
        destinations=list(HandoffDestination.objects.filter(plan_id=plan_id).order_by("position")),
        failed=list(deliveries.filter(state=HandoffDeliveryState.FAILED).order_by("-id")[:limit]),
        recent=list(deliveries.order_by("-id")[:limit]),
        counts={state: counts.get(state, 0) for state in HandoffDeliveryState.values},
    )


# The funnel's steps, in order: each counts the plan's moved conversations that reached it and
# every step before it.
FUNNEL_STEPS = ("redirected", "notified", "landed", "chose", "arrived", "solved")


@dataclass
class FunnelStep:
    key: str
    count: int
    share_of_first: float | None  # of the redirected
    lost: int  # how many of the step before did not get here
    lost_share: float | None  # ...as a share of the step before


# The first choice of a customer who wrote through the landing page's contact form before choosing
# any target (targets are numbered from 0).
CONTACT_FORM = -1


def _funnel_groups(plan_id: int) -> list[tuple[int, str, str, int | None, int, int]]:
    """The plan's moved conversations counted per (channel id, channel name, locale, position of
    the target chosen first (CONTACT_FORM: the contact form; None: no choice), stage, count), where a conversation's stage is how many steps
    it reached in a row (1: redirected only ... 6: solved). Every figure of the funnel is a sum of
    these rows. One query whatever the volume.

    Written in SQL because each step is a set computed once and joined (hash joins the planner can
    cost): the same steps as correlated EXISTS per conversation made PostgreSQL estimate a plan
    costly enough to switch its JIT on, which then spent 3 to 7 seconds compiling the query at
    20,000 conversations. Portable SQL (window function, CTEs): it runs on SQLite too."""
    q = connection.ops.quote_name

    def table(model) -> str:
        return q(model._meta.db_table)

    sql = f"""
        WITH moved AS (
            SELECT c.id, c.channel_id, c.locale
            FROM {table(Conversation)} c JOIN {table(CutoverRun)} r ON r.id = c.moved_by_run_id
            WHERE r.plan_id = %s
        ),
        notified AS (
            SELECT DISTINCT o.conversation_id AS id
            FROM {table(OutboxMessage)} o JOIN {table(CutoverRun)} r ON r.id = o.created_by_run_id
            WHERE r.plan_id = %s AND o.state = %s
        ),
        landed AS (
            SELECT DISTINCT v.conversation_id AS id
            FROM {table(LandingVisit)} v JOIN moved m ON m.id = v.conversation_id
            WHERE v.kind = %s
        ),
        chose AS (
            -- The first choice: a target (its position) or the contact form (CONTACT_FORM).
            SELECT id, position FROM (
                SELECT id, position, ROW_NUMBER() OVER (PARTITION BY id ORDER BY at, form, row_id) AS nth
                FROM (
                    SELECT k.conversation_id AS id, t.position AS position, k.at AS at, 0 AS form, k.id AS row_id
                    FROM {table(RedirectClick)} k JOIN {table(RedirectTarget)} t ON t.id = k.target_id
                    WHERE t.plan_id = %s
                    UNION ALL
                    SELECT h.conversation_id, %s, h.created_at, 1, h.id
                    FROM {table(HandoffRequest)} h
                    WHERE h.plan_id = %s
                ) choices
            ) ranked
            WHERE nth = 1
        ),
        arrived AS (
            -- A destination's report, or a contact request it took (the delivery was sent).
            SELECT id, MAX(solved) AS solved FROM (
                SELECT a.conversation_id AS id, CASE WHEN a.status = %s THEN 1 ELSE 0 END AS solved
                FROM {table(HandoffArrival)} a JOIN {table(HandoffDestination)} d ON d.id = a.destination_id
                WHERE d.plan_id = %s
                UNION ALL
                SELECT h.conversation_id, 0
                FROM {table(HandoffDelivery)} y JOIN {table(HandoffRequest)} h ON h.id = y.request_id
                WHERE h.plan_id = %s AND y.state = %s
            ) reports
            GROUP BY id
        )
        SELECT m.channel_id, ch.name, m.locale, f.position,
               CASE WHEN n.id IS NULL THEN 1 WHEN l.id IS NULL THEN 2 WHEN f.id IS NULL THEN 3
                    WHEN a.id IS NULL THEN 4 WHEN a.solved = 0 THEN 5 ELSE 6 END AS stage,
               COUNT(*)
        FROM moved m
        JOIN {table(Channel)} ch ON ch.id = m.channel_id
        LEFT JOIN notified n ON n.id = m.id
        LEFT JOIN landed l ON l.id = m.id
        LEFT JOIN chose f ON f.id = m.id
        LEFT JOIN arrived a ON a.id = m.id
        GROUP BY 1, 2, 3, 4, 5
    """
    params = [
        plan_id,
        plan_id,
        OutboxState.SENT.value,
        VisitKind.HUMAN.value,
        plan_id,
        CONTACT_FORM,
        plan_id,
        ArrivalStatus.SOLVED.value,
        plan_id,
        plan_id,
        HandoffDeliveryState.SENT.value,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _totals(rows, into: dict[str, int] | None = None) -> dict[str, int]:
    """Step counts from rows of (stage, n): a conversation at stage s reached the first s steps."""
    totals = into if into is not None else dict.fromkeys(FUNNEL_STEPS, 0)
    for stage, n in rows:
        for key in FUNNEL_STEPS[:stage]:
            totals[key] += n
    return totals


def funnel_steps(totals: Mapping[str, int]) -> list[FunnelStep]:
    """The steps of one funnel from its counts, with the shares and the losses between them."""
    steps: list[FunnelStep] = []
    first = totals["redirected"]
    previous = None
    for key in FUNNEL_STEPS:
        count = totals[key]
        lost = (previous - count) if previous is not None else 0
        steps.append(
            FunnelStep(
                key=key,
                count=count,
                share_of_first=count / first if first else None,
                lost=lost,
                lost_share=lost / previous if previous else None,
            )
        )
        previous = count
    return steps


def plan_funnel(plan_id: int) -> list[FunnelStep]:
    """Where the customers of a plan went: redirected (moved by its runs) -> notified (the hand-off
    notice was sent) -> landed (a person opened the tracked link) -> chose a destination (a
    target, or the contact form) -> arrived there (the contact request was handed off, or the
    destination reported it) -> solved (as the destination reported). One query whatever the
    volume."""
    return funnel_steps(_totals((stage, n) for *_group, stage, n in _funnel_groups(plan_id)))


# The breakdowns of a plan's funnel, in the order the page shows them.
FUNNEL_BREAKDOWNS = ("channel", "destination", "language")


@dataclass
class FunnelRow:
    """One group of a breakdown: a channel (its id), a destination (the chosen target's position,
    None for those who chose nothing) or a language (the conversation's locale, "" if unknown)."""

    key: int | str | None
    label: str
    steps: list[FunnelStep]


@dataclass
class FunnelReport:
    steps: list[FunnelStep]  # the whole plan, the same as plan_funnel's
    by_channel: list[FunnelRow]
    by_destination: list[FunnelRow]
    by_language: list[FunnelRow]

    def breakdown(self, by: str) -> list[FunnelRow]:
        return getattr(self, f"by_{by}")


def plan_funnel_report(plan_id: int) -> FunnelReport:
    """The plan's funnel and its breakdowns by channel, by destination and by language: two
    queries whatever the volume (the moved conversations counted per channel, language, first
    choice and stage in one GROUP BY, whose groups every breakdown and the totals are sums of; the
    plan's targets for their labels).

    Each conversation is in exactly one row of each breakdown, so the rows add up to the plan's
    totals. Its destination is what it chose first on the landing page, a target or the contact
    form (it may have chosen others later); its arrival may have been reported by any of the
    plan's destinations, or be a contact request one of them took."""
    groups = [
        {"channel_id": c, "channel__name": name, "locale": locale, "first_choice": first, "stage": stage, "n": n}
        for c, name, locale, first, stage, n in _funnel_groups(plan_id)
    ]
    targets = dict(RedirectTarget.objects.filter(plan_id=plan_id).values_list("position", "label"))

    def fold(key_of, label_of, order_of) -> list[FunnelRow]:
        sums: dict = {}
        labels: dict = {}
        for group in groups:
            key = key_of(group)
            _totals([(group["stage"], group["n"])], sums.setdefault(key, dict.fromkeys(FUNNEL_STEPS, 0)))
            labels[key] = label_of(group)
        order = sorted(sums, key=lambda k: order_of(k, labels[k]))
        return [FunnelRow(key=k, label=labels[k], steps=funnel_steps(sums[k])) for k in order]

    return FunnelReport(
        steps=funnel_steps(_totals((g["stage"], g["n"]) for g in groups)),
        by_channel=fold(lambda g: g["channel_id"], lambda g: g["channel__name"], lambda k, label: (label, k)),
        # The targets in their order, then the contact form, then those who chose none.
        by_destination=fold(
            lambda g: g["first_choice"],
            lambda g: targets.get(g["first_choice"], "") if g["first_choice"] is not None else "",
            lambda k, label: (k is None, k == CONTACT_FORM, k or 0),
        ),
        # The languages by code, an unknown one last.
        by_language=fold(lambda g: g["locale"], lambda g: g["locale"], lambda k, label: (not k, k)),
    )


# The chart's time ranges (days back from now; None: since the first event), and the longest
# drawn per hour rather than per day.
FUNNEL_RANGES = {"2d": 2, "7d": 7, "30d": 30, "90d": 90, "all": None}
FUNNEL_DEFAULT_RANGE = "30d"
HOURLY_UP_TO_DAYS = 2
SERIES_STEPS = ("landed", "chose", "arrived", "solved")


@dataclass
class FunnelPoint:
    at: datetime  # the start of the hour or day, in the viewer's zone
    landed: int = 0
    chose: int = 0
    arrived: int = 0
    solved: int = 0

    def count(self, key: str) -> int:
        return getattr(self, key)


@dataclass
class FunnelSeries:
    unit: str  # "hour" or "day"
    zone: ZoneInfo
    points: list[FunnelPoint]

    @property
    def empty(self) -> bool:
        return not any(p.count(key) for p in self.points for key in SERIES_STEPS)


def plan_funnel_series(plan_id: int, *, zone: ZoneInfo, days: int | None, now: datetime | None = None) -> FunnelSeries:
    """Per hour (ranges of up to two days) or per day in `zone`: how many of the plan's moved
    conversations a person landed for (human visits only), chose a target or wrote through the
    contact form, arrived at a destination (a report, or a contact request it took), were solved.
    One query whatever the volume (six grouped counts in a UNION ALL). Unlike the funnel's steps, each point counts that hour's or day's
    activity: a customer who lands on two days counts on both."""
    now = now or timezone.now()
    unit = "hour" if days is not None and days <= HOURLY_UP_TO_DAYS else "day"
    start = None
    if days is not None and unit == "hour":
        # The last `days` * 24 hours, the current one included. (Arithmetic in UTC: an aware
        # datetime in a zone adds wall-clock time.)
        hour = now.astimezone(zone).replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        start = hour - timedelta(hours=days * 24 - 1)
    elif days is not None:
        start = datetime.combine(now.astimezone(zone).date() - timedelta(days=days - 1), time(0), tzinfo=zone)
    moved = {"conversation__moved_by_run__plan_id": plan_id}
    clicks = RedirectClick.objects.filter(**moved, target__plan_id=plan_id)
    reports = HandoffArrival.objects.filter(**moved, destination__plan_id=plan_id)
    # (step, rows, their instant, their conversation, rows of the same step already counted: a
    # customer who chose a target and wrote through the form in the same period counts once).
    sources = [
        ("landed", LandingVisit.objects.filter(**moved, kind=VisitKind.HUMAN), "at", "conversation_id", None),
        ("chose", clicks, "at", "conversation_id", None),
        (
            "chose",
            HandoffRequest.objects.filter(**moved, plan_id=plan_id),
            "created_at",
            "conversation_id",
            (clicks, "at"),
        ),
        ("arrived", reports, "at", "conversation_id", None),
        (
            "arrived",
            HandoffDelivery.objects.filter(
                request__conversation__moved_by_run__plan_id=plan_id,
                request__plan_id=plan_id,
                state=HandoffDeliveryState.SENT,
            ),
            "sent_at",
            "request__conversation_id",
            (reports, "at"),
        ),
        ("solved", reports.filter(status=ArrivalStatus.SOLVED), "at", "conversation_id", None),
    ]
    parts = []
    for key, rows, at, conversation, counted in sources:
        if start is not None:
            rows = rows.filter(**{f"{at}__gte": start})
        rows = rows.annotate(bucket=Trunc(at, unit, tzinfo=zone), step=Value(key, output_field=CharField()))
        if counted is not None:
            earlier, earlier_at = counted
            rows = rows.exclude(
                Exists(
                    earlier.filter(conversation_id=OuterRef(conversation))
                    .annotate(same=Trunc(earlier_at, unit, tzinfo=zone))
                    .filter(same=OuterRef("bucket"))
                )
            )
        parts.append(rows.values("step", "bucket").annotate(n=Count(conversation, distinct=True)).order_by())
    found: dict[tuple[str, datetime], int] = {}
    for row in parts[0].union(*parts[1:], all=True):
        key = (row["step"], _bucket_key(row["bucket"], unit, zone))
        found[key] = found.get(key, 0) + row["n"]
    if start is None:
        if not found:
            return FunnelSeries(unit=unit, zone=zone, points=[])
        first = min(at for _step, at in found)
        start = datetime.combine(first, time(0), tzinfo=zone)
    points = []
    for at in _buckets(start, now, unit, zone):
        key = _bucket_key(at, unit, zone)
        point = FunnelPoint(at=at)
        for step in SERIES_STEPS:
            setattr(point, step, found.get((step, key), 0))
        points.append(point)
    return FunnelSeries(unit=unit, zone=zone, points=points)


def _bucket_key(at: datetime, unit: str, zone: ZoneInfo):
    """Hours by their instant, days by their local date (a day whose midnight a DST change skips
    still has one key)."""
    return at.astimezone(zone).date() if unit == "day" else at.astimezone(UTC)


def _buckets(start: datetime, end: datetime, unit: str, zone: ZoneInfo) -> list[datetime]:
    if unit == "hour":
        out, at = [], start.astimezone(UTC)
        while at <= end:
            out.append(at.astimezone(zone))
            at += timedelta(hours=1)
        return out
    first, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    return [datetime.combine(first + timedelta(days=i), time(0), tzinfo=zone) for i in range((last - first).days + 1)]
