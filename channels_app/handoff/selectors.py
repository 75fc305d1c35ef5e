"""Reads of the landing page: which plan a reference belongs to, its choices, who is a person."""

import functools
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection
from django.db.models import DEFERRED, CharField, Count, Exists, OuterRef, Prefetch, Value
from django.db.models.functions import Trunc
from django.utils import timezone

from channels_app.core.prepared import prepared_cursor
from channels_app.models import (
    ArrivalStatus,
    Channel,
    Conversation,
    CutoverRun,
    DestinationKind,
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
    PlanChannel,
    PlanState,
    RedirectClick,
    RedirectKind,
    RedirectTarget,
    ReferenceMode,
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


# A person's visits to one reference within this window count once: `human` first, then `repeat`.
REPEAT_WINDOW = timedelta(days=1)


def person_kind_sql(*, conversation: str, visitor: str, since: str, until: str = "") -> str:
    """SQL deciding a person's visit, the one rule the request's INSERT and the journal's store
    share: a repeat when the same visitor opened the same reference after `since` (up to `until`,
    when the visits stored may be later than this one), else human. The arguments are SQL
    expressions or placeholders."""
    table = LandingVisit._meta.db_table
    upto = f" AND at <= {until}" if until else ""
    return f"""CASE WHEN EXISTS (
        SELECT 1 FROM {table}
        WHERE conversation_id = {conversation} AND visitor = {visitor}
          AND kind IN ('{VisitKind.HUMAN}', '{VisitKind.REPEAT}') AND at > {since}{upto}
    ) THEN '{VisitKind.REPEAT}' ELSE '{VisitKind.HUMAN}' END"""


def is_crawler(user_agent: str) -> bool:
    """Whether a User-Agent names a link unfurler or crawler (an empty one counts as a robot:
    browsers always send one)."""
    agent = user_agent.lower()
    return not agent.strip() or any(marker in agent for marker in CRAWLER_MARKERS)


def visitor_key(*, client_ip: str, user_agent: str) -> str:
    """A keyed hash telling one visitor from another without storing who they are."""
    return hmac.new(settings.SECRET_KEY.encode(), f"{client_ip}\n{user_agent}".encode(), hashlib.sha256).hexdigest()


@dataclass
class ChoiceForm:
    """A target that takes the reference as a form field: the landing page renders a small form
    that submits it there (no script), the reference in a hidden input."""

    method: str  # "get" or "post"
    action: str  # the target's URL (without its query for a GET form: a browser drops it)
    field: str  # the hidden input's name
    hidden: list[tuple[str, str]] = field(default_factory=list)  # the target's own query, for GET

    @property
    def origin(self) -> str:
        parts = urlsplit(self.action)
        return f"{parts.scheme}://{parts.netloc}"


@dataclass
class Choice:
    target: RedirectTarget
    reference: str
    reference_param: str = ""  # the query parameter that carries the reference to web and app targets
    hours: str = ""  # "09:00–18:00 (Europe/Paris)", in the target's own zone
    opens_utc: str = ""  # today's opening and closing instants, for the visitor's clock (landing.js)
    closes_utc: str = ""
    form: ChoiceForm | None = None  # set when the target takes the reference as a form field

    @property
    def href(self) -> str:
        """Where choosing it finally leads (with the reference where configured): worked out
        only for the choice taken, not for every target of every page shown."""
        target = self.target
        if target.kind == RedirectKind.PHONE:
            return "tel:" + "".join(ch for ch in target.value if ch in "+0123456789")
        if target.reference_mode == ReferenceMode.DEFAULT:
            return with_reference(target.value, self.reference_param, self.reference)
        if target.reference_mode == ReferenceMode.QUERY:
            return with_reference(target.value, target.reference_name, self.reference)
        return target.value  # none, or a form (the form carries the reference)


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

    @property
    def form_origins(self) -> list[str]:
        """Where the page's choice forms submit: the page's form-action policy must allow them."""
        return sorted({c.form.origin for c in self.choices if c.form is not None})


@functools.cache
def landing_query() -> str:
    """The landing page's one query (a parameter: the reference): the conversation, its channel's
    kind, the approved plan its customer was sent on by (the one their conversation was moved to,
    else the newest approved plan of their channel), that plan's targets (one row each; one row of
    NULLs when it has none) and its branding (no logo). Unordered, so a statement can wrap it
    (services/landing.py: `open_landing`); `landing_from_rows` reads its rows. Plain SQL, the same
    on PostgreSQL and SQLite, built once: the ORM spent longer building it than the database
    answering."""
    conversation, channel = Conversation._meta.db_table, Channel._meta.db_table
    plan, plan_channel = SunsetPlan._meta.db_table, PlanChannel._meta.db_table
    target, page = RedirectTarget._meta.db_table, LandingPage._meta.db_table
    approved = ", ".join(f"'{state}'" for state in APPROVED_PLAN_STATES)
    return f"""
        SELECT c.id AS conversation_id, c.locale AS locale, c.channel_id AS channel_id, ch.kind AS channel_kind,
               p.id AS plan_id, p.state AS plan_state,
               t.id AS target_id, t.position AS target_position, t.kind AS target_kind, t.label AS target_label,
               t.value AS target_value,
               lp.id AS page_id, lp.display_name AS display_name, lp.accent AS accent, lp.logo_type AS logo_type,
               lp.reference_param AS reference_param, lp.phone_opens AS phone_opens,
               lp.phone_closes AS phone_closes, lp.phone_zone AS phone_zone, lp.version AS page_version,
               t.reference_mode AS target_reference_mode, t.reference_name AS target_reference_name
        FROM {conversation} c
        JOIN {channel} ch ON ch.id = c.channel_id
        JOIN {plan} p ON p.id = COALESCE(
            (SELECT mt.plan_id FROM {target} mt JOIN {plan} mp ON mp.id = mt.plan_id
             WHERE mt.id = c.redirected_to_id AND mp.state IN ({approved})),
            (SELECT np.id FROM {plan} np JOIN {plan_channel} npc ON npc.plan_id = np.id
             WHERE npc.channel_id = c.channel_id AND np.state IN ({approved})
             ORDER BY np.created_at DESC, np.id DESC LIMIT 1)
        )
        LEFT JOIN {target} t ON t.plan_id = p.id
        LEFT JOIN {page} lp ON lp.plan_id = p.id
        WHERE c.reference = %s
    """


def _clock(value) -> time | None:
    # PostgreSQL answers a time, SQLite its text.
    return time.fromisoformat(value) if isinstance(value, str) else value


def is_reference(reference: str) -> bool:
    """Whether `reference` may be one at all (else no query is worth making)."""
    return bool(reference) and len(reference) <= REFERENCE_MAX and "\x00" not in reference


def landing_for(reference: str, *, now: datetime | None = None) -> Landing | None:
    """Everything the landing page of `reference` shows, or None when the reference is unknown or
    its channel has no approved plan: one query (`landing_query`)."""
    found = landing_rows_for(reference, now=now)
    return found.landing if found is not None else None


def landing_rows_for(reference: str, *, now: datetime | None = None) -> "LandingRows | None":
    """`landing_for`'s rows, the Landing built from them only when asked for."""
    if not is_reference(reference):
        return None
    # Prepared once per connection, like the recording statement (services/landing.py): planning
    # this query costs PostgreSQL more than running it. Choices, contact posts and the landings of
    # an address past its bound per minute read the page here.
    with prepared_cursor() as cursor:
        cursor.execute(landing_query(), [reference])
        rows = cursor.fetchall()
    return LandingRows.of(reference, rows, now=now)


class LandingRows:
    """The rows of `landing_query` for one reference (its first 22 columns), as the page's first
    showing needs them: the conversation's locale and what the page shows (`shown`), without the
    seven instances of the Landing, built only when asked for (`landing`)."""

    __slots__ = ("reference", "rows", "now", "_landing")

    def __init__(self, reference: str, rows: list[tuple], now: datetime):
        self.reference = reference
        self.rows = rows  # ordered by the targets' positions
        self.now = now
        self._landing = None

    @classmethod
    def of(cls, reference: str, rows: list[tuple], *, now: datetime | None = None) -> "LandingRows | None":
        if not rows:
            return None
        if len(rows) > 1:
            rows = sorted(rows, key=lambda row: -1 if row[7] is None else row[7])
        return cls(reference, rows, now or timezone.now())

    @property
    def conversation_id(self) -> int:
        return self.rows[0][0]

    @property
    def locale(self) -> str:
        return self.rows[0][1] or ""

    def shown(self) -> tuple:
        """Everything the page shows but the reference and the language, as a key: the channel's
        kind, the plan, its branding (with its version) and its targets, and today's date where
        the phone hours are (their instants today depend on it). Columns 3 to 21 of the rows, the
        conversation's own (its id, locale, channel) left out."""
        zone = self.rows[0][18]
        day = self.now.astimezone(ZoneInfo(zone)).date() if zone else None
        return (day, *(row[3:22] for row in self.rows))

    @property
    def landing(self) -> Landing:
        if self._landing is None:
            self._landing = landing_from_rows(self.reference, self.rows, now=self.now)
        return self._landing


def _loaded(model, **values):
    """An instance as a query would load it (Model.from_db): only these fields, the others
    deferred, no defaults worked out. Building the page's seven instances the usual way took a
    third of its time."""
    return model.from_db(DEFAULT_DB_ALIAS, list(values), [values.get(name, DEFERRED) for name in _attnames(model)])


@functools.cache
def _attnames(model) -> tuple[str, ...]:
    return tuple(f.attname for f in model._meta.concrete_fields)


def landing_from_rows(reference: str, rows: list[tuple], *, now: datetime | None = None) -> Landing | None:
    """The Landing in the rows of `landing_query` (its first 22 columns; in any order)."""
    if not rows:
        return None
    rows = sorted(rows, key=lambda row: -1 if row[7] is None else row[7])
    conversation_id, locale, channel_id, channel_kind, plan_id, plan_state = rows[0][:6]
    conversation = _loaded(Conversation, id=conversation_id, reference=reference, locale=locale, channel_id=channel_id)
    conversation.channel = _loaded(Channel, id=channel_id, kind=channel_kind)
    plan = _loaded(SunsetPlan, id=plan_id, state=plan_state)
    page_id, display_name, accent, logo_type, reference_param, opens, closes, zone, version = rows[0][11:20]
    if page_id is None:
        page = LandingPage(plan=plan)
    else:
        page = _loaded(
            LandingPage,
            id=page_id,
            plan_id=plan_id,
            display_name=display_name,
            accent=accent,
            logo_type=logo_type,
            reference_param=reference_param,
            phone_opens=_clock(opens),
            phone_closes=_clock(closes),
            phone_zone=zone,
            version=version,
        )
        page.plan = plan
    targets = [
        _loaded(
            RedirectTarget,
            id=row[6],
            plan_id=plan_id,
            position=row[7],
            kind=row[8],
            label=row[9],
            value=row[10],
            reference_mode=row[20],
            reference_name=row[21],
        )
        for row in rows
        if row[6] is not None
    ]
    landing = Landing(conversation=conversation, plan=plan, page=page)
    landing.choices = [_choice(target, page, reference, now=now or timezone.now()) for target in targets]
    return landing


def _choice(target: RedirectTarget, page: LandingPage, reference: str, *, now: datetime) -> Choice:
    choice = Choice(target=target, reference=reference, reference_param=page.reference_param)
    if target.kind == RedirectKind.PHONE:
        if page.phone_opens is not None and page.phone_closes is not None and page.phone_zone:
            zone = ZoneInfo(page.phone_zone)
            today = now.astimezone(zone).date()
            opens = datetime.combine(today, page.phone_opens, tzinfo=zone)
            closes = datetime.combine(today, page.phone_closes, tzinfo=zone)
            choice.hours = f"{_hm(page.phone_opens)}–{_hm(page.phone_closes)} ({page.phone_zone})"
            choice.opens_utc = opens.astimezone(ZoneInfo("UTC")).isoformat()
            choice.closes_utc = closes.astimezone(ZoneInfo("UTC")).isoformat()
        return choice
    mode = target.reference_mode
    if mode in (ReferenceMode.FORM_GET, ReferenceMode.FORM_POST) and urlsplit(target.value).scheme in ("http", "https"):
        choice.form = choice_form(target.value, mode, target.reference_name, reference)
    return choice


def choice_form(url: str, mode: str, name: str, reference: str) -> ChoiceForm:
    """The form that takes the reference to `url`. A GET form's query replaces the action's, so
    the target's own query parameters travel as hidden inputs too (all but one named `name`)."""
    if mode == ReferenceMode.FORM_POST:
        return ChoiceForm(method="post", action=url, field=name)
    parts = urlsplit(url)
    hidden = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    return ChoiceForm(method="get", action=urlunsplit(parts._replace(query="")), field=name, hidden=hidden)


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
    requests: int = 0  # the contact requests written on the plan's landing page


def plan_handoffs(plan_id: int, *, limit: int = 50) -> PlanHandoffs:
    """A plan's hand-off destinations, its failed deliveries (to re-queue) and the latest ones,
    with counts by state and the number of contact requests: five queries whatever the volume."""
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
        requests=HandoffRequest.objects.filter(plan_id=plan_id).count(),
    )


