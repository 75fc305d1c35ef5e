"""Helpers shared by the portal's views."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django_htmx.http import HttpResponseClientRedirect


def go(request, url: str):
    """After a POST: a client redirect for htmx, a 303 otherwise."""
    if getattr(request, "htmx", False):
        return HttpResponseClientRedirect(url)
    return redirect(url, permanent=False)


def error_messages(exc: ValidationError | PermissionDenied) -> list[str]:
    if isinstance(exc, ValidationError):
        return list(exc.messages)
    return [str(exc) or "You may not do that."]


def error_dict(exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {field: [m for e in errs for m in e.messages] for field, errs in exc.error_dict.items()}
    return {"__all__": list(exc.messages)}


# A form the server refused is drawn again with its errors, always with this status: htmx swaps a
# 422 answer (templates/base.html's htmx-config) and tests and clients can tell it from a bad URL.
FORM_ERROR_STATUS = 422
