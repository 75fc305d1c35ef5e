"""The fr and id gettext catalogs: complete, consistent, and compiled.

These tests read the catalogs as they are committed (locale/<lang>/LC_MESSAGES/django.po and
.mo) with a small pure-Python reader: they need neither gettext nor polib. They do not run
`makemessages` (gettext may be missing where the tests run), so a string newly marked for
translation in the code or a template is only caught once `make messages` has added it to the
catalogs: run that target after changing user-facing text, then translate what it adds.
"""

import gettext
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings

LANGUAGES = [code for code, _name in settings.LANGUAGES if code != settings.LANGUAGE_CODE]
LOCALE_DIR = Path(settings.LOCALE_PATHS[0])

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
_KEYWORD = re.compile(r"^(msgctxt|msgid|msgid_plural|msgstr(?:\[(\d+)\])?)\s+(\".*\")\s*$")


@dataclass
class Entry:
    line: int
    msgid: str = ""
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)

    def __str__(self) -> str:
        where = f"line {self.line}"
        return f"{where}: {self.msgid!r}" + (f" (context {self.msgctxt!r})" if self.msgctxt else "")


def _unquote(quoted: str) -> str:
    body = quoted.strip()[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), body)


def read_po(path: Path) -> list[Entry]:
    """Entries of a .po file, header included, obsolete (#~) entries left out."""
    entries: list[Entry] = []
    entry: Entry | None = None
    target: tuple[str, int | None] | None = None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line:
            entry, target = None, None
            continue
        if line.startswith("#"):
            if entry is not None and entry.msgstr:  # a comment after msgstr starts the next entry
                entry, target = None, None
            if line.startswith("#,"):
                entry = entry or Entry(line=number)
                entry.flags.update(flag.strip() for flag in line[2:].split(",") if flag.strip())
            continue
        if line.startswith('"'):
            assert entry is not None and target is not None, f"{path}:{number}: string outside an entry"
            name, index = target
            if name == "msgstr":
                entry.msgstr[index] += _unquote(line)
            else:
                setattr(entry, name, getattr(entry, name) + _unquote(line))
            continue
        match = _KEYWORD.match(line)
        assert match, f"{path}:{number}: cannot read {raw!r}"
        keyword, index, value = match.groups()
        if keyword in ("msgctxt", "msgid") and (entry is None or entry.msgstr):
            entry = Entry(line=number)
        assert entry is not None, f"{path}:{number}: {keyword} before msgid"
        if keyword == "msgid":
            entries.append(entry)
        if keyword.startswith("msgstr"):
            target = ("msgstr", int(index or 0))
            entry.msgstr[target[1]] = _unquote(value)
        else:
            target = (keyword, None)
            setattr(entry, keyword, _unquote(value))
    return entries


def _catalog(lang: str) -> tuple[list[Entry], Entry]:
    entries = read_po(LOCALE_DIR / lang / "LC_MESSAGES" / "django.po")
    headers = [e for e in entries if e.msgid == "" and e.msgctxt is None]
    assert len(headers) == 1, f"{lang}: expected one header entry"
    return [e for e in entries if e is not headers[0]], headers[0]


def _header_field(header: Entry, name: str) -> str:
    match = re.search(rf"^{name}:\s*(.*?)\s*$", header.msgstr[0], re.MULTILINE)
    assert match, f"the header has no {name}"
    return match.group(1)


def _plural_forms(header: Entry) -> tuple[int, str]:
    match = re.fullmatch(r"nplurals=(\d+);\s*plural=(.+?);?", _header_field(header, "Plural-Forms"))
    assert match, "the header's Plural-Forms cannot be read"
    return int(match.group(1)), match.group(2)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_is_translated_and_none_is_fuzzy(lang):
    entries, header = _catalog(lang)
    nplurals, _plural = _plural_forms(header)
    assert entries, f"{lang}: the catalog is empty"
    fuzzy = [str(e) for e in entries if "fuzzy" in e.flags]
    assert not fuzzy, f"{lang}: {len(fuzzy)} fuzzy entries (review them, then drop the flag):\n" + "\n".join(fuzzy)
    assert "fuzzy" not in header.flags, f"{lang}: the header is marked fuzzy, so msgfmt would ignore it"
    untranslated = [str(e) for e in entries if not e.msgstr or not all(e.msgstr.values())]
    assert not untranslated, f"{lang}: {len(untranslated)} untranslated entries:\n" + "\n".join(untranslated)
    wrong_forms = [
        f"{e}: {len(e.msgstr)} forms"
        for e in entries
        if e.msgid_plural is not None and sorted(e.msgstr) != list(range(nplurals))
    ]
    assert not wrong_forms, f"{lang}: plural entries need {nplurals} form(s):\n" + "\n".join(wrong_forms)


_NAMED = re.compile(r"%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]")
_BRACES = re.compile(r"\{\w*\}")
_TAGS = re.compile(r"</?[a-zA-Z][^>]*>|&\w+;")


