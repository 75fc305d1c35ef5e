"""A person's own pages: /settings/tokens/ (create and revoke your API tokens; a new token is
shown once, in the answer to the POST that created it; only its digest is stored), your
profile, your password; signing in (password or SSO) and out."""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from mozilla_django_oidc import views as oidc_views

from channels_app.accounts.forms import ApiTokenForm, ProfileForm
from channels_app.accounts.middleware import SESSION_TZ_KEY
from channels_app.accounts.services import change_password, create_api_token, revoke_api_token, update_profile
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
    zone, language = UserProfile.objects.filter(user=request.user).values_list("time_zone", "language").first() or (
        "UTC",
        "",
    )
    form = ProfileForm(request.POST or None, initial={"time_zone": zone, "language": language})
    if request.method == "POST":
        if form.is_valid():
            try:
                update_profile(
                    actor=request.user,
                    time_zone=form.cleaned_data["time_zone"],
                    language=form.cleaned_data["language"],
                )
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
    return render(
        request,
        "channels_app/profile.html",
        {"form": form, "zones": zone_choices(), "local_login": settings.DUSK_LOCAL_LOGIN},
        status=status,
    )


# --- signing in and out, password -----------------------------------------------------------


class SignInView(auth_views.LoginView):
    """Django's sign-in form, with the SSO button when SSO is configured; with
    DUSK_LOCAL_LOGIN=0 a password is refused with a clear message (403), whatever it is."""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["sso"] = bool(settings.DUSK_OIDC_CLIENT_ID)
        context["local_login"] = settings.DUSK_LOCAL_LOGIN
        context["sso_refused"] = self.request.GET.get("sso") == "refused"
        return context

    def post(self, request, *args, **kwargs):
        if settings.DUSK_LOCAL_LOGIN:
            return super().post(request, *args, **kwargs)
        context = self.get_context_data(form=self.get_form_class()(request))
        context["local_refused"] = True
        return self.render_to_response(context, status=403)


class SsoStartView(oidc_views.OIDCAuthenticationRequestView):
    """To the identity provider (with state, nonce and PKCE); 404 when SSO is not configured."""

    def get(self, request):
        if not settings.DUSK_OIDC_CLIENT_ID:
            raise Http404("Single sign-on is not configured.")
        return super().get(request)


class SsoCallbackView(oidc_views.OIDCAuthenticationCallbackView):
    """Back from the identity provider: the code is exchanged and checked by mozilla-django-oidc,
    the person and their roles set by accounts.auth_backends.OidcBackend. A refusal (no mapped
    group, a user name held by a local person, a failed check) ends on the sign-in page, saying so."""

    def get(self, request):
        if not settings.DUSK_OIDC_CLIENT_ID:
            raise Http404("Single sign-on is not configured.")
        return super().get(request)


@require_POST
def sign_out(request):
    """End the session here, then at the identity provider when it was an SSO session
    (RP-initiated logout: its end_session endpoint, back to our sign-in page)."""
    id_token = request.session.get("oidc_id_token")
    auth.logout(request)
    endpoint = settings.DUSK_OIDC_END_SESSION_ENDPOINT
    if id_token and endpoint:
        query = urlencode(
            {
                "id_token_hint": id_token,
                "client_id": settings.OIDC_RP_CLIENT_ID,
                "post_logout_redirect_uri": request.build_absolute_uri(reverse("login")),
            }
        )
        return redirect(f"{endpoint}?{query}")
    return redirect("login")


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change (old password, new one twice, the validators), for people
    who sign in with a password; the change goes through accounts.services."""

    template_name = "channels_app/password_change.html"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            require(request.user, "view")
            if not (settings.DUSK_LOCAL_LOGIN and request.user.has_usable_password()):
                raise PermissionDenied(_("You sign in with your organisation's account: change your password there."))
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form):
        change_password(actor=form.user, new_password=form.cleaned_data["new_password1"])
        update_session_auth_hash(self.request, form.user)
        messages.success(self.request, _("Your password has been changed."))
        return go(self.request, reverse("profile"))

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=FORM_ERROR_STATUS)
