"""What an affected agent does on their personal page (answer, tick the checklist), what HR does
about it from the board (reply, send a new link), and the emails around it: reminders to agents
who have not answered, HR's replies and new links, each sent exactly once (core/mail.py).

The agent is not a user: their writes are recorded in the audit trail with the agent as actor
(`record_event(agent=...)`)."""

from __future__ import annotations

import smtplib
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F, Min, Q
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from channels_app.audit.services import record_event
from channels_app.core.mail import record_group, send_recorded
from channels_app.core.permissions import require
from channels_app.core.queue import SEND_AGENT_MESSAGES, enqueue_on_commit
from channels_app.models import (
    Agent,
    AgentAnswer,
    AgentMessage,
    AgentMessageKind,
    AgentNotice,
    AnswerKind,
    ChecklistTick,
    NoticeState,
    NotificationState,
    OnboardingItem,
    Reassignment,
    SunsetPlan,
)
from channels_app.models.workforce import new_page_secret
from channels_app.workforce.selectors import (
    PAGE_MOVE_STATES,
    agent_language,
    other_teams_for,
    page_url,
)

MAX_CONCERN = 2000
MAX_REPLY = 2000


class AnswerRefused(ValidationError):
    """The answer was not recorded; the message says why, in the agent's words."""


def _move_of(move_id: int, agent_id: int) -> Reassignment:
    """The move, locked, if it is still this agent's and one they have a page for."""
    move = (
        Reassignment.objects.select_for_update(of=("self",))
        .select_related("agent", "plan", "to_team")
        .filter(pk=move_id, agent_id=agent_id, state__in=PAGE_MOVE_STATES)
        .first()
    )
    if move is None:
        raise AnswerRefused(_("This move has changed; open the link in your latest email from HR."))
    return move


def _answer_facts(answer: AgentAnswer | None) -> dict | None:
    if answer is None:
        return None
    return {
        "answer": answer.answer,
        "concern": answer.concern,
        "preferred_team": answer.preferred_team_id,
        "about_team": answer.about_team_id,
    }


@transaction.atomic
def answer_move(
    *, move_id: int, agent_id: int, answer: str, concern: str = "", preferred_team_id: int | None = None
) -> AgentAnswer:
    """Record the agent's answer about their move (it replaces their last one): "accepted",
    "concern" (with its text) or "other_team" (a team with a free seat that fits their languages,
    and optionally why). Audited with the agent as actor."""
    move = _move_of(move_id, agent_id)
    concern = (concern or "").strip()
    if answer not in AnswerKind.values:
        raise AnswerRefused(_("Choose one of the answers."))
    if len(concern) > MAX_CONCERN:
        raise AnswerRefused(_("Keep your message under %(n)s characters.") % {"n": MAX_CONCERN})
    if answer == AnswerKind.CONCERN and not concern:
        raise AnswerRefused(_("Write your question or concern."))
    team = None
    if answer == AnswerKind.OTHER_TEAM:
        team = next((t for t in other_teams_for(move) if t.pk == preferred_team_id), None)
        if team is None:
            raise AnswerRefused(_("Choose one of the teams listed."))
    if answer == AnswerKind.ACCEPTED:
        concern = ""
    existing = AgentAnswer.objects.select_for_update().filter(reassignment=move).first()
    before = _answer_facts(existing)
    row = existing or AgentAnswer(reassignment=move)
    row.answer, row.concern, row.preferred_team = answer, concern, team
    row.about_team_id = move.to_team_id
    row.answered_at = timezone.now()
    row.save()
    record_event(
        actor=None, agent=move.agent, action="agent.answered", obj=move, before=before, after=_answer_facts(row)
    )
    return row


@transaction.atomic
def tick_item(*, move_id: int, agent_id: int, item_id: int, done: bool) -> bool:
    """Tick (or untick) one item of the destination team's onboarding checklist. Returns whether
    anything changed; audited with the agent as actor when it did."""
    move = _move_of(move_id, agent_id)
    if not OnboardingItem.objects.filter(pk=item_id, team_id=move.to_team_id).exists():
        raise AnswerRefused(_("This item is not on your checklist."))
    ticks = ChecklistTick.objects.filter(reassignment=move, item_id=item_id)
    if done:
        # The move's row is locked: no other request of this agent can tick it meanwhile.
        changed = not ticks.exists()
        if changed:
            ChecklistTick.objects.create(reassignment=move, item_id=item_id, ticked_at=timezone.now())
    else:
        changed = ticks.delete()[0] > 0
    if changed:
        record_event(
            actor=None,
            agent=move.agent,
            action="agent.checklist_ticked" if done else "agent.checklist_unticked",
            obj=move,
            after={"item": item_id},
        )
    return changed


