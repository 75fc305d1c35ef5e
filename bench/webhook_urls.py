"""URLs for bench/webhook.py only: the project's, plus /bench/bare, the cheapest Django view
that still reads the body and answers JSON (the baseline the webhook is compared with)."""

from django.http import JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def bare(request):
    return JsonResponse({"ok": True, "bytes": len(request.body)})


# bench/landing.py also serves it under /landing/: the landing page's handler and middleware.
urlpatterns = [path("bench/bare", bare), path("landing/bench-bare", bare), path("", include("portal.urls"))]
