"""Errors services raise and every door turns into a message."""

from django.core.exceptions import ValidationError


class InvalidTransition(ValidationError):
    """The object is not in a state that allows this action."""


class CutoverAborted(Exception):
    """A run-time check failed; the run stops and is marked failed."""


class LeaseLost(Exception):
    """Another worker now owns this run; stop without writing."""
