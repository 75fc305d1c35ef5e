"""The platforms by channel kind: services, webhooks and pollers dispatch through `platform_for`.

A new platform is an adapter module defining ``PLATFORM`` (a base.Platform) and one line here.
"""

from __future__ import annotations

from collections.abc import Mapping

from channels_app.platforms.adapters import discourse, messenger, x, youtube
from channels_app.platforms.adapters import email as email_adapter
from channels_app.platforms.adapters.base import AdapterError, Platform

PLATFORMS: Mapping[str, Platform] = {
    platform.kind: platform
    for platform in (x.PLATFORM, youtube.PLATFORM, discourse.PLATFORM, messenger.PLATFORM, email_adapter.PLATFORM)
}


class UnknownPlatform(AdapterError, LookupError):
    """A channel kind with no platform API (phone, web form, chat)."""


def platform_for(kind: str) -> Platform:
    try:
        return PLATFORMS[kind]
    except KeyError:
        raise UnknownPlatform(f"no platform adapter for {str(kind)!r} channels") from None


def length_unit(kind: str) -> str:
    """How a kind's reply length rule counts, for messages; "characters" without a platform."""
    platform = PLATFORMS.get(kind)
    return platform.length_unit if platform is not None else "characters"
