"""URLs of the REST API (/api/v1/) and its documentation."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from channels_app.api import views
from channels_app.api.docs import ApiDocsView, ApiSchemaView
from channels_app.api.errors import api_exception_handler


class RootView(DefaultRouter.APIRootView):
    """Links to every collection of the API."""

    authentication_classes = views.DuskViewSet.authentication_classes
    permission_classes = views.DuskViewSet.permission_classes
    throttle_classes = views.DuskViewSet.throttle_classes
    allow_token_auth = True

    def required_action(self) -> str:
        return "view"

    def is_read_only_operation(self) -> bool:
        return True

    def get_exception_handler(self):
        return api_exception_handler


class Router(DefaultRouter):
    include_format_suffixes = False
    APIRootView = RootView


router = Router()
router.register("channels", views.ChannelViewSet, basename="channel")
router.register("teams", views.TeamViewSet, basename="team")
router.register("agents", views.AgentViewSet, basename="agent")
router.register("plans", views.PlanViewSet, basename="plan")
router.register("auto-replies", views.AutoReplyViewSet, basename="autoreply")
router.register("reassignments", views.ReassignmentViewSet, basename="reassignment")
router.register("runs", views.CutoverRunViewSet, basename="run")
router.register("audit-events", views.AuditEventViewSet, basename="auditevent")
router.register("outcomes", views.OutcomeViewSet, basename="outcome")
router.register("tokens", views.ApiTokenViewSet, basename="apitoken")

app_name = "api"
urlpatterns = [
    path("v1/", include(router.urls)),
    path("schema/", ApiSchemaView.as_view(), name="schema"),
    path("docs/", ApiDocsView.as_view(), name="docs"),
]
