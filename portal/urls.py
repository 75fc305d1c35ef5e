from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("channels_app.web.urls")),
    path("api/", include("channels_app.api.urls")),
]

# Language switcher (POST to set_language).
urlpatterns += [path("i18n/", include("django.conf.urls.i18n"))]