def plan_contact_requests(plan_id: int):
    """What customers wrote on a plan's landing page, newest first, each with its conversation's
    reference and its hand-offs (a queryset to page through: two queries a page)."""
    return (
        HandoffRequest.objects.filter(plan_id=plan_id)
        .select_related("conversation")
        .prefetch_related(
            Prefetch("deliveries", queryset=HandoffDelivery.objects.select_related("destination").order_by("id"))
        )
        .order_by("-created_at", "-id")
    )


DELIVERY_OUTCOMES = ("sent", "failed", "waiting")


def handoff_delivery_counts() -> dict[tuple[str, str], int]:
    """Hand-off deliveries by destination kind and outcome for /metrics: sent, failed, waiting
    (pending or being sent); every pair present, zeros included. One query."""
    outcome = {
        HandoffDeliveryState.SENT: "sent",
        HandoffDeliveryState.FAILED: "failed",
        HandoffDeliveryState.PENDING: "waiting",
        HandoffDeliveryState.SENDING: "waiting",
    }
    counts = dict.fromkeys(((kind, name) for kind in DestinationKind.values for name in DELIVERY_OUTCOMES), 0)
    rows = (
        HandoffDelivery.objects.values("destination__kind", "state")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("destination__kind", "state", "n")
    )
    for kind, state, n in rows:
        counts[(kind, outcome[state])] = counts.get((kind, outcome[state]), 0) + n
    return counts


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
