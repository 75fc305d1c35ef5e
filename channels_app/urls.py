from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
]

# The browser portal's pages.
urlpatterns += [path("", include("channels_app.portal_urls"))]
