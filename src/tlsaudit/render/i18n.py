"""Report language: one message catalogue per language, the locale default, safe text.

The catalogues are data (``messages/en.toml``, ``messages/ja.toml``) with the same keys in
every section except ``phrases`` and ``patterns``: those translate the fixed English phrases
the evaluators write into observed and expected values, reasons and coverage notes; a value
with no translation is shown as it is. CRYPTREC terms (遵守項目, 推奨項目, 高セキュリティ型 ...)
stay in Japanese in every language.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

LANGS = ("en", "ja")
MESSAGES = Path(__file__).with_name("messages")
KEYED_SECTIONS = ("ui", "verdict", "status", "level", "error", "class", "group", "area")
"""Sections whose keys every catalogue must define (checked by the tests)."""

_CONTROL = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, clear screen
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: window title, hyperlinks
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC strings
    r"|\x1b.?"  # any other escape
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"  # C0 (but tab, newline) and C1 controls, DEL
    r"|[\u200e\u200f\u202a-\u202e\u2066-\u2069]"  # bidirectional overrides
)


@dataclass(frozen=True)
class Pattern:
    regex: re.Pattern[str]
    template: str


@dataclass(frozen=True)
class Catalogue:
    lang: str
    sections: Mapping[str, Mapping[str, str]]
    phrases: Mapping[str, str]
    patterns: tuple[Pattern, ...]

    def get(self, section: str, key: str) -> str:
        return self.sections[section][key]


@cache
def catalogue(lang: str) -> Catalogue:
    """The catalogue of ``lang`` (``en`` for any language without one)."""
    if lang not in LANGS:
        lang = "en"
    data: dict[str, Any] = tomllib.loads((MESSAGES / f"{lang}.toml").read_text("utf-8"))
    sections = {name: dict(data.get(name, {})) for name in KEYED_SECTIONS}
    patterns = tuple(
        Pattern(re.compile(p["match"]), p["replace"]) for p in data.get("patterns", [])
    )
    return Catalogue(lang, sections, dict(data.get("phrases", {})), patterns)


def default_lang(environ: Mapping[str, str] | None = None) -> str:
    """``ja`` when the locale is Japanese (``LANG=ja_JP.UTF-8``), else ``en``.

    The variables are read in POSIX order: LC_ALL, then LC_MESSAGES, then LANG; LANGUAGE (a
    GNU preference list) first when set, as gettext does.
    """
    env = os.environ if environ is None else environ
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if not value:
            continue
        first = value.split(":")[0].strip().lower()
        if first in ("c", "posix", ""):
            return "en"
        return "ja" if first.startswith("ja") else "en"
    return "en"


def msg(key: str, lang: str, **values: object) -> str:
    """A message: ``ui.verdict``, ``status.pass``, ``level.mandatory`` ... formatted."""
    section, _, name = key.partition(".")
    text = catalogue(lang).get(section, name)
    return text.format(**values) if values else text


def phrase(text: str, lang: str) -> str:
    """A fixed phrase from the evaluators in ``lang``: exact match, then the first matching
    pattern (its groups translated in turn), else the text unchanged."""
    cat = catalogue(lang)
    found = cat.phrases.get(text)
    if found is not None:
        return found
    for pattern in cat.patterns:
        match = pattern.regex.fullmatch(text)
        if match:
            groups = [phrase(g, lang) if g is not None else "" for g in match.groups()]
            return pattern.template.format(*groups)
    return text


def clean(text: str) -> str:
    """Text from the network made harmless for a terminal: escape sequences and control
    characters removed, line breaks and tabs made spaces."""
    return " ".join(_CONTROL.sub("", text.replace("\r\n", " ")).split())


def clean_lines(text: str) -> str:
    """:func:`clean` line by line, keeping the line breaks."""
    return "\n".join(clean(line) for line in text.split("\n"))
