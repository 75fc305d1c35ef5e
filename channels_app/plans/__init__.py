"""Sunset plans: contents and validation, the four-eyes lifecycle, wizard drafts, plan pages."""
