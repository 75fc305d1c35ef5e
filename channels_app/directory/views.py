"""The channel list, a channel's page and a forum channel's notice settings."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from channels_app.core.paging import PAGE_SIZE
from channels_app.core.permissions import require
from channels_app.core.views import FORM_ERROR_STATUS, error_dict
from channels_app.directory import selectors
from channels_app.directory.forms import ChannelFilterForm, NoticeSettingsForm
from channels_app.directory.selectors import (
    channel_plans,
    channel_teams,
    channels_for_list,
    inbound_volume,
)
from channels_app.directory.services import NOTICE_SETTINGS_KINDS, update_channel
from channels_app.models import Channel


@require_GET
@login_required
def channel_list(request):
    require(request.user, "view")
    form = ChannelFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    channels = channels_for_list(q=filters.get("q", ""), kind=filters.get("kind", ""), state=filters.get("state", ""))
    page = Paginator(channels, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "channels_app/channel_list.html",
        {"form": form, "page": page, "query": query.urlencode()},
        status=200 if form.is_bound is False or form.is_valid() else FORM_ERROR_STATUS,
    )


@require_GET
@login_required
def channel_detail(request, pk: int):
    require(request.user, "view")
    try:
        channel = selectors.channel_detail(pk)
    except Channel.DoesNotExist:
        raise Http404(_("No such channel.")) from None
    context = {
        "channel": channel,
        "plans": channel_plans(channel),
        "teams": channel_teams(channel),
        "volume": inbound_volume(channel.pk),
    }
    return render(request, "channels_app/channel_detail.html", context)


@require_GET
@login_required
def channel_volume(request, pk: int):
    """The live inbound-volume panel, polled by htmx."""
    require(request.user, "view")
    channel = Channel.objects.filter(pk=pk).first()
    if channel is None:
        raise Http404(_("No such channel."))
    return render(
        request,
        "channels_app/channel_detail.html#volume",
        {"channel": channel, "volume": inbound_volume(channel.pk)},
    )


@require_http_methods(["GET", "POST"])
@login_required
def channel_notice_settings(request, pk: int):
    """Where a forum channel's public notice goes: the announcement category and the categories
    made read-only at the hard close. Other platforms take no such settings (404)."""
    require(request.user, "manage_channels")
    channel = Channel.objects.filter(pk=pk).first()
    if channel is None:
        raise Http404(_("No such channel."))
    if channel.kind not in NOTICE_SETTINGS_KINDS:
        raise Http404(_("Only a community forum (Discourse) channel has notice settings."))
    if request.method == "POST":
        form = NoticeSettingsForm(request.POST)
        if form.is_valid():
            try:
                update_channel(actor=request.user, channel=channel, notice_settings=form.settings())
            except ValidationError as exc:
                for errors in error_dict(exc).values():
                    for error in errors:
                        form.add_error(None, error)
            else:
                messages.success(request, _("The notice settings were saved."))
                return redirect("channel_detail", pk=channel.pk)
        status = FORM_ERROR_STATUS
    else:
        form = NoticeSettingsForm(initial=NoticeSettingsForm.initial_for(channel))
        status = 200
    return render(
        request, "channels_app/channel_notice_settings.html", {"channel": channel, "form": form}, status=status
    )
