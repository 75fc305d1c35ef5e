"""The affected agent's personal page, opened from the link in their move email: no account, the
signed link is the key (selectors.move_for_link). Fetch the move the link names, validate,
delegate to a service (services/agent_page.py), respond in the agent's language.

Every POST carries Django's CSRF token and is rate-limited per move and per client address."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from channels_app.core.client_ip import client_ip
from channels_app.models import AnswerKind, Reassignment
from channels_app.workforce.forms import AgentAnswerForm
from channels_app.workforce.selectors import LinkRefused, agent_language, agent_page, move_for_link
from channels_app.workforce.services.agent_page import answer_move, tick_item

PAGE_TEMPLATE = "channels_app/agent_page.html"
REFUSED_TEMPLATE = "channels_app/agent_page_refused.html"
TOO_MANY = 429


def _private(response):
    # The link is the key: no other site learns it from a Referer, no search engine lists it.
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _refused(request, reason: str, *, status: int = 403):
    return _private(render(request, REFUSED_TEMPLATE, {"reason": reason}, status=status))


def _within_rate(request, move: Reassignment) -> bool:
    """At most DUSK_AGENT_PAGE_POSTS_PER_HOUR answers and ticks per move and per address."""
    hour = int(time.time() // 3600)
    allowed = settings.DUSK_AGENT_PAGE_POSTS_PER_HOUR
    for key in (f"dusk:agent-page:move:{move.pk}:{hour}", f"dusk:agent-page:ip:{client_ip(request)}:{hour}"):
        cache.add(key, 0, timeout=7200)
        try:
            if cache.incr(key) > allowed:
                return False
        except ValueError:  # evicted between add and incr
            continue
    return True


def _render(request, move: Reassignment, *, form: AgentAnswerForm | None = None, errors=(), status: int = 200):
    page = agent_page(move)
    language = agent_language(move.agent)
    with translation.override(language):
        current = page.answer if page.answer_is_current else None
        form = form or AgentAnswerForm(
            initial={
                "answer": current.answer if current else "",
                "concern": current.concern if current else "",
                "preferred_team": current.preferred_team_id if current else None,
            },
        )
        response = render(
            request,
            PAGE_TEMPLATE,
            {
                "page": page,
                "token": request.resolver_match.kwargs["token"],
                "form": form,
                "errors": list(errors),
                "saved": request.GET.get("saved") == "1",
                "language": language,
                "answer_kinds": AnswerKind,
            },
            status=status,
        )
    response["Content-Language"] = language
    return _private(response)


def _open(token: str):
    try:
        return move_for_link(token), None
    except LinkRefused as exc:
        return None, exc.reason


@never_cache
@require_http_methods(["GET", "HEAD"])
def agent_page_view(request, token: str):
    """Public, for whoever holds the link: the agent's new team, first day and checklist."""
    move, refused = _open(token)
    if move is None:
        return _refused(request, refused)
    return _render(request, move)


def _back(token: str):
    return redirect(reverse("agent_page", args=[token]) + "?saved=1")


@never_cache
@require_POST
def agent_page_answer(request, token: str):
    move, refused = _open(token)
    if move is None:
        return _refused(request, refused)
    if not _within_rate(request, move):
        return _refused(request, "too_many", status=TOO_MANY)
    with translation.override(agent_language(move.agent)):
        form = AgentAnswerForm(request.POST)
        if not form.is_valid():
            return _render(request, move, form=form, status=422)
        try:
            answer_move(
                move_id=move.pk,
                agent_id=move.agent_id,
                answer=form.cleaned_data["answer"],
                concern=form.cleaned_data["concern"],
                preferred_team_id=form.cleaned_data["preferred_team"],
            )
        except ValidationError as exc:
            return _render(request, move, form=form, errors=exc.messages, status=422)
    return _back(token)


@never_cache
@require_POST
def agent_page_tick(request, token: str, item_id: int):
    move, refused = _open(token)
    if move is None:
        return _refused(request, refused)
    if not _within_rate(request, move):
        return _refused(request, "too_many", status=TOO_MANY)
    with translation.override(agent_language(move.agent)):
        try:
            tick_item(move_id=move.pk, agent_id=move.agent_id, item_id=item_id, done=request.POST.get("done") == "1")
        except ValidationError as exc:
            return _render(request, move, errors=exc.messages, status=422)
    return _back(token)