def _placeholders(entry: Entry, text: str) -> list[str]:
    found = _TAGS.findall(text)
    if "python-format" in entry.flags:
        found += _NAMED.findall(text) + ["%%"] * text.count("%%")
    if "python-brace-format" in entry.flags:
        found += _BRACES.findall(text)
    return sorted(found)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_translations_keep_placeholders_tags_and_edge_whitespace(lang):
    entries, header = _catalog(lang)
    nplurals, _plural = _plural_forms(header)
    problems = []
    for entry in entries:
        sources = [entry.msgid] if entry.msgid_plural is None else [entry.msgid, entry.msgid_plural]
        allowed = [_placeholders(entry, source) for source in sources]
        for index, text in entry.msgstr.items():
            got = _placeholders(entry, text)
            # Where a language has a singular form, it may leave the count out ("un agent").
            singular = entry.msgid_plural is not None and nplurals > 1 and index == 0
            if got not in allowed and not (singular and set(got) <= set(allowed[0])):
                problems.append(f"{entry} [{index}]: {got} instead of {allowed[-1]}")
            source = sources[min(index, len(sources) - 1)]
            if (
                text[: len(text) - len(text.lstrip())] != source[: len(source) - len(source.lstrip())]
                or text[len(text.rstrip()) :] != source[len(source.rstrip()) :]
            ):
                problems.append(f"{entry} [{index}]: leading or trailing whitespace differs from the msgid")
    assert not problems, f"{lang}:\n" + "\n".join(problems)


class _Missing(gettext.NullTranslations):
    """Fallback that marks a lookup the compiled catalog could not answer."""

    MARK = "\x00missing\x00"

    def gettext(self, message):
        return self.MARK

    def ngettext(self, msgid1, msgid2, n):
        return self.MARK

    def pgettext(self, context, message):
        return self.MARK

    def npgettext(self, context, msgid1, msgid2, n):
        return self.MARK


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_committed_mo_matches_the_po(lang):
    """The .mo is what Django serves: a .po edited without `compilemessages` shows here."""
    entries, header = _catalog(lang)
    nplurals, plural = _plural_forms(header)
    choose = gettext.c2py(plural)
    # One count per plural form, e.g. French: 1 -> form 0, 2 -> form 1.
    counts = {}
    for n in range(1000):
        counts.setdefault(choose(n), n)
    assert sorted(counts) == list(range(nplurals)), f"{lang}: plural expression {plural!r} misses a form"
    with open(LOCALE_DIR / lang / "LC_MESSAGES" / "django.mo", "rb") as mo:
        compiled = gettext.GNUTranslations(mo)
    compiled.add_fallback(_Missing())
    assert compiled.info().get("plural-forms") == _header_field(header, "Plural-Forms"), (
        f"{lang}: the .mo header's Plural-Forms differs from the .po"
    )
    stale = []
    for entry in entries:
        for index, expected in entry.msgstr.items():
            if entry.msgid_plural is None:
                if entry.msgctxt is None:
                    got = compiled.gettext(entry.msgid)
                else:
                    got = compiled.pgettext(entry.msgctxt, entry.msgid)
            elif entry.msgctxt is None:
                got = compiled.ngettext(entry.msgid, entry.msgid_plural, counts[index])
            else:
                got = compiled.npgettext(entry.msgctxt, entry.msgid, entry.msgid_plural, counts[index])
            if got != expected:
                found = "nothing" if got == _Missing.MARK else repr(got)
                stale.append(f"{entry} [{index}]: the .mo has {found}, the .po {expected!r}")
    assert not stale, (
        f"{lang}: django.mo is out of date with django.po (run `make messages` or compilemessages):\n"
        + "\n".join(stale)
    )


def test_the_reader_sees_flags_contexts_plurals_and_continued_strings(tmp_path):
    po = tmp_path / "django.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Plural-Forms: nplurals=2; plural=(n > 1);\\n"\n\n'
        '#: a.py:1\n#, fuzzy, python-format\n#| msgid "Old"\nmsgid ""\n"Hello "\n"%(name)s"\nmsgstr "Bonjour %(name)s"\n\n'
        'msgctxt "team"\nmsgid "From"\nmsgstr ""\n\n'
        'msgid "%(n)s agent"\nmsgid_plural "%(n)s agents"\nmsgstr[0] "%(n)s agent"\nmsgstr[1] "%(n)s \\"agents\\""\n\n'
        '#~ msgid "Gone"\n#~ msgstr "Parti"\n',
        encoding="utf-8",
    )
    header, hello, team, agents = read_po(po)
    assert header.msgid == "" and "nplurals=2" in header.msgstr[0]
    assert hello.msgid == "Hello %(name)s" and hello.flags == {"fuzzy", "python-format"}
    assert (team.msgctxt, team.msgid, team.msgstr) == ("team", "From", {0: ""})
    assert agents.msgid_plural == "%(n)s agents" and agents.msgstr == {0: "%(n)s agent", 1: '%(n)s "agents"'}
