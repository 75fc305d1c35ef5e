"""Writes of the landing page: visits and choices (anonymous) and contact requests (anonymous,
bounded). A plan's branding is part of the plan: `plans/services/landing.py`."""

import functools
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from channels_app.core.prepared import prepared_cursor
from channels_app.handoff.selectors import (
    REPEAT_WINDOW,
    LandingRows,
    is_crawler,
    is_reference,
    landing_query,
    landing_rows_for,
    person_kind_sql,
    transcript,
)
from channels_app.handoff.services.delivery import queue_handoff_deliveries
from channels_app.handoff.services.journal import journal
from channels_app.models import (
    Conversation,
    HandoffRequest,
    LandingVisit,
    RedirectClick,
    RedirectTarget,
    SunsetPlan,
    VisitKind,
)

logger = logging.getLogger(__name__)


def _person_kind(conversation: str) -> str:
    """SQL deciding a person's visit at its request (parameters: the visitor, the start of the
    window): `selectors.person_kind_sql`."""
    return person_kind_sql(conversation=conversation, visitor="%s", since="%s")


def _robot_kind(*, user_agent: str, method: str) -> str | None:
    """The kind of a request that is not a person's visit (None for a person's)."""
    if method == "HEAD":
        return VisitKind.HEAD
    if is_crawler(user_agent):
        return VisitKind.CRAWLER
    return None


def record_landing(
    *, conversation: Conversation, visitor: str, user_agent: str, method: str, now: datetime | None = None
) -> str:
    """Record one request for the landing page and return its kind. Only a person's first visit
    of the day counts (`human`); unfurlers, crawlers, HEAD requests and repeats are kept apart."""
    now = now or timezone.now()
    kind = _robot_kind(user_agent=user_agent, method=method)
    if kind is not None:
        LandingVisit.objects.create(conversation=conversation, visitor=visitor, kind=kind, at=now)
        return kind
    # A person: first visit of the day or a repeat, decided and written in one statement (one
    # round trip on the hottest public page). Two racing first visits may both count: a bound
    # of one extra per visitor, not worth a lock.
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {LandingVisit._meta.db_table} (conversation_id, kind, visitor, at)
            SELECT %s, {_person_kind("%s")}, %s, %s
            RETURNING kind
            """,
            [conversation.pk, conversation.pk, visitor, now - REPEAT_WINDOW, visitor, now],
        )
        return cursor.fetchone()[0]


@functools.cache
def _open_landing_sql() -> str:
    # The page's query and the visit's INSERT in one statement (PostgreSQL's data-modifying WITH):
    # one round trip and one commit. The INSERT reads the conversation from the page's rows, so a
    # reference without a page records nothing. Built once, so the server keeps it prepared.
    return f"""
        WITH landing AS ({landing_query()}),
        visit AS (
            INSERT INTO {LandingVisit._meta.db_table} (conversation_id, kind, visitor, at)
            SELECT v.conversation_id, COALESCE(%s::varchar, {_person_kind("v.conversation_id")}), %s, %s
            FROM (SELECT conversation_id FROM landing LIMIT 1) v
            RETURNING kind
        )
        SELECT landing.*, (SELECT kind FROM visit) FROM landing
    """


def open_landing(
    *, reference: str, visitor: str, user_agent: str, method: str, now: datetime | None = None
) -> LandingRows | None:
    """The landing page of `reference` (selectors.landing_rows_for) with its request recorded
    (`record_landing`), or None, recording nothing, when there is no page. With the visit journal
    (services/journal.py), the page's one read and a line appended to the journal; else, on
    PostgreSQL, one statement: this is the hottest public page and its round trips were most of
    its time."""
    now = now or timezone.now()
    visits = journal()
    if visits is not None or connection.vendor != "postgresql" or not is_reference(reference):
        # The page's read, then the visit: into this process's journal (stored in batches), or
        # committed here (SQLite; or the journal cannot be written).
        found = landing_rows_for(reference, now=now)
        if found is None:
            return None
        if visits is not None:
            robot = _robot_kind(user_agent=user_agent, method=method)
            try:
                visits.append(conversation_id=found.conversation_id, robot_kind=robot, visitor=visitor, at=now)
                return found
            except OSError:
                logger.exception("visit journal: cannot write %s; the visit is stored directly", visits.directory)
        record_landing(
            conversation=found.landing.conversation, visitor=visitor, user_agent=user_agent, method=method, now=now
        )
        return found
    # Prepared once per connection: planning this statement cost PostgreSQL more (2.3 ms) than
    # running it (0.8 ms).
    with prepared_cursor() as cursor:
        cursor.execute(
            _open_landing_sql(),
            [reference, _robot_kind(user_agent=user_agent, method=method), visitor, now - REPEAT_WINDOW, visitor, now],
        )
        rows = cursor.fetchall()
    return LandingRows.of(reference, rows, now=now)


def record_choice(
    *, conversation: Conversation, target: RedirectTarget, user_agent: str, now: datetime | None = None
) -> bool:
    """Record that the customer chose `target` on the landing page: at most one row per
    conversation and target in DUSK_TRACKED_LINK_DEDUP_SECONDS, none for a robot. Returns
    whether a row was written."""
    now = now or timezone.now()
    if is_crawler(user_agent):
        return False
    window = timedelta(seconds=settings.DUSK_TRACKED_LINK_DEDUP_SECONDS)
    if RedirectClick.objects.filter(conversation=conversation, target=target, at__gt=now - window).exists():
        return False
    RedirectClick.objects.create(conversation=conversation, target=target, at=now)
    return True


def request_handoff(
    *,
    conversation: Conversation,
    plan: SunsetPlan,
    name: str,
    email: str,
    message: str,
    now: datetime | None = None,
) -> HandoffRequest:
    """Store what a customer wrote on the landing page with the transcript of the conversation
    that was moved, and queue it for the plan's hand-off destinations. Bounded per reference and per address (stored rows are the counter, so every
    web process sees the same numbers)."""
    now = now or timezone.now()
    since = now - timedelta(hours=1)
    email = email.strip().lower()
    with transaction.atomic():
        # One writer per conversation at a time, so two racing posts cannot both pass the bound.
        Conversation.objects.select_for_update().filter(pk=conversation.pk).values_list("pk").first()
        recent = HandoffRequest.objects.filter(created_at__gt=since)
        if recent.filter(conversation=conversation).count() >= settings.DUSK_HANDOFF_PER_REFERENCE_PER_HOUR:
            raise ValidationError(_("We already have your messages for this reference. Please try again in an hour."))
        if recent.filter(email=email).count() >= settings.DUSK_HANDOFF_PER_ADDRESS_PER_HOUR:
            raise ValidationError(_("We already have several messages from this address. Please try again in an hour."))
        request = HandoffRequest.objects.create(
            conversation=conversation,
            plan=plan,
            name=name.strip(),
            email=email,
            message=message.strip(),
            transcript=transcript(conversation.pk),
            created_at=now,
        )
        queue_handoff_deliveries(request=request)
    return request
