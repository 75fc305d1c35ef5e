"""URLs of the channel pages."""

from django.urls import path

from channels_app.directory import views

urlpatterns = [
    path("channels/", views.channel_list, name="channel_list"),
    path("channels/<int:pk>/", views.channel_detail, name="channel_detail"),
    path("channels/<int:pk>/volume/", views.channel_volume, name="channel_volume"),
    path("channels/<int:pk>/notice-settings/", views.channel_notice_settings, name="channel_notice_settings"),
]
