"""Pure text rules for auto-replies: placeholders, platform length limits, language detection.

No Django here on purpose: forms, services, the API and the outbox sender all validate and render
with the same functions, and tests need no database.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from collections.abc import Iterable, Mapping
from typing import NamedTuple

import emoji
from publicsuffixlist import PSLFILE

PLACEHOLDERS = ("customer_name", "redirect_url", "phone", "reference", "app_link", "date", "channel")

# --------------------------------------------------------------------------------------------
# Placeholders
# --------------------------------------------------------------------------------------------

# One alternation scanned left to right, so "{{" is consumed before it can open a field and
# a lone brace is just a character: user text never makes rendering fail.
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


def _field_name(inner: str) -> str:
    """The field name of a str.format replacement field: what precedes any '!' or ':'."""
    return re.split(r"[!:]", inner, maxsplit=1)[0].strip()


def find_placeholders(text: str) -> list[str]:
    """Names used as {name} fields in text, first occurrence order, without duplicates."""
    names: list[str] = []
    for match in _TOKEN.finditer(text or ""):
        inner = match.group(1)
        if inner is None:
            continue
        name = _field_name(inner)
        if name and name not in names:
            names.append(name)
    return names


def unknown_placeholders(text: str) -> list[str]:
    return [name for name in find_placeholders(text) if name not in PLACEHOLDERS]


def render(text: str, values: Mapping[str, object]) -> str:
    """Fill {placeholders}; a missing value renders as "" and odd braces stay as typed.

    str.format is deliberately not used: it raises on stray braces and would evaluate
    attribute/index lookups such as {customer_name.__class__} written by a user.
    """

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        name = _field_name(match.group(1))
        if not name:  # "{}" or "{ }": not a field anyone meant, keep it.
            return token
        value = values.get(name)
        return "" if value is None else str(value)

    return _TOKEN.sub(replace, text or "")


# --------------------------------------------------------------------------------------------
# X (Twitter) weighted length, twitter-text configuration v3
# --------------------------------------------------------------------------------------------

X_MAX_WEIGHTED_LENGTH = 280
X_SCALE = 100
X_DEFAULT_WEIGHT = 200
X_TRANSFORMED_URL_LENGTH = 23
X_RANGES = ((0, 4351, 100), (8192, 8205, 100), (8208, 8223, 100), (8242, 8247, 100))
_MAX_URL_LENGTH = 4096


def _char_weight(char: str) -> int:
    code = ord(char)
    for start, end, weight in X_RANGES:
        if start <= code <= end:
            return weight
    return X_DEFAULT_WEIGHT


@functools.cache
def _tlds() -> tuple[str, ...]:
    """Top-level domains from the Public Suffix List's ICANN section (IANA's root zone).

    twitter-text ships its own copy of the IANA list; the PSL carries the same TLDs and is
    kept current by the publicsuffixlist package. Longest first so the alternation never
    stops at a prefix ("co" before "com").
    """
    tlds: set[str] = set()
    in_icann = False
    with open(PSLFILE, encoding="utf-8") as source:
        for line in source:
            line = line.strip()
            if line.startswith("// ===BEGIN ICANN"):
                in_icann = True
            elif line.startswith("// ===END ICANN"):
                break
            elif in_icann and line and not line.startswith("//"):
                label = line.lstrip("!*.").rsplit(".", 1)[-1].lower()
                tlds.add(label)
                if not label.isascii():
                    tlds.add(label.encode("idna").decode("ascii"))
    return tuple(sorted(tlds, key=lambda t: (-len(t), t)))


# Character classes transcribed from twitter-text's regexes (see its regexp/ directory).
_SPACES = "\x09-\x0d\x20\x85\xa0\u1680\u180e\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_INVALID_CHARS = "\ufffe\ufeff\uffff"
_DIRECTIONAL = "\u202a-\u202e\u061c\u200e\u200f\u2066\u2067\u2068\u2069"
_PUNCT = r"!'#%&()*+,\\\-./:;<=>?@\[\]\^_{|}~$"
_LATIN_ACCENTS = (
    "\xc0-\xd6\xd8-\xf6\xf8-\xff\u0100-\u024f\u0253\u0254\u0256\u0257\u0259\u025b\u0263"
    "\u0268\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff"
)
_CYRILLIC = "\u0400-\u04ff"


@functools.cache
def _url_regexes() -> tuple[re.Pattern[str], re.Pattern[str]]:
    tld = "(?:" + "|".join(re.escape(t) for t in _tlds()) + ")(?=[^a-z0-9@+-]|$)"
    punycode = "(?:xn--[-0-9a-z]+)"
    domain_char = f"[^{_PUNCT}{_SPACES}{_INVALID_CHARS}{_DIRECTIONAL}]"
    subdomain = f"(?:(?:{domain_char}(?:[_-]|{domain_char})*)?{domain_char}\\.)"
    domain_name = f"(?:(?:{domain_char}(?:-|{domain_char})*)?{domain_char}\\.)"
    domain = f"(?:{subdomain}*{domain_name}(?:{tld}|{punycode}))"
    path_char = f"[a-z{_CYRILLIC}0-9!*';:=+,.$/%#\\[\\]\\-\u2013_~|&@{_LATIN_ACCENTS}]"
    parens = f"\\((?:{path_char}+|(?:{path_char}*\\({path_char}+\\){path_char}*))\\)"
    path_end = f"(?:[+\\-a-z{_CYRILLIC}0-9=_#/{_LATIN_ACCENTS}]|(?:{parens}))"
    path = f"(?:(?:{path_char}*(?:{parens}{path_char}*)*{path_end})|(?:{path_char}+/))"
    query_chars = r"[a-z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]"
    query_end = r"[a-z0-9\-_&=#/]"
    preceding = f"(?:[^A-Za-z0-9@\uff20$#\uff03{_INVALID_CHARS}]|[{_DIRECTIONAL}]|^)"
    extract = re.compile(
        f"({preceding})"  # 1: the character before, which decides if a bare domain links
        "("  # 2: the URL
        "(https?://)?"  # 3: protocol
        f"({domain})"  # 4: domain
        "(?::([0-9]+))?"  # 5: port
        f"(/{path}*)?"  # 6: path
        f"(\\?{query_chars}*{query_end})?"  # 7: query
        ")",
        re.IGNORECASE,
    )
    ascii_domain = re.compile(f"(?:(?:[\\-a-z0-9{_LATIN_ACCENTS}]+)\\.)+(?:{tld}|{punycode})", re.IGNORECASE)
    return extract, ascii_domain


_TCO = re.compile(r"^https?://t\.co/([a-z0-9]+)(?:\?[a-z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]*[a-z0-9\-_&=#/])?", re.I)


def _idna_ok(url: str, protocol: str, domain: str) -> bool:
    """twitter-text's isValidUrl: the host must punycode-encode (labels <= 63) and fit 4096."""
    try:
        encoded = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return bool(encoded) and len(protocol) + len(url) + len(encoded) - len(domain) <= _MAX_URL_LENGTH