# --- HR, from the board ---------------------------------------------------------------------------


def _message(move: Reassignment, *, kind: str, key: str, subject: str, body: str) -> AgentMessage:
    return AgentMessage(
        reassignment=move, kind=kind, key=key, recipient=move.agent.email, subject=subject[:200], body=body
    )


def _link_for(move: Reassignment, issued_at: datetime) -> str:
    return page_url(move_id=move.pk, agent_id=move.agent_id, secret=move.agent.page_secret, issued_at=issued_at)


@transaction.atomic
def reply_to_agent(*, actor, plan: SunsetPlan | int, agent_id: int, text: str) -> AgentMessage:
    """HR's reply to an agent's answer: shown on the agent's page and emailed to them once."""
    require(actor, "manage_reassignments")
    plan_id = plan.pk if isinstance(plan, SunsetPlan) else plan
    text = (text or "").strip()
    if not text:
        raise ValidationError(_("Write the reply."))
    if len(text) > MAX_REPLY:
        raise ValidationError(_("Keep the reply under %(n)s characters.") % {"n": MAX_REPLY})
    answer = (
        AgentAnswer.objects.select_for_update(of=("self",))
        .select_related("reassignment__agent", "reassignment__to_team", "reassignment__plan")
        .filter(reassignment__plan_id=plan_id, reassignment__agent_id=agent_id)
        .first()
    )
    if answer is None:
        raise ValidationError(_("This agent has not answered yet: there is nothing to reply to."))
    move = answer.reassignment
    now = timezone.now()
    before = {"hr_reply": answer.hr_reply}
    answer.hr_reply, answer.hr_replied_by, answer.hr_replied_at = text, actor, now
    answer.save(update_fields=["hr_reply", "hr_replied_by", "hr_replied_at"])
    event = record_event(actor=actor, action="agent.replied", obj=move, before=before, after={"hr_reply": text})
    with translation.override(agent_language(move.agent)):
        subject = _("[Dusk] Your HR coordinator answered about your move to %(team)s") % {"team": move.to_team.name}
        body = "\n".join(
            [
                _("Hello %(name)s,") % {"name": move.agent.name},
                "",
                text,
                "",
                _("Your page: %(url)s") % {"url": _link_for(move, now)},
            ]
        )
    message = _message(move, kind=AgentMessageKind.REPLY, key=f"reply:{event.pk}", subject=subject, body=body + "\n")
    message.save()
    enqueue_on_commit(SEND_AGENT_MESSAGES)
    return message


@transaction.atomic
def send_new_link(*, actor, plan: SunsetPlan | int, agent_id: int) -> AgentMessage:
    """Rotate the agent's page secret, which revokes every link sent before (in every plan), and
    email them a new one."""
    require(actor, "manage_reassignments")
    plan_id = plan.pk if isinstance(plan, SunsetPlan) else plan
    move = (
        Reassignment.objects.select_related("agent", "to_team")
        .filter(plan_id=plan_id, agent_id=agent_id, state__in=PAGE_MOVE_STATES)
        .first()
    )
    if move is None:
        raise ValidationError(_("This agent has no confirmed move in this plan: there is no page to link to."))
    if not move.agent.email:
        raise ValidationError(_("This agent has no email address."))
    Agent.objects.filter(pk=agent_id).update(page_secret=new_page_secret())
    move.agent.refresh_from_db(fields=["page_secret"])
    event = record_event(actor=actor, action="agent.link_rotated", obj=move.agent, after={"plan": plan_id})
    now = timezone.now()
    with translation.override(agent_language(move.agent)):
        subject = _("[Dusk] A new link to your page about your move to %(team)s") % {"team": move.to_team.name}
        body = "\n".join(
            [
                _("Hello %(name)s,") % {"name": move.agent.name},
                "",
                _("Here is a new link to your page; the links sent before no longer open it."),
                _link_for(move, now),
            ]
        )
    message = _message(move, kind=AgentMessageKind.LINK, key=f"link:{event.pk}", subject=subject, body=body + "\n")
    message.save()
    enqueue_on_commit(SEND_AGENT_MESSAGES)
    return message


# --- reminders and sending ------------------------------------------------------------------------


