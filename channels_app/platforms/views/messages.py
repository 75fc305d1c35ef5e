"""A channel's message log: what customers sent and what Dusk answered, with states."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from channels_app.core.permissions import can, require
from channels_app.models import Channel, OutboxMessage, OutboxState
from channels_app.plans.services.preflight import check_connection
from channels_app.platforms.selectors import channel_message_log, reason_text
from channels_app.platforms.services.outbox import retry_failed_replies

PAGE_SIZE = 50
STATE_FILTERS = ("received", *OutboxState.values)


@require_GET
@login_required
def channel_messages(request, channel_id: int):
    require(request.user, "view")
    channel = get_object_or_404(Channel, pk=channel_id)
    state = request.GET.get("state", "")
    direction = request.GET.get("direction", "")
    if state not in ("", *STATE_FILTERS) or direction not in ("", "in", "out"):
        return HttpResponseBadRequest("Unknown filter: state must be one of received, " + ", ".join(OutboxState.values))
    page = Paginator(channel_message_log(channel, state=state, direction=direction), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    page.object_list = list(page.object_list)
    for row in page.object_list:
        # Why a reply was skipped or failed, said in the reader's language (the row keeps English).
        row["reason"] = reason_text(row["detail"]) if row["log_direction"] == "out" else ""
    counts = OutboxMessage.objects.filter(channel=channel).aggregate(
        failed=Count("id", filter=Q(state=OutboxState.FAILED)),
        waiting=Count("id", filter=Q(state__in=[OutboxState.PENDING, OutboxState.SENDING])),
    )
    context = {
        "channel": channel,
        "page": page,
        "state": state,
        "direction": direction,
        "states": STATE_FILTERS,
        "counts": counts,
        "can_retry": can(request.user, "manage_channels"),
    }
    return render(request, "channels_app/channel_messages.html", context)


@require_POST
@login_required
def retry_failed(request, channel_id: int):
    # The role first: a reader without it learns nothing, not even whether the channel exists.
    require(request.user, "manage_channels")
    channel = get_object_or_404(Channel, pk=channel_id)
    count = retry_failed_replies(actor=request.user, channel=channel)
    messages.success(
        request,
        ngettext("%(count)s failed reply queued again.", "%(count)s failed replies queued again.", count)
        % {"count": count},
    )
    return redirect(reverse("channel_messages", args=[channel.pk]) + "?state=pending")


@require_POST
@login_required
def test_connection(request, channel_id: int):
    """The channel page's "Test connection": its credentials, then one read-only call to the
    platform (who the credentials act as). Changes nothing."""
    require(request.user, "manage_channels")
    channel = get_object_or_404(Channel, pk=channel_id)
    check = check_connection(channel)
    if check.ok:
        # The reason without the channel's name: a flash message outlives the page it was for.
        messages.success(
            request, _("Connection test passed: the platform answers as %(who)s.") % {"who": check.identity}
        )
    else:
        messages.error(request, _("Connection test failed: %(reason)s") % {"reason": check.reason})
    return redirect(reverse("channel_detail", args=[channel.pk]))