def extract_urls_with_indices(text: str) -> list[tuple[int, int]]:
    """(start, end) code point spans of the URLs twitter-text would link in text."""
    if "." not in text:
        return []
    extract, ascii_domain = _url_regexes()
    spans: list[tuple[int, int]] = []
    for match in extract.finditer(text):
        before, url, protocol, domain, _port, path, _query = match.groups()
        start, end = match.start(2), match.end(2)
        if not _idna_ok(url, protocol or "https://", domain):
            continue
        if protocol:
            tco = _TCO.match(url)
            if tco:
                if len(tco.group(1)) > 40:  # t.co slugs are never that long: not a t.co link
                    continue
                end = start + len(tco.group(0))
            spans.append((start, end))
            continue
        # Without a protocol only ASCII domains link, and not right after "-", "_", "." or "/".
        if re.search(r"[-_./]$", before):
            continue
        found = [(start + m.start(), start + m.end()) for m in ascii_domain.finditer(domain)]
        if not found:
            continue
        if path:  # the path belongs to the last ASCII domain of the match
            found[-1] = (found[-1][0], end)
        spans.extend(found)
    return spans


# Every emoji except (c) and (R), which are skipped below, holds a code point at or above U+203C
# (test_textrules checks this against the emoji package's data): text without one skips the
# tokenizer, the costliest part of weighted_length on the sender's hot path.
_MAY_HOLD_EMOJI = re.compile("[\u203c-\U0010ffff]")


