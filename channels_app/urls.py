from django.urls import path

from . import views, views_tokens

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("settings/tokens/", views_tokens.token_list, name="api_tokens"),
    path("settings/tokens/<int:pk>/revoke/", views_tokens.token_revoke, name="api_token_revoke"),
]
