"""The OpenAPI document and Swagger UI, both behind sign-in. Swagger UI's files
come from drf-spectacular-sidecar through staticfiles (no CDN) and its start-up
script is a static file, so the page needs no inline script or style."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET
from drf_spectacular.views import SpectacularAPIView
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAuthenticated

from channels_app.api.authentication import BearerTokenAuthentication
from channels_app.api.permissions import RolePermission
from channels_app.api.throttling import ApiUserThrottle
from channels_app.core.permissions import require


class ApiSchemaView(SpectacularAPIView):
    authentication_classes = [BearerTokenAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated, RolePermission]
    throttle_classes = [ApiUserThrottle]
    allow_token_auth = True

    def required_action(self) -> str:
        return "view"

    def is_read_only_operation(self) -> bool:
        return True


# Swagger UI's logo is an SVG with a <style> element; allow exactly that one by
# its hash (drf-spectacular-sidecar is pinned, so the hash is stable).
SWAGGER_LOGO_STYLE = "sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w="


@method_decorator([require_GET, login_required, ensure_csrf_cookie], name="dispatch")
class ApiDocsView(View):
    def get(self, request):
        require(request.user, "view")
        response = render(request, "channels_app/api_docs.html", {"csrf_cookie_name": settings.CSRF_COOKIE_NAME})
        response["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
            f"style-src 'self' '{SWAGGER_LOGO_STYLE}'"
        )
        return response