_EMOJI_PRESENTATION = "\ufe0f"  # VARIATION SELECTOR-16


def _emoji_spans(text: str) -> dict[int, int]:
    """start -> end of each emoji (ZWJ sequences, flags, keycaps, skin tones count as one).

    A bare (c) or (R) sign without U+FE0F is text, as in twemoji's parser, so it keeps its
    ordinary weight of 1.
    """
    spans: dict[int, int] = {}
    if not _MAY_HOLD_EMOJI.search(text):
        return spans
    for found in emoji.emoji_list(text):
        if found["emoji"] in ("\u00a9", "\u00ae"):
            continue
        end = found["match_end"]
        # The emoji package knows an emoji-presentation character (U+26A1, U+2B50...) only
        # without the variation selector, as Unicode's emoji-test.txt lists it; twemoji's parser
        # (which twitter-text counts with) takes the U+FE0F typed after it as part of the emoji.
        if text.startswith(_EMOJI_PRESENTATION, end) and not found["emoji"].endswith(_EMOJI_PRESENTATION):
            end += 1
        spans[found["match_start"]] = end
    return spans


# Text made only of code points from the first (weight 100) range of X_RANGES.
_LIGHT_ONLY = re.compile(f"[\\u0000-{chr(X_RANGES[0][1])}]*")


def weighted_length(text: str) -> int:
    """X's weighted length (twitter-text parseTweet, config v3)."""
    normalized = unicodedata.normalize("NFC", text or "")
    urls = dict(extract_urls_with_indices(normalized))
    emojis = _emoji_spans(normalized)
    if not emojis and _LIGHT_ONLY.fullmatch(normalized):
        # Every character outside the URLs weighs 1: skip the per-character walk.
        return len(normalized) + sum(X_TRANSFORMED_URL_LENGTH - (end - start) for start, end in urls.items())
    total = 0
    index = 0
    while index < len(normalized):
        if index in urls:  # URLs win over emoji, as in twitter-text
            total += X_TRANSFORMED_URL_LENGTH * X_SCALE
            index = urls[index]
        elif index in emojis:
            total += X_DEFAULT_WEIGHT
            index = emojis[index]
        else:
            total += _char_weight(normalized[index])
            index += 1
    return total // X_SCALE


# --------------------------------------------------------------------------------------------
# Platform limits and validation
# --------------------------------------------------------------------------------------------

LIMITS: dict[str, int] = {
    "x": X_MAX_WEIGHTED_LENGTH,
    "x_dm": 10000,  # an X direct message (API v2 dm_conversations): characters, not weighted
    "youtube": 10000,  # YouTube comment text
    "discourse": 32000,  # Discourse's default max_post_length
    "messenger": 2000,  # Send API text message
    "email": 100000,  # practical cap for a plain-text reply
    "chat": 4096,  # common widget limit
    "web_form": 20000,
    "phone": 1600,  # an SMS follow-up (10 concatenated segments)
}

# The length rules a channel kind's replies must fit, when it has more than its own: an X
# channel answers tweets (280 weighted) and direct messages (10,000 characters).
LENGTH_RULES: dict[str, tuple[str, ...]] = {"x": ("x", "x_dm")}

