"""Placeholders, X weighted length (twitter-text v3 conformance cases), limits, language."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from channels_app.core import textrules
from channels_app.core.reply_checks import reply_problems as validate_reply  # worded in English here
from channels_app.core.textrules import (
    LIMITS,
    PLACEHOLDERS,
    WORST_CASE_SAMPLES,
    detect_language,
    extract_urls_with_indices,
    find_placeholders,
    length_for,
    render,
    unknown_placeholders,
    weighted_length,
)
from channels_app.tests.support.helpers import TWITTER_TEXT, official_weighted_lengths, shared_data

# --------------------------------------------------------------------------------------------
# placeholders
# --------------------------------------------------------------------------------------------


def test_placeholder_names_are_the_documented_ones():
    assert PLACEHOLDERS == ("customer_name", "redirect_url", "phone", "reference", "app_link", "date", "channel")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi {customer_name}, see {redirect_url}", ["customer_name", "redirect_url"]),
        ("{phone} {phone} {reference}", ["phone", "reference"]),
        ("Literal {{customer_name}} braces", []),
        ("{{{customer_name}}}", ["customer_name"]),
        ("format spec {date:%d %B} and {channel!r}", ["date", "channel"]),
        ("empty {} and blank { } are not fields", []),
        ("stray { brace and } closer", ["brace and"]),  # str.format would call that a field too
        ("stray { brace", []),
        ("unclosed {customer_name", []),
        ("typo {Customer_Name} and {foo bar}", ["Customer_Name", "foo bar"]),
        ("", []),
    ],
)
def test_find_placeholders(text, expected):
    assert find_placeholders(text) == expected


def test_unknown_placeholders_lists_only_the_unknown_in_order():
    text = "Hi {customer_name} {custmer_name} {redirect_url} {agent} {custmer_name}"
    assert unknown_placeholders(text) == ["custmer_name", "agent"]


def test_render_fills_values_and_blanks_missing_ones():
    text = "Hi {customer_name}, call {phone} ({reference}). {redirect_url}"
    out = render(text, {"customer_name": "Ana", "phone": "+31 20 123 4567", "reference": None})
    assert out == "Hi Ana, call +31 20 123 4567 (). "


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{customer_name}}", "{customer_name}"),
        ("{{{customer_name}}}", "{Ana}"),
        ("a { b c", "a { b c"),
        ("a } b { c", "a } b { c"),
        ("a { b } c", "a  c"),  # a field (str.format syntax) without a value
        ("unclosed {customer_name", "unclosed {customer_name"),
        ("closer only }", "closer only }"),
        ("{}", "{}"),
        ('json {"a": 1}', "json "),  # a field named '"a"' with a format spec: known-empty
        ("{customer_name.__class__}", ""),  # no attribute lookups on values
        ("{customer_name[0]}", ""),
        ("{0}", ""),
    ],
)
def test_render_never_raises_and_keeps_malformed_braces(text, expected):
    assert render(text, {"customer_name": "Ana"}) == expected


def test_render_converts_non_strings():
    assert render("{reference}", {"reference": 42}) == "42"


# --------------------------------------------------------------------------------------------
# X weighted length: cases from twitter-text's conformance/validate.yml (config v3)
# --------------------------------------------------------------------------------------------

X24 = "xxxxxxxxxx-" * 24


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("This is a test.", 15),
        ("a" * 280, 280),
        ("a" * 281, 281),
        ("http://test.com", 23),
        ("https://test.com", 23),
        ("test.com", 23),
        ("Test https://test.com test https://test.com test.com test", 86),
        ("\U00010000\U0010ffff", 4),
        ("저찀쯿쿿", 8),
        ("日", 2),
        ("の" * 140, 280),
        ("H🐱☺👨‍👩‍👧‍👦", 7),
        ("😷👾😡🔥💩", 10),
        ("🙋🏽👨‍🎤", 4),
        ("👨‍👩‍👧‍👦", 2),
        ("👨‍👩‍👧‍👦" * 140, 280),
        ("🇫🇷🇯🇵", 4),
        ("1️⃣", 2),
        ("😷" * 160, 320),
        ("ÁB", 2),  # A + combining acute NFC-normalises to one character
        ("Aשּׁ", 4),
        ("285 chars- http://www.twitter.com/jack " + X24, 299),
        (X24 + " http://www.twitter.com/jack ", 289),
        ("https://www.twitter.com/aloha " * 10, 240),
        ("randomurlrandomurlrandomurlrandomurlrandomurlrandomurlrandomurls.com", 68),  # 64-char label
        ("http://☃.net/", 23),
        ("foo.co.jp", 23),
        ("t.co", 23),
        ("example.com/path/to/resource?search=foo&lang=en", 23),
        ("@foo.com", 8),  # a mention-like token is no URL
        ("ftp://www.example.com/", 22),  # not http(s), and a bare domain after "/" never links
        (
            "This is a tweet with general punctuation characters: "
            "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u200b ‐ ‑ ‒ – — ― ‖  ‗ ‘ ’ ‚ ‛ “ ” „ ‟ ′ ″ ‴ ‵ ‶ ‷",
            110,
        ),
        ("", 0),
    ],
)
def test_weighted_length_conformance(text, expected):
    assert weighted_length(text) == expected


def test_cjk_host_longer_than_63_punycode_chars_is_no_url():
    cjk = "あいうえおかきくけこ" * 12
    too_long_host = "http://" + "あいうえおかきくけこ" * 5 + "あいう.com"
    fine_host = "http://" + "あいうえおかきくけこ" * 5 + "あい.com"
    assert weighted_length(f"{cjk} {too_long_host}") == 358
    assert weighted_length(f"{cjk} {fine_host}") == 264


def test_combining_sequence_is_normalised_before_counting():
    decomposed = "Cafe\u0301"  # e + combining acute: 5 code points, NFC gives 4
    assert weighted_length(decomposed) == 4


def test_url_extraction_spans():
    text = "Go to https://example.com/a?b=c, or www.example.org. Not @user.com nor a.b"
    spans = extract_urls_with_indices(text)
    assert [text[s:e] for s, e in spans] == ["https://example.com/a?b=c", "www.example.org"]


def test_url_without_protocol_after_dash_or_slash_does_not_link():
    assert extract_urls_with_indices("foo_example.com") == []
    assert weighted_length("foo/example.com") == len("foo/example.com")


def test_tco_link_stops_at_the_slug():
    text = "https://t.co/abc123/extra"
    (span,) = extract_urls_with_indices(text)
    assert text[span[0] : span[1]] == "https://t.co/abc123"
    assert weighted_length(text) == 23 + len("/extra")


def test_bare_copyright_sign_is_text_but_with_fe0f_is_emoji():
    assert weighted_length("©") == 1
    assert weighted_length("©\ufe0f") == 2


# --------------------------------------------------------------------------------------------
# limits and validation
# --------------------------------------------------------------------------------------------


def test_limits_cover_the_platforms():
    assert LIMITS["x"] == 280
    assert LIMITS["youtube"] == 10000
    assert LIMITS["discourse"] == 32000
    assert LIMITS["messenger"] == 2000
    assert LIMITS["email"] == 100000


def test_length_for_uses_weighted_length_only_for_x():
    text = "日本語 https://example.com/very/long/path/that/is/long"
    assert length_for("x", text) == 6 + 1 + 23
    assert length_for("youtube", text) == len(text)
    assert length_for("unknown-kind", text) == len(text)


def test_worst_case_samples_are_realistic():
    assert len(WORST_CASE_SAMPLES["customer_name"]) == 20
    assert set(WORST_CASE_SAMPLES) == set(PLACEHOLDERS)
    assert WORST_CASE_SAMPLES["redirect_url"].startswith("https://")


def test_validate_reply_ok():
    text = "Hi {customer_name}, we no longer answer here. Contact us at {redirect_url} or {phone}. Ref {reference}"
    for kind in ("x", "youtube", "discourse", "messenger", "email"):
        assert validate_reply(text, kind) == []


def test_validate_reply_reports_unknown_placeholders():
    (error,) = validate_reply("Hi {customer_nam} {agent_name}", "x")
    assert "{customer_nam}" in error and "{agent_name}" in error
    assert error.startswith("Unknown placeholders")


def test_validate_reply_reports_x_length_with_figure():
    # 260 plain characters + " " + a URL (23) + " " + 20-char name = 305 weighted
    text = "a" * 260 + " {redirect_url} {customer_name}"
    assert validate_reply(text, "x") == ["Too long for X: 305 of 280 weighted characters"]


def test_validate_reply_exact_example_from_the_brief():
    text = "b" * 256 + " {reference} {customer_name}"  # 256 + 1 + 12 + 1 + 20 = 290... plus one more
    text = "b" + text
    assert validate_reply(text, "x") == ["Too long for X: 291 of 280 weighted characters"]


def test_validate_reply_uses_given_sample_values():
    text = "x" * 270 + "{customer_name}"
    assert validate_reply(text, "x", {"customer_name": "Al"}) == []
    assert validate_reply(text, "x") == ["Too long for X: 290 of 280 weighted characters"]


def test_validate_reply_counts_cjk_double_on_x_only():
    text = "日" * 150
    assert validate_reply(text, "x") == ["Too long for X: 300 of 280 weighted characters"]
    assert validate_reply(text, "messenger") == []


def test_validate_reply_other_platform_limits():
    assert validate_reply("m" * 2001, "messenger") == ["Too long for Messenger: 2001 of 2000 characters"]
    assert validate_reply("y" * 10000, "youtube") == []


def test_validate_reply_rejects_empty_text():
    assert validate_reply("   ", "x") == ["The reply is empty."]


def test_validate_reply_both_problems_at_once():
    errors = validate_reply("{oops} " + "z" * 300, "x")
    assert len(errors) == 2


# --------------------------------------------------------------------------------------------
# language detection
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@sprintcare I have sent several private messages and no one is responding as usual", "en"),
        ("Bonjour, mon colis n'est jamais arrivé, pouvez-vous m'aider ?", "fr"),
        ("Ich warte seit drei Wochen auf meine Rückerstattung https://t.co/abc123", "de"),
        ("Mi pedido no ha llegado todavía, ¿pueden ayudarme?", "es"),
        ("Hoi, mijn pakket is nog steeds niet aangekomen", "nl"),
        ("Ciao, il mio ordine non è ancora arrivato", "it"),
        ("こんにちは、注文がまだ届いていません", "ja"),
        ("我的订单还没有到，请帮我查一下", "zh"),
    ],
)
def test_detect_language(text, expected):
    assert detect_language(text) == expected


@pytest.mark.parametrize("text", ["", "hi", "ok 👍", "@AmazonHelp @115712 https://t.co/xyz123 #fail", "12345 67890 !!"])
def test_detect_language_none_when_too_short_or_only_noise(text):
    assert detect_language(text) is None


def test_detect_language_is_deterministic():
    text = "Hola, necesito ayuda con mi pedido por favor"
    assert len({detect_language(text) for _ in range(5)}) == 1


def test_detect_language_candidates_restrict_the_answer():
    text = "Bonjour, mon colis n'est jamais arrivé, pouvez-vous m'aider ?"
    assert detect_language(text, ["fr", "en"]) == "fr"
    assert detect_language(text, ["de", "en"]) is None
    assert detect_language(text, ["FR-be"]) == "fr"


def test_mentions_and_urls_do_not_sway_detection():
    text = "@KundenService_DE @Kundendienst https://example.de/hilfe Where is my parcel, it is late again"
    assert detect_language(text) == "en"


# --------------------------------------------------------------------------------------------
# real customer tweets (TWCS sample)
# --------------------------------------------------------------------------------------------


def _twcs_rows() -> list[dict[str, str]]:
    path = shared_data("twcs_sample.csv")
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_weighted_length_on_real_tweets():
    rows = _twcs_rows()
    for row in rows:
        text = row["text"]
        length = weighted_length(text)
        assert 0 < length <= 2 * len(text) + 23 * text.count(".")
        if text.isascii() and "." not in text:  # no URLs possible, no emoji: 1 per character
            assert length == len(text)


def test_weighted_length_of_every_sample_tweet_equals_twitter_text():
    """All 4,998 real customer tweets, counted by the official twitter-text (npm) and by us."""
    texts = [row["text"] for row in _twcs_rows()]
    assert len(texts) == 4998
    official = official_weighted_lengths(texts)
    differ = [(text, theirs, weighted_length(text)) for text, theirs in zip(texts, official, strict=True)]
    differ = [case for case in differ if case[1] != case[2]]
    assert differ == []


def test_an_emoji_typed_with_its_variation_selector_counts_once():
    # Three of the sample tweets: U+26A1, U+2B50 and U+2615 followed by U+FE0F weigh 2, as one emoji.
    for text in ("🤓\u26a1\ufe0f", "5 \u2b50\ufe0fs", "😉\u2615\ufe0f &gt;"):
        assert weighted_length(text) == official_weighted_lengths([text])[0]
    assert weighted_length("\u26a1\ufe0f") == 2
    assert weighted_length("\u26a1\ufe0f\ufe0f") == 4  # a second selector is a character of its own


# twitter-text's conformance file (github.com/twitter/twitter-text conformance/validate.yml, Apache
# 2.0, vendored beside the npm package): WeightedTweetsCounterTest is config v2 (emoji count by code
# unit), the other two sections config v3, the one X uses and channels_app implements.
_CONFORMANCE = {
    "WeightedTweetsCounterTest": "version2",
    "WeightedTweetsWithDiscountedEmojiCounterTest": "version3",
    "UnicodeDirectionalMarkerCounterTest": "version3",
}


def _conformance_cases() -> dict[str, list[dict]]:
    path = TWITTER_TEXT / "conformance" / "validate.yml"
    tests = yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]
    return {section: tests[section] for section in _CONFORMANCE}


@pytest.mark.parametrize("section", list(_CONFORMANCE))
def test_weighted_length_equals_twitter_text_on_its_conformance_file(section):
    cases = _conformance_cases()[section]
    texts = [case["text"] for case in cases]
    assert len(texts) >= 2
    # The oracle passes its own conformance cases with the section's configuration...
    assert official_weighted_lengths(texts, _CONFORMANCE[section]) == [c["expected"]["weightedLength"] for c in cases]
    # ...and channels_app counts every one of these texts as twitter-text does with X's (v3).
    assert [weighted_length(t) for t in texts] == official_weighted_lengths(texts, "version3")


def test_detect_language_on_real_tweets_is_mostly_english():
    rows = [r for r in _twcs_rows() if r["inbound"] == "True"][:300]
    detected = [detect_language(r["text"]) for r in rows]
    answered = [code for code in detected if code]
    assert len(answered) > 100
    assert answered.count("en") / len(answered) > 0.85


def test_textrules_has_no_django_import():
    source = Path(textrules.__file__).read_text(encoding="utf-8")
    assert "import django" not in source and "from django" not in source


def test_every_emoji_but_copyright_and_registered_holds_a_code_point_from_u203c():
    """weighted_length skips emoji detection for text without such a code point."""
    import emoji

    low = {e for e in emoji.EMOJI_DATA if all(ord(c) < 0x203C for c in e)}
    assert low == {"\u00a9", "\u00ae"}


def test_platform_names_read_as_textrules_writes_them_in_english():
    from django.utils import translation

    from channels_app.core import reply_checks

    with translation.override("en"):
        for kind in textrules.PLATFORM_LABELS:
            assert reply_checks.platform_label(kind) == textrules.PLATFORM_LABELS[kind]


def test_reply_problems_in_french():
    from django.utils import translation

    from channels_app.core import reply_checks

    with translation.override("fr"):
        assert reply_checks.reply_problems("m" * 2001, "messenger") == [
            "Trop long pour Messenger : 2001 sur 2000 caractères"
        ]
        assert reply_checks.reply_problems("   ", "web_form") == ["La réponse est vide."]


# --- the public notice ------------------------------------------------------------------------------


def test_public_notice_is_checked_against_each_platforms_own_limit():
    kinds = ["x", "messenger", "youtube", "discourse", "email"]
    assert textrules.public_notice_problems("text", "We moved: {redirect_url}", kinds) == []
    codes = {(p.code, p.values["platform"]) for p in textrules.public_notice_problems("text", "a" * 200, kinds)}
    assert codes == {("too_long", "Messenger")}  # X 280 weighted, YouTube 1,000: it fits there
    long_post = textrules.public_notice_problems("moved_text", "é" * 281, ["x"])
    assert [(p.code, p.values["length"], p.values["limit"]) for p in long_post] == [("too_long_weighted", 281, 280)]
    assert [p.code for p in textrules.public_notice_problems("title", "Moving", ["discourse"])] == ["too_short"]
    assert [p.code for p in textrules.public_notice_problems("body", "", ["discourse"])] == ["empty"]
    # Email publishes nothing: no rule, no problem.
    assert textrules.public_notice_problems("text", "", ["email"]) == []


def test_public_notice_takes_no_customer_placeholders():
    (problem,) = textrules.public_notice_problems("text", "Hi {customer_name}, ref {reference}", ["youtube"])
    assert problem.code == "placeholders" and problem.values["listed"] == "{customer_name}, {reference}"
