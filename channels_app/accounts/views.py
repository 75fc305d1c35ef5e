"""/settings/tokens/: create and revoke your API tokens. A new token is shown
once, in the answer to the POST that created it; only its digest is stored."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from channels_app.accounts.forms import ApiTokenForm, ProfileForm
from channels_app.accounts.middleware import SESSION_TZ_KEY
from channels_app.accounts.services import create_api_token, revoke_api_token, update_profile
from channels_app.core.permissions import require
from channels_app.core.views import FORM_ERROR_STATUS, error_dict, go
from channels_app.core.zones import zone_choices
from channels_app.models import ApiToken, UserProfile


def _page(request, form, new_token: str = "", status: int = 200):
    tokens = ApiToken.objects.visible_to(request.user).select_related("owner")
    return render(
        request,
        "channels_app/tokens.html",
        {"form": form, "tokens": tokens, "new_token": new_token, "now": timezone.now()},
        status=status,
    )


@never_cache
@require_http_methods(["GET", "POST"])
@login_required
def token_list(request):
    require(request.user, "use_api_tokens")
    if request.method == "GET":
        return _page(request, ApiTokenForm())
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=FORM_ERROR_STATUS)
    try:
        token, secret = create_api_token(
            actor=request.user,
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            expires_at=form.expires_at(),
        )
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
        return _page(request, form, status=FORM_ERROR_STATUS)
    messages.success(
        request, _("Token “%(name)s” created. Copy it now: it will not be shown again.") % {"name": token.name}
    )
    return _page(request, ApiTokenForm(), new_token=secret, status=201)


@require_POST
@login_required
def token_revoke(request, pk: int):
    require(request.user, "use_api_tokens")
    token = ApiToken.objects.visible_to(request.user).filter(pk=pk).first()
    if token is None:
        raise Http404("No such token.")
    try:
        revoke_api_token(actor=request.user, token=token)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    else:
        messages.success(request, _("Token “%(name)s” revoked.") % {"name": token.name})
    return redirect("api_tokens")


@require_http_methods(["GET", "POST"])
@login_required
def profile(request):
    require(request.user, "view")
    current = UserProfile.objects.filter(user=request.user).values_list("time_zone", flat=True).first() or "UTC"
    form = ProfileForm(request.POST or None, initial={"time_zone": current})
    if request.method == "POST":
        if form.is_valid():
            try:
                update_profile(actor=request.user, time_zone=form.cleaned_data["time_zone"])
            except ValidationError as exc:
                for field, problems in error_dict(exc).items():
                    for problem in problems:
                        form.add_error(field if field in form.fields else None, problem)
            else:
                request.session[SESSION_TZ_KEY] = form.cleaned_data["time_zone"]
                messages.success(
                    request, _("Your time zone is now %(zone)s.") % {"zone": form.cleaned_data["time_zone"]}
                )
                return go(request, request.path)
        status = FORM_ERROR_STATUS
    else:
        status = 200
    return render(request, "channels_app/profile.html", {"form": form, "zones": zone_choices()}, status=status)