PLATFORM_LABELS = {
    "x": "X",
    "x_dm": "X direct messages",
    "youtube": "YouTube",
    "discourse": "Discourse",
    "messenger": "Messenger",
    "email": "email",
    "chat": "chat",
    "web_form": "web form",
    "phone": "phone/SMS",
}

# Long but realistic values: a reply that fits with these fits for (nearly) every customer.
WORST_CASE_SAMPLES: dict[str, str] = {
    "customer_name": "Maximiliane Oberhaus",  # 20 characters
    "redirect_url": "https://support.example.com/contact/new-request?ref=social",
    "phone": "+44 (0)20 7946 0958",
    "reference": "DSK-7KQ2M9XH",
    "app_link": "https://app.example.com/open/support?source=retired-channel",
    "date": "Wednesday 30 September 2026",
    "channel": "our community forum",
}


def length_for(kind: str, text: str) -> int:
    return weighted_length(text) if kind == "x" else len(text or "")


class ReplyProblem(NamedTuple):
    """One problem with an auto-reply: a code and the values its sentence needs. The portal
    words it in the reader's language (reply_checks.wording); this module stays Django-free."""

    code: str  # "empty", "placeholders", "too_long" or "too_long_weighted"
    values: dict[str, object]
    count: int = 1  # how many unknown placeholders, for the singular or plural sentence


def reply_problems(text: str, kind: str, sample_values: Mapping[str, object] | None = None) -> list[ReplyProblem]:
    """What is wrong with an auto-reply for a channel kind; [] when it is fine."""
    if not (text or "").strip():
        return [ReplyProblem("empty", {})]
    problems: list[ReplyProblem] = []
    unknown = unknown_placeholders(text)
    if unknown:
        listed = ", ".join("{" + name + "}" for name in unknown)
        allowed = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
        problems.append(ReplyProblem("placeholders", {"listed": listed, "allowed": allowed}, len(unknown)))
    limit = LIMITS.get(kind)
    if limit is not None:
        values = {**WORST_CASE_SAMPLES, **(sample_values or {})}
        length = length_for(kind, render(text, values))
        if length > limit:
            code = "too_long_weighted" if kind == "x" else "too_long"
            platform = PLATFORM_LABELS.get(kind, kind)
            problems.append(ReplyProblem(code, {"platform": platform, "length": length, "limit": limit}))
    return problems


# --------------------------------------------------------------------------------------------
# The public notice: the announcement on the channel itself, within each platform's own limits
# --------------------------------------------------------------------------------------------

# A public notice speaks to everyone: no customer's name, no conversation reference.
PUBLIC_PLACEHOLDERS = ("redirect_url", "phone", "app_link", "date", "channel")

# (kind, field) -> (shortest, longest): X counts weighted characters (a post); Messenger's
# greeting is 160 characters per locale; a YouTube channel description 1,000; a Discourse topic
# needs a title of 15 to 255 characters and a body of 20 to 32,000 (its default site settings
# min_topic_title_length, max_topic_title_length, min_first_post_length, max_post_length), and
# the "has moved" text that replaces the body at the hard close the same.
PUBLIC_LIMITS: dict[tuple[str, str], tuple[int, int]] = {
    ("x", "text"): (1, X_MAX_WEIGHTED_LENGTH),
    ("x", "moved_text"): (1, X_MAX_WEIGHTED_LENGTH),
    ("messenger", "text"): (1, 160),
    ("messenger", "moved_text"): (1, 160),
    ("youtube", "text"): (1, 1000),
    ("youtube", "moved_text"): (1, 1000),
    ("discourse", "title"): (15, 255),
    ("discourse", "body"): (20, 32000),
    ("discourse", "moved_text"): (20, 32000),
}
PUBLIC_FIELDS = ("text", "moved_text", "title", "body")


def public_notice_length(kind: str, text: str) -> int:
    return weighted_length(text) if kind == "x" else len(text)


