"""Errors from services become HTTP answers with a message:
ValidationError -> 400, PermissionDenied -> 403, missing object -> 404,
InvalidTransition -> 409. Every error body is {"detail": ..., "errors": {...}}."""

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from channels_app.core.errors import InvalidTransition


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, for a person.")
    errors = serializers.DictField(
        child=serializers.JSONField(),
        help_text="Messages by field (400 only); '__all__' or 'non_field_errors' for the whole request.",
    )


def _django_errors(exc: DjangoValidationError) -> dict:
    if hasattr(exc, "error_dict"):
        return exc.message_dict
    return {"__all__": exc.messages}


def _first_message(errors, path: str = "") -> str:
    """The first message, prefixed with where it belongs: `phases[0].local_date: ...`."""
    if isinstance(errors, dict):
        for key, value in errors.items():
            key = str(key)
            if key in ("__all__", "non_field_errors", "detail"):
                where = path
            elif key.isdigit():
                where = f"{path}[{key}]"
            else:
                where = f"{path}.{key}" if path else key
            text = _first_message(value, where)
            if text:
                return text
    elif isinstance(errors, list):
        for value in errors:
            text = _first_message(value, path)
            if text:
                return text
    elif errors:
        return f"{path}: {errors}" if path else str(errors)
    return ""


def api_exception_handler(exc, context):
    if isinstance(exc, InvalidTransition):
        errors = _django_errors(exc)
        return Response({"detail": _first_message(errors), "errors": errors}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(_django_errors(exc))
    elif isinstance(exc, ObjectDoesNotExist):
        exc = Http404()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        errors = data if isinstance(data, dict) else {"non_field_errors": data}
        response.data = {"detail": _first_message(errors) or "The request is not valid.", "errors": errors}
    elif isinstance(data, dict) and "detail" in data:
        response.data = {"detail": str(data["detail"]), "errors": {}}
    else:
        response.data = {"detail": _first_message(data) or "Error.", "errors": {}}
    return response
