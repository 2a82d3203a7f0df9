"""`tlsaudit profiles show`: every rule of a profile with its level, parameters and clauses."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from tlsaudit.evaluate.check import REGISTRY
from tlsaudit.profiles import PARAMETERS, Profile, Rule
from tlsaudit.render.terminal import profile_line


def render_profile(profile: Profile, console: Console, lang: str) -> None:
    console.print(f"[bold]{profile.id}[/bold]  {profile_line(profile.ref)}")
    if profile.description:
        console.print(profile.description.get(lang))
    console.print(f"e-Gov list: {profile.egov.id} ({profile.egov.date})  source: {profile.source}")
    table = Table(show_lines=True)
    for column in ("check", "level", "parameters", "citations"):
        table.add_column(column)
    for check_id, rule in sorted(profile.rules.items()):
        check = profile.checks[check_id]
        citations = ", ".join(str(c) for c in [*check.citations, *rule.citations])
        level = rule.level.value + (" (strict reading)" if rule.reading else "")
        table.add_row(f"{check_id}\n{check.title.get(lang)}", level, _params(rule), citations)
    console.print(table)
    console.print(_implemented(profile))


def _implemented(profile: Profile) -> str:
    """Every catalogue id against the check registry: none missing, none extra."""
    registered, catalogue = set(REGISTRY), set(profile.checks)
    missing, extra = sorted(catalogue - registered), sorted(registered - catalogue)
    line = f"Checks: {len(registered & catalogue)} of {len(catalogue)} catalogue ids implemented"
    if missing:
        line += f"; not implemented: {', '.join(missing)}"
    if extra:
        line += f"; registered without a catalogue entry: {', '.join(extra)}"
    return line


def _params(rule: Rule) -> str:
    lines = []
    for name in PARAMETERS:
        value = getattr(rule, name)
        if value is None:
            continue
        if name == "classes":
            for cls, outcome in value.items():
                level = outcome.level.value if outcome.level else "pass"
                strict = " (strict reading)" if outcome.reading else ""
                lines.append(f"{cls}: {level}{strict}")
        elif name == "thresholds":
            lines.extend(f"< {t.below}: {t.level.value}" for t in value)
        else:
            lines.append(f"{name} = {value}")
    if rule.note:
        lines.append(f"note: {rule.note}")
    return "\n".join(lines)
