"""`tlsaudit profiles show`: every rule of a profile with its level, parameters and clauses."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from tlsaudit.evaluate.check import REGISTRY
from tlsaudit.profiles import PARAMETERS, Profile, Rule
from tlsaudit.render.i18n import clean, clean_lines, msg, phrase
from tlsaudit.render.terminal import level_label, out, profile_line


def render_profile(profile: Profile, console: Console, lang: str) -> None:
    """Every rule with its level (遵守項目 / 推奨項目 / 参考), parameters and clauses, in
    ``lang``; the text of a user profile is shown as text, never as markup."""
    out(console, Text.assemble((profile.id, "bold"), "  ", clean(profile_line(profile.ref))))
    if profile.description:
        out(console, Text(clean(profile.description.get(lang))))
    egov = f"{msg('ui.profile_egov', lang)}: {profile.egov.id} ({profile.egov.date})"
    out(console, Text(f"{egov}  {msg('ui.profile_source', lang)}: {profile.source}"))
    table = Table(show_lines=True)
    for column in ("checks", "level", "parameters", "citations"):
        table.add_column(msg(f"ui.profile_{column}", lang), overflow="fold")
    for check_id, rule in sorted(profile.rules.items()):
        check = profile.checks[check_id]
        citations = ", ".join(str(c) for c in [*check.citations, *rule.citations])
        level = level_label(rule.level, lang)
        if rule.reading:
            level += f" ({msg('ui.profile_strict', lang)})"
        table.add_row(
            Text(clean_lines(f"{check_id}\n{check.title.get(lang)}")),
            Text(level),
            Text(clean_lines(_params(rule, lang))),
            Text(clean(citations)),
        )
    out(console, table)
    out(console, Text(_implemented(profile, lang)))


def _implemented(profile: Profile, lang: str) -> str:
    """Every catalogue id against the check registry: none missing, none extra."""
    registered, catalogue = set(REGISTRY), set(profile.checks)
    missing, extra = sorted(catalogue - registered), sorted(registered - catalogue)
    done, total = len(registered & catalogue), len(catalogue)
    line = msg("ui.profile_implemented", lang, done=done, total=total)
    if missing:
        line += "; " + msg("ui.profile_missing", lang, ids=", ".join(missing))
    if extra:
        line += "; " + msg("ui.profile_extra", lang, ids=", ".join(extra))
    return line


def _params(rule: Rule, lang: str = "en") -> str:
    lines = []
    for name in PARAMETERS:
        value = getattr(rule, name)
        if value is None:
            continue
        if name == "classes":
            for cls, outcome in value.items():
                level = level_label(outcome.level, lang) if outcome.level else phrase("pass", lang)
                strict = f" ({msg('ui.profile_strict', lang)})" if outcome.reading else ""
                lines.append(f"{cls}: {level}{strict}")
        elif name == "thresholds":
            lines.extend(f"< {t.below}: {level_label(t.level, lang)}" for t in value)
        else:
            lines.append(f"{name} = {value}")
    if rule.note:
        lines.append(f"{msg('ui.profile_note', lang)}: {phrase(rule.note, lang)}")
    return "\n".join(lines)
