"""An auto-reply's problems (textrules.reply_problems) worded in the reader's language.

textrules finds them and stays Django-free; the wizard, the plan checks and the API's preview
word them here through the catalogs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.utils.translation import gettext, ngettext, pgettext_lazy

from channels_app.core import textrules

# Platform names that are words, not brands, as a reader sees them in the portal.
_PLATFORM_WORDS = {
    "email": pgettext_lazy("platform", "email"),
    "chat": pgettext_lazy("platform", "chat"),
    "web_form": pgettext_lazy("platform", "web form"),
    "phone": pgettext_lazy("platform", "phone/SMS"),
    "x_dm": pgettext_lazy("platform", "X direct messages"),
}


def platform_label(kind: str) -> str:
    """The name of a channel kind's platform in the reader's language ("X", "web form")."""
    return str(_PLATFORM_WORDS.get(kind) or textrules.PLATFORM_LABELS.get(kind, kind))


def wording(code: str, count: int = 1) -> str:
    """The sentence for a problem code, with %(name)s values still to fill."""
    if code == "empty":
        return gettext("The reply is empty.")
    if code == "placeholders":
        return ngettext(
            "Unknown placeholder %(listed)s. Allowed: %(allowed)s.",
            "Unknown placeholders %(listed)s. Allowed: %(allowed)s.",
            count,
        )
    if code == "too_long_weighted":
        return gettext("Too long for %(platform)s: %(length)s of %(limit)s weighted characters")
    if code == "too_long":
        return gettext("Too long for %(platform)s: %(length)s of %(limit)s characters")
    if code == "too_short":
        return gettext("Too short for %(platform)s: %(length)s characters, at least %(limit)s")
    if code == "empty_public":
        return gettext("Write it: %(platform)s publishes it.")
    raise KeyError(code)


def reply_problems(text: str, kind: str, sample_values: Mapping[str, object] | None = None) -> list[str]:
    """What is wrong with an auto-reply for a channel kind, in the reader's language; [] when fine."""
    worded = []
    for problem in textrules.reply_problems(text, kind, sample_values):
        values = dict(problem.values)
        if "platform" in values:
            values["platform"] = platform_label(kind)
        worded.append(wording(problem.code, problem.count) % values)
    return worded


def public_notice_problems(
    field: str, text: str, kinds: Iterable[str], sample_values: Mapping[str, object] | None = None
) -> list[str]:
    """What is wrong with one field of a public notice for these channel kinds, in the reader's
    language; [] when fine."""
    worded = []
    for problem in textrules.public_notice_problems(field, text, kinds, sample_values):
        values = dict(problem.values)
        code = "empty_public" if problem.code == "empty" else problem.code
        if "platform" in values:
            kind = next((k for k, label in textrules.PLATFORM_LABELS.items() if label == values["platform"]), "")
            values["platform"] = platform_label(kind) if kind else values["platform"]
        worded.append(wording(code, problem.count) % values)
    return worded