def public_notice_problems(
    field: str, text: str, kinds: Iterable[str], sample_values: Mapping[str, object] | None = None
) -> list[ReplyProblem]:
    """What is wrong with one field of a public notice for the channel kinds it will be
    published on; [] when it is fine. Codes: "empty", "placeholders", "too_short", "too_long",
    "too_long_weighted"."""
    needed = [kind for kind in sorted(set(kinds)) if (kind, field) in PUBLIC_LIMITS]
    if not (text or "").strip():
        return [ReplyProblem("empty", {"platform": PLATFORM_LABELS.get(needed[0], needed[0])})] if needed else []
    problems: list[ReplyProblem] = []
    unknown = [name for name in find_placeholders(text) if name not in PUBLIC_PLACEHOLDERS]
    if unknown:
        listed = ", ".join("{" + name + "}" for name in unknown)
        allowed = ", ".join("{" + name + "}" for name in PUBLIC_PLACEHOLDERS)
        problems.append(ReplyProblem("placeholders", {"listed": listed, "allowed": allowed}, len(unknown)))
    rendered = render(text, {**WORST_CASE_SAMPLES, **(sample_values or {})}).strip()
    for kind in needed:
        shortest, longest = PUBLIC_LIMITS[(kind, field)]
        length = public_notice_length(kind, rendered)
        platform = PLATFORM_LABELS.get(kind, kind)
        if length > longest:
            code = "too_long_weighted" if kind == "x" else "too_long"
            problems.append(ReplyProblem(code, {"platform": platform, "length": length, "limit": longest}))
        elif length < shortest:
            problems.append(ReplyProblem("too_short", {"platform": platform, "length": length, "limit": shortest}))
    return problems


# --------------------------------------------------------------------------------------------
# Language detection
# --------------------------------------------------------------------------------------------

_STRIP_FOR_DETECTION = re.compile(r"https?://\S+|www\.\S+|[@\uff20]\w+|\S+@\S+\.\w+|[#\uff03]", re.IGNORECASE)
_MIN_LETTERS = 12
_MIN_PROBABILITY = 0.65  # langdetect spreads short texts over neighbours (es/it)
_detect_lock = threading.Lock()


def _clean_for_detection(text: str) -> str:
    text = _STRIP_FOR_DETECTION.sub(" ", text or "")
    text = emoji.replace_emoji(text, replace=" ")
    return re.sub(r"\s+", " ", text).strip()


def _langdetect_probabilities(text: str) -> list[tuple[str, float]]:
    from langdetect import DetectorFactory
    from langdetect.detector_factory import init_factory
    from langdetect.lang_detect_exception import LangDetectException

    # Fixed seed: the same message always gets the same answer (langdetect samples randomly).
    DetectorFactory.seed = 0
    with _detect_lock:  # profile loading on first use is not thread-safe
        init_factory()
    from langdetect import detector_factory

    detector = detector_factory._factory.create()
    detector.append(text)
    try:
        return [(found.lang, found.prob) for found in detector.get_probabilities()]
    except LangDetectException:
        return []


def detect_language(text: str, candidates: Iterable[str] | None = None) -> str | None:
    """A two-letter language code for text, or None when it is too short or unclear.

    candidates, when given, restricts the answer to those codes (e.g. the locales a plan has
    replies for): the best candidate is returned only if it is itself confident.
    """
    cleaned = _clean_for_detection(text)
    if sum(ch.isalpha() for ch in cleaned) < _MIN_LETTERS:
        return None
    allowed = {c.lower()[:2] for c in candidates} if candidates is not None else None
    best: dict[str, float] = {}
    for code, prob in _langdetect_probabilities(cleaned):
        short = code.split("-")[0].lower()  # zh-cn / zh-tw -> zh
        best[short] = best.get(short, 0.0) + prob
    if allowed is not None:
        best = {code: prob for code, prob in best.items() if code in allowed}
    if not best:
        return None
    code, prob = max(best.items(), key=lambda item: item[1])
    return code if prob >= _MIN_PROBABILITY else None
