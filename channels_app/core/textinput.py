"""The one rule for text people send: which characters the portal refuses.

Refused everywhere (every form field, query parameter, JSON string of the API, the autosave):
NUL and the other C0 control characters except tab and line feed, a carriage return that does
not end a CRLF line break, DEL, the C1 controls, and the bidi embeddings, overrides and isolates
(U+202A-U+202E, U+2066-U+2069), which make a title or reply read other than it is stored
("invoice\u202egnp.exe"). Line breaks are refused too where the text is one line (a title, a
search). The marks right-to-left writing needs (U+200E, U+200F, U+061C) are not refused.

web/middleware.py applies it to every request of the portal and the API (CRLF made LF, invalid
UTF-8 refused rather than replaced); services apply the one-line rule to their one-line fields.
"""

import re

_NEVER = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
_MULTILINE = re.compile(f"[{_NEVER}]|\r(?!\n)")
_ONE_LINE = re.compile(f"[{_NEVER}\r\n\u2028\u2029]")


def first_unsafe(text: str, *, multiline: bool = True) -> str | None:
    """The first refused character of `text` as U+XXXX, or None when it has none."""
    match = (_MULTILINE if multiline else _ONE_LINE).search(text)
    return f"U+{ord(match.group(0)):04X}" if match else None


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n")