def _reminder_text(move: Reassignment, offset: int, *, last: bool, issued_at: datetime) -> tuple[str, str]:
    with translation.override(agent_language(move.agent)):
        subject = _("[Dusk] Reminder: your move to %(team)s on %(date)s") % {
            "team": move.to_team.name,
            "date": date_format(move.effective_date, "j F Y"),
        }
        lines = [
            _("Hello %(name)s,") % {"name": move.agent.name},
            "",
            _("You have not yet told us what you think of your move to %(team)s.") % {"team": move.to_team.name},
            _("Open your page to accept it, ask a question or say which team you would prefer:"),
            _link_for(move, issued_at),
        ]
        if last:
            lines += ["", _("This is the last reminder: your HR coordinator will contact you.")]
    return subject, "\n".join(lines) + "\n"


def queue_agent_reminders(*, now: datetime | None = None) -> int:
    """Write the reminders that are due: for each move whose agent was emailed about it (the
    first sent notice) at least an offset ago and has not answered, one row per offset. The
    unique key (move, kind, "reminder:<offset>") makes this idempotent: two beats, a restarted
    beat or a worker killed halfway write each reminder once. Returns the rows written."""
    now = now or timezone.now()
    offsets = sorted(settings.DUSK_AGENT_REMINDER_OFFSETS)
    if not offsets:
        return 0
    first_sent = (
        AgentNotice.objects.filter(state=NoticeState.SENT).values("reassignment_id").annotate(at=Min("sent_at"))
    )
    told = {row["reassignment_id"]: row["at"] for row in first_sent.filter(at__lte=now - timedelta(seconds=offsets[0]))}
    if not told:
        return 0
    moves = (
        Reassignment.objects.filter(pk__in=list(told), state__in=PAGE_MOVE_STATES)
        .exclude(answer__about_team_id=F("to_team_id"))
        .exclude(agent__email="")
        .select_related("agent", "to_team")
    )
    moves = list(moves)
    written = set(
        AgentMessage.objects.filter(
            reassignment_id__in=[m.pk for m in moves], kind=AgentMessageKind.REMINDER
        ).values_list("reassignment_id", "key")
    )
    rows = []
    for move in moves:
        for offset in offsets:
            if told[move.pk] + timedelta(seconds=offset) > now:
                break
            if (move.pk, f"reminder:{offset}") in written:
                continue
            subject, body = _reminder_text(move, offset, last=offset == offsets[-1], issued_at=now)
            rows.append(
                _message(move, kind=AgentMessageKind.REMINDER, key=f"reminder:{offset}", subject=subject, body=body)
            )
    if rows:
        # Another beat may have written some meanwhile: the unique key keeps the first.
        AgentMessage.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def send_agent_messages(*, now: datetime | None = None) -> int:
    """Send queued agent messages in batches, each recorded exactly once (core/mail.py): a row a
    dead sender claimed but never recorded was not delivered and is claimed again after
    DUSK_RUN_STUCK_AFTER seconds. Returns the number sent."""
    sent_total = 0
    stale = timedelta(seconds=settings.DUSK_RUN_STUCK_AFTER)
    while True:
        now = timezone.now()
        todo = AgentMessage.objects.filter(
            Q(state=NotificationState.PENDING) | Q(state=NotificationState.SENDING, claimed_at__lt=now - stale)
        )
        with transaction.atomic():
            ids = list(
                todo.order_by("id")
                .select_for_update(skip_locked=True)
                .values_list("id", flat=True)[: settings.DUSK_EMAIL_BATCH]
            )
            if not ids:
                return sent_total
            # claimed_at is this sender's token: a paused former sender can no longer record
            # these rows, so it hangs up instead of delivering.
            AgentMessage.objects.filter(pk__in=ids).update(state=NotificationState.SENDING, claimed_at=now)
        items = [
            (
                message.pk,
                EmailMessage(
                    subject=message.subject,
                    body=message.body,
                    to=[message.recipient],
                    headers={"Message-ID": message.message_id},
                ),
            )
            for message in AgentMessage.objects.filter(pk__in=ids, state=NotificationState.SENDING, claimed_at=now)
        ]

        def record_sent(keys, claimed_at=now) -> set:
            return record_group(AgentMessage._meta.db_table, keys, claimed_at)

        def record_refused(pk, error: str) -> None:
            AgentMessage.objects.filter(pk=pk).update(state=NotificationState.FAILED)

        try:
            sent_total += send_recorded(items, record_sent=record_sent, record_refused=record_refused)
        except (OSError, smtplib.SMTPException):
            return sent_total  # unrecorded rows were not delivered: claimed again after the timeout
