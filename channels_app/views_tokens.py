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

from . import services
from .forms_tokens import ApiTokenForm
from .models import ApiToken
from .permissions import require


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
        return _page(request, form, status=400)
    try:
        token, secret = services.create_api_token(
            actor=request.user,
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            expires_at=form.expires_at(),
        )
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
        return _page(request, form, status=400)
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
        services.revoke_api_token(actor=request.user, token=token)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    else:
        messages.success(request, _("Token “%(name)s” revoked.") % {"name": token.name})
    return redirect("api_tokens")
