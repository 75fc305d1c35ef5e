"""URLs of a person's own settings."""

from django.urls import path

from channels_app.accounts import views

urlpatterns = [
    path("settings/profile/", views.profile, name="profile"),
    path("settings/password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("settings/tokens/", views.token_list, name="api_tokens"),
    path("settings/tokens/<int:pk>/revoke/", views.token_revoke, name="api_token_revoke"),
]
