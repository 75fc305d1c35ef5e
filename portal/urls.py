from django.contrib import admin
from django.urls import include, path

from channels_app.accounts import views as account_views

urlpatterns = [
    path("accounts/login/", account_views.SignInView.as_view(), name="login"),
    path("accounts/logout/", account_views.sign_out, name="logout"),
    # Single sign-on (mozilla-django-oidc): /oidc/authenticate/ starts it, /oidc/callback/ ends it.
    path("oidc/authenticate/", account_views.SsoStartView.as_view(), name="oidc_authentication_init"),
    path("oidc/callback/", account_views.SsoCallbackView.as_view(), name="oidc_authentication_callback"),
    path("admin/", admin.site.urls),
    path("", include("channels_app.web.urls")),
    path("api/", include("channels_app.api.urls")),
]

# The 404 page says why when the view said why (channels_app/core/errors.py: NotFound).
handler404 = "channels_app.web.views.not_found"

# Language switcher (POST to set_language).
urlpatterns += [path("i18n/", include("django.conf.urls.i18n"))]
