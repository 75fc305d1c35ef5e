"""Reads of the landing page: which plan a reference belongs to, its choices, who is a person."""

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime, time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from channels_app.models import (
    ArrivalStatus,
    Conversation,
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


def plan_funnel(plan_id: int) -> list[FunnelStep]:
    """Where the customers of a plan went: redirected (moved by its runs) -> notified (the hand-off
    notice was sent) -> landed (a person opened the tracked link) -> chose a destination (a
    target, or the contact form) -> arrived there (the contact request was handed off, or the
    destination reported it) -> solved (as the destination reported). One query whatever the
    volume."""
    conversation = OuterRef("pk")
    flags = {
        "notified": Exists(
            OutboxMessage.objects.filter(
                conversation=conversation, created_by_run__plan_id=plan_id, state=OutboxState.SENT
            )
        ),
        "landed": Exists(LandingVisit.objects.filter(conversation=conversation, kind=VisitKind.HUMAN)),
        # Writing through the landing page's contact form is choosing the destination behind it.
        "chose": Exists(RedirectClick.objects.filter(conversation=conversation, target__plan_id=plan_id))
        | Exists(HandoffRequest.objects.filter(conversation=conversation, plan_id=plan_id)),
        # A destination that took the contact request (the ticket with the reference exists
        # there) is one the customer reached, as much as one that reports an arrival.
        "arrived": Exists(HandoffArrival.objects.filter(conversation=conversation, destination__plan_id=plan_id))
        | Exists(
            HandoffDelivery.objects.filter(
                request__conversation=conversation, request__plan_id=plan_id, state=HandoffDeliveryState.SENT
            )
        ),
        "solved": Exists(
            HandoffArrival.objects.filter(
                conversation=conversation, destination__plan_id=plan_id, status=ArrivalStatus.SOLVED
            )
        ),
    }
    counts: dict[str, Count] = {"redirected": Count("pk")}
    reached = Q()
    for key in FUNNEL_STEPS[1:]:
        reached &= Q(**{f"f_{key}": True})
        counts[key] = Count("pk", filter=reached)
    totals = (
        Conversation.objects.filter(moved_by_run__plan_id=plan_id)
        .annotate(**{f"f_{key}": value for key, value in flags.items()})
        .aggregate(**counts)
    )
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
