"""Channel secrets: read from environment variables whose names the channels hold.

A channel names the variable, never the secret, so the database holds none. A name taken as
given would let whoever edits a channel have a worker send any of the server's variables
(DJANGO_SECRET_KEY, DATABASE_URL) to a platform, or check webhook signatures against a variable
whose value is public. So only names under one prefix are channel secrets: they are refused
elsewhere when saved (Channel's validators) and never read here.
"""

import os
import re

CHANNEL_SECRET_PREFIX = "DUSK_CHANNEL_"
CHANNEL_SECRET_NAME = re.compile(r"^DUSK_CHANNEL_[A-Z0-9_]*[A-Z0-9]\Z")


def is_channel_secret_name(name: str) -> bool:
    return bool(name) and CHANNEL_SECRET_NAME.match(name) is not None


def channel_secret(name: str) -> str | None:
    """The value of the channel secret variable `name`; None when the name is not a channel
    secret's, or the variable is unset or empty."""
    if not is_channel_secret_name(name):
        return None
    return os.environ.get(name) or None
