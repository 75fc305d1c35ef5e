"""Errors services raise and every door turns into a message."""

from django.core.exceptions import ValidationError
from django.http import Http404


class InvalidTransition(ValidationError):
    """The object is not in a state that allows this action."""


class CutoverAborted(Exception):
    """A run-time check failed; the run stops and is marked failed."""


class LeaseLost(Exception):
    """Another worker now owns this run; stop without writing."""


class NotFound(Http404):
    """A 404 whose message is written for people (translated): the 404 page shows it, where
    Django's own 404s (an unknown URL, get_object_or_404) only say there is nothing there."""
