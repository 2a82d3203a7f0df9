"""Terminal report (rich).

Default view: the verdict and the profile first; then, per endpoint, what fails, warns or
could not be determined, grouped by the fix (one directive fixes many suites: they are listed
under it once), each group with its level, clauses and directive; passing items are counted.
``verbose`` adds every finding per area; ``quiet`` prints the verdict line only.

Every string that may come from the network is cleaned of control characters and escape
sequences (:func:`tlsaudit.render.i18n.clean`) and is only ever handed to rich as a
:class:`rich.text.Text`, never as markup. Nothing is cut: long values wrap at spaces.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO

from rich.console import Console, Group, RenderableType
from rich.segment import Segment, Segments
from rich.table import Table
from rich.text import Text

from tlsaudit.models.facts import ProbeError
from tlsaudit.models.findings import Finding, Level, Status, Verdict
from tlsaudit.models.report import (
    DomainReport,
    EndpointReport,
    ProfileRef,
    Report,
    TargetReport,
    group_of,
)
from tlsaudit.models.report import Group as MailGroup
from tlsaudit.render.i18n import catalogue, clean, msg, phrase

VERDICT_STYLE = {
    Verdict.PASS: "bold green",
    Verdict.FAIL: "bold red",
    Verdict.UNKNOWN: "bold yellow",
    Verdict.ERROR: "bold magenta",
}
STATUS_STYLE = {
    Status.PASS: "green",
    Status.FAIL: "bold red",
    Status.WARN: "yellow",
    Status.INFO: "cyan",
    Status.UNKNOWN: "magenta",
    Status.NOT_APPLICABLE: "dim",
}
AREAS = (
    ("tls.protocol", "protocol"),
    ("tls.cipher", "cipher"),
    ("tls.kex", "kex"),
    ("cert.", "cert"),
)
PROBLEMS = (Status.FAIL, Status.WARN, Status.UNKNOWN)
"""Listed in the default view; every other status is counted."""
COUNT_ORDER = (
    Status.FAIL,
    Status.WARN,
    Status.UNKNOWN,
    Status.PASS,
    Status.INFO,
    Status.NOT_APPLICABLE,
)
GROUP_INDENT = 4
"""Columns before the text of a fix group (its number and a space)."""
DEFAULT_WIDTH = 100
"""Width of a report written to a pipe or a file (a terminal uses its own width)."""

_SUITE_SUBJECT = re.compile(r"((?:SSL|TLS) \d\.\d) (\S+)")
_CLASS_VALUE = re.compile(r"([a-z0-9]+(?:-[a-z0-9]+)*): (.+)", re.DOTALL)
_CLASS_LIST = re.compile(r"(?:class )?([a-z0-9-]+(?: or [a-z0-9-]+)*)")
_ERROR_VALUE = re.compile(r"([a-z_]+): (.*)", re.DOTALL)
_EXCEPTION_PATH = re.compile(r"\b[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*\.[A-Z][A-Za-z0-9_]*:? ?")
"""A qualified class name such as ``sslyze.errors.ServerRejectedConnection:``."""
_PARENTHETICAL = re.compile(r"\s*\([^()]*\)")


# ---------------------------------------------------------------- console and entry points


def report_console(file: IO[str] | None = None, *, color: bool | None = None) -> Console:
    """The console a report is printed on: a terminal's own width, else ``COLUMNS`` or 100
    columns (pipes and ``--output`` files); ``NO_COLOR`` is honoured by rich."""
    stream = file if file is not None else sys.stdout
    probe = Console(file=stream)
    if probe.is_terminal and file is None:
        return Console(highlight=False)
    columns = os.environ.get("COLUMNS", "")
    width = int(columns) if columns.isdigit() and int(columns) > 20 else DEFAULT_WIDTH
    return Console(file=stream, width=width, highlight=False, no_color=color is False)


def render_terminal(
    report: Report,
    console: Console,
    lang: str = "en",
    *,
    verbose: bool = False,
    quiet: bool = False,
) -> None:
    """Print ``report``: the default view, every finding (``verbose``) or the verdict line
    only (``quiet``)."""
    out(console, verdict_line(report, lang))
    if quiet:
        return
    out(console, editions_line(report.profile, lang))
    for target in report.targets:
        render_target(target, console, lang, verbose)
    for domain in report.domains:
        render_domain(domain, console, lang, verbose)
    render_coverage(report, console, lang)
    out(console, Text(""))
    for line in summary_lines(report, lang):
        out(console, line)


def verdict_line(report: Report, lang: str) -> Text:
    """E.g. ``Verdict: NOT COMPLIANT — profile 高セキュリティ型 (High Security)``."""
    return Text.assemble(
        (f"{msg('ui.verdict', lang)}: ", "bold"),
        verdict_text(report.verdict, lang),
        f" — {msg('ui.profile', lang)}: ",
        (clean(report.profile.name), "bold"),
    )


def editions_line(profile: ProfileRef, lang: str) -> Text:
    editions = profile.version + (f"; {', '.join(profile.editions)}" if profile.editions else "")
    return Text(f"{msg('ui.editions', lang)}: {clean(editions)}", style="dim")


def profile_line(profile: ProfileRef) -> str:
    """Name, version and the document editions the profile encodes."""
    editions = f"; {', '.join(profile.editions)}" if profile.editions else ""
    return f"{profile.name} ({profile.version}{editions})"


def verdict_text(verdict: Verdict, lang: str) -> Text:
    return Text(msg(f"verdict.{verdict.value}", lang), style=VERDICT_STYLE[verdict])


def status_label(status: Status, lang: str = "en") -> str:
    return msg(f"status.{status.value}", lang)


def level_label(level: Level, lang: str) -> str:
    return msg(f"level.{level.value}", lang)


# ---------------------------------------------------------------- targets and domains


def render_target(target: TargetReport, console: Console, lang: str, verbose: bool) -> None:
    out(console, Text(""))
    out(console, heading(target.target, target.verdict, lang))
    if target.error:
        out(console, hang(msg("ui.not_scanned", lang) + ":", Text(value(target.error, lang))))
        return
    for endpoint in target.endpoints:
        render_endpoint(endpoint, console, lang, verbose)
    if target.findings:
        out(console, Text(msg("ui.across", lang), style="bold"))
        render_findings(target.findings, console, lang, verbose)


def render_endpoint(report: EndpointReport, console: Console, lang: str, verbose: bool) -> None:
    head = Text.assemble(
        (clean(report.endpoint.display), "bold"), "  ", verdict_text(report.verdict, lang)
    )
    error = report.facts.connectivity
    if error is not None:
        out(console, head)
        out(console, hang("  ", Text(connectivity_text(error, lang, verbose), "magenta")))
        return
    head.append(f"  ({counts(report.findings, lang)})", style="dim")
    out(console, head)
    render_findings(report.findings, console, lang, verbose)


def render_domain(report: DomainReport, console: Console, lang: str, verbose: bool) -> None:
    """Mail authentication / Mail transport / DNS, each with its verdict and problems."""
    out(console, Text(""))
    out(console, heading(report.domain, report.verdict, lang))
    if report.error:
        out(console, hang(msg("ui.not_scanned", lang) + ":", Text(value(report.error, lang))))
        return
    verdicts = {g.group: g.verdict for g in report.groups}
    for group in MailGroup:
        findings = [f for f in report.findings if group_of(f.check_id) is group]
        title = Text.assemble(
            (msg(f"group.{group.value}", lang), "bold"),
            "  ",
            verdict_text(verdicts.get(group, Verdict.PASS), lang),
        )
        if findings:
            title.append(f"  ({counts(findings, lang)})", style="dim")
        out(console, title)
        render_findings(findings, console, lang, verbose)


def render_findings(
    findings: Sequence[Finding], console: Console, lang: str, verbose: bool
) -> None:
    if verbose:
        for area, members in by_area(findings):
            out(console, Text(f"  {msg(f'area.{area}', lang)}", style="bold underline"))
            for f in members:
                out(console, finding_row(f, lang))
        if any(f.status in PROBLEMS for f in findings):
            out(console, Text(f"  {msg('ui.to_fix', lang)}", style="bold underline"))
    for number, group in enumerate(fix_groups(findings), start=1):
        out(console, render_group(number, group, lang, verbose, console.width))


def by_area(findings: Iterable[Finding]) -> list[tuple[str, list[Finding]]]:
    grouped: dict[str, list[Finding]] = {}
    for f in findings:
        area = next((a for prefix, a in AREAS if f.check_id.startswith(prefix)), "other")
        grouped.setdefault(area, []).append(f)
    order = [a for _, a in AREAS] + ["other"]
    return [(a, grouped[a]) for a in order if a in grouped]


def finding_row(f: Finding, lang: str) -> Table:
    """Verbose: one finding, every field, wrapped under its status."""
    body = Text.assemble((f"{f.check_id}  ", "bold"), clean(f.title.get(lang)))
    body.append(f"\n{subject_text(f.subject, lang)}: {observed_text(f, lang)}")
    body.append(f"\n{msg('ui.expected', lang)}: {value(f.expected, lang)}", style="dim")
    if f.reason:
        body.append(f"\n{msg('ui.reason', lang)}: {value(f.reason, lang)}", style="dim")
    return hang(Text(f"  {status_label(f.status, lang)}", STATUS_STYLE[f.status]), body, 10)


def counts(findings: Iterable[Finding], lang: str) -> str:
    """E.g. ``FAIL 10 · PASS 33 · INFO 1 · N/A 4``: passing items are counted, not listed."""
    tally = dict.fromkeys(COUNT_ORDER, 0)
    for f in findings:
        tally[f.status] += 1
    return " · ".join(f"{status_label(s, lang)} {n}" for s, n in tally.items() if n)


# ---------------------------------------------------------------- problems grouped by the fix


@dataclass
class FixGroup:
    """Problems fixed by one directive (or, for ``unknown``, of one check)."""

    fix: str | None
    findings: list[Finding] = field(default_factory=list)

    @property
    def status(self) -> Status:
        return min((f.status for f in self.findings), key=PROBLEMS.index)

    @property
    def levels(self) -> list[Level]:
        found = {f.level for f in self.findings}
        return [level for level in Level if level in found]

    def citations(self) -> list[str]:
        return list(dict.fromkeys(str(c) for f in self.findings for c in f.citations))


def fix_groups(findings: Iterable[Finding]) -> list[FixGroup]:
    """Failing, warning and undetermined findings grouped by the directive that fixes them
    (remediations that differ only in parenthetical notes are one group, shown with the
    fullest text); worst status first, then mandatory before recommended."""
    groups: dict[str, FixGroup] = {}
    for f in findings:
        if f.status not in PROBLEMS:
            continue
        if f.remediation and f.status is not Status.UNKNOWN:
            key = "fix:" + " ".join(_PARENTHETICAL.sub("", f.remediation).split())
        else:
            key = "check:" + f.check_id
        group = groups.setdefault(key, FixGroup(None))
        group.findings.append(f)
        fixes = f.remediation is not None and f.status is not Status.UNKNOWN
        if fixes and (group.fix is None or len(f.remediation or "") > len(group.fix)):
            group.fix = f.remediation
    ordered = list(groups.values())
    return sorted(
        ordered,
        key=lambda g: (PROBLEMS.index(g.status), -max(lv.strictness for lv in g.levels)),
    )


def render_group(number: int, group: FixGroup, lang: str, verbose: bool, width: int) -> Table:
    status = group.status
    head = Text.assemble(
        (status_label(status, lang), STATUS_STYLE[status]),
        "  ",
        (" / ".join(level_label(lv, lang) for lv in group.levels), "bold"),
    )
    rows: list[RenderableType] = [head]
    clauses = "; ".join(clean(c) for c in group.citations())
    if clauses:
        rows.append(hang(f"{msg('ui.clause', lang)}:", Text(clauses), label_width(lang)))
    if group.fix:
        fix = Text(clean(phrase(group.fix, lang)), "cyan")
        label = f"{msg('ui.fix', lang)}:"
        longest = max((Text(word).cell_len for word in fix.plain.split()), default=0)
        if longest > width - GROUP_INDENT - label_width(lang) - 1:
            rows.append(Group(Text(label), fix))  # a long directive gets the whole line
        else:
            rows.append(hang(label, fix, label_width(lang)))
    elif status is Status.UNKNOWN:
        rows.append(Text(msg("ui.undetermined_hint", lang), style="dim"))
    by_check: dict[str, list[Finding]] = {}
    for f in group.findings:
        by_check.setdefault(f.check_id, []).append(f)
    for check_id, members in by_check.items():
        rows.append(check_block(check_id, members, lang, verbose))
    return hang(f"{number}.", Group(*rows), GROUP_INDENT - 1)


def check_block(check_id: str, findings: list[Finding], lang: str, verbose: bool) -> Table:
    """One check of a group: its title and id, then each subject once (a suite accepted at
    several versions is one line) with the observed value; the expected value once."""
    first = findings[0]
    title = Text.assemble(clean(first.title.get(lang)), (f"  [{clean(check_id)}]", "dim"))
    expected = {value(f.expected, lang) for f in findings}
    shared = len(expected) == 1 and len(findings) > 1
    if shared:
        title.append(f"\n{msg('ui.expected', lang)}: {expected.pop()}", style="dim")
    mixed = len({x.status for x in findings}) > 1
    lines: list[Text] = []
    for subject, observed, f in merged_subjects(findings, lang, verbose):
        line = Text()
        if mixed:
            line.append(f"{status_label(f.status, lang)} ", STATUS_STYLE[f.status])
        if subject and not observed.startswith(subject):
            line.append(f"{subject}: ")
        line.append(observed)
        if not shared:
            line.append(msg("ui.expected_paren", lang, value=value(f.expected, lang)), "dim")
        if f.reason:
            line.append(f" — {value(f.reason, lang)}", style="dim")
        lines.append(line)
    return hang("-", Group(title, *(hang("", line, 1) for line in lines)), 1)


def merged_subjects(
    findings: list[Finding], lang: str, verbose: bool
) -> list[tuple[str, str, Finding]]:
    """(subject, observed, finding) per distinct subject: ``TLS 1.0 X``, ``TLS 1.1 X`` with
    the same observed value become ``X (TLS 1.0, TLS 1.1)``."""
    merged: dict[tuple[str, str], tuple[list[str], Finding]] = {}
    for f in findings:
        observed = observed_text(f, lang, verbose=verbose)
        match = _SUITE_SUBJECT.fullmatch(f.subject)
        name, version = (match.group(2), match.group(1)) if match else (f.subject, "")
        versions, _ = merged.setdefault((name, observed), ([], f))
        if version:
            versions.append(version)
    out = []
    for (name, observed), (versions, f) in merged.items():
        subject = subject_text(name, lang)
        if versions:
            subject = f"{subject} ({', '.join(versions)})"
        out.append((subject, observed, f))
    return out


# ---------------------------------------------------------------- values in words


def value(text: str, lang: str, *, verbose: bool = True) -> str:
    """An observed or expected value, a reason or an error in ``lang``, without internal names
    (suite classes, error enum values, exception class paths), safe for a terminal."""
    text = clean(text)
    classes = catalogue(lang).sections["class"]
    whole = _CLASS_LIST.fullmatch(text)
    if whole and all(name in classes for name in whole.group(1).split(" or ")):
        joined = msg("ui.or", lang).join(classes[n] for n in whole.group(1).split(" or "))
        return joined
    match = _CLASS_VALUE.fullmatch(text)
    if match and match.group(1) in classes:
        described = classes[match.group(1)]
        return f"{described}: {phrase(match.group(2), lang)}" if verbose else described
    match = _ERROR_VALUE.fullmatch(text)
    errors = catalogue(lang).sections["error"]
    if match and match.group(1) in errors:
        return f"{errors[match.group(1)]}: {phrase(strip_internal(match.group(2)), lang)}"
    return phrase(text, lang)


def observed_text(f: Finding, lang: str, *, verbose: bool = True) -> str:
    """The observed value in words; for ``cert.trust.public`` the problem and the stores
    only, without the verifier library's messages."""
    text = f.observed
    if f.check_id == "cert.trust.public":
        problem, sep, rest = text.partition(" — ")
        if sep:
            parts = [part.partition(": ") for part in rest.split("; ")]
            stores = ", ".join(names for names, colon, _ in parts if colon)
            text = f"{problem} — {stores}" if stores else problem
    return value(text, lang, verbose=verbose)


def subject_text(subject: str, lang: str) -> str:
    return phrase(clean(subject), lang)


def strip_internal(detail: str) -> str:
    """A library's exception text without class paths (``sslyze.errors.X:``)."""
    return _EXCEPTION_PATH.sub("", detail).strip()


def connectivity_text(error: ProbeError, lang: str, verbose: bool) -> str:
    """Why an endpoint could not be scanned, in words, with tlsaudit's own probe observation
    when there is one (``Probe: ...``); a library's exception text is never shown."""
    text = f"{msg('ui.not_scanned', lang)}: {msg(f'error.{error.reason.value}', lang)}"
    detail = clean(error.detail)
    probe = detail.partition(" Probe: ")[2]
    if probe:
        text += f" ({phrase(probe, lang)})"
    return text


# ---------------------------------------------------------------- coverage and summary


def render_coverage(report: Report, console: Console, lang: str) -> None:
    """The coverage notes once per report; a note that holds for some endpoints only names
    them."""
    endpoints = [e for t in report.targets for e in t.endpoints if e.facts.connectivity is None]
    notes: dict[str, list[str]] = {}
    for e in endpoints:
        for note in e.facts.coverage:
            notes.setdefault(note, []).append(e.endpoint.display)
    if not notes:
        return
    out(console, Text(""))
    out(console, Text(msg("ui.coverage", lang), style="bold"))
    for note, labels in notes.items():
        text = value(note, lang)
        if len(labels) < len(endpoints):
            text += f" ({', '.join(clean(label) for label in labels)})"
        out(console, hang("-", Text(text, style="dim"), 2))


def summary_lines(report: Report, lang: str) -> list[Text]:
    """Counts per verdict, then the targets and domains that are not compliant, could not be
    judged or could not be scanned, by name."""
    entries = [(t.target, t.verdict, t.error) for t in report.targets] + [
        (d.domain, d.verdict, d.error) for d in report.domains
    ]
    tally = {v: sum(1 for _, verdict, _ in entries if verdict is v) for v in Verdict}
    body = msg("ui.sep", lang).join(
        f"{msg(f'verdict.{v.value}', lang)} {n}" for v, n in tally.items() if n
    )
    lines = [
        Text.assemble(
            (f"{msg('ui.summary', lang)}: ", "bold"),
            msg("ui.targets", lang, n=len(entries)),
            f" — {body}" if body else "",
        )
    ]
    for verdict in (Verdict.FAIL, Verdict.UNKNOWN, Verdict.ERROR):
        named = [n for n, v, _ in entries if v is verdict]
        if not named:
            continue
        listed = msg("ui.sep", lang).join(clean(n) for n in named)
        lines.append(
            Text.assemble(
                "  ", (f"{msg(f'verdict.{verdict.value}', lang)}: ", VERDICT_STYLE[verdict]), listed
            )
        )
    return lines


# ---------------------------------------------------------------- layout


def out(console: Console, renderable: RenderableType) -> None:
    """Print without the padding rich adds to fill the width (no trailing spaces)."""
    segments: list[Segment] = []
    for line in console.render_lines(renderable, console.options, pad=False):
        while line and not line[-1].control and not line[-1].text.rstrip():
            line.pop()
        if line:
            last = line[-1]
            line[-1] = Segment(last.text.rstrip(), last.style, last.control)
        segments.extend(line)
        segments.append(Segment.line())
    console.print(Segments(segments), end="")


def heading(name: str, verdict: Verdict, lang: str) -> Text:
    """A target's or domain's heading line (wrapped, never cut like a rule's title)."""
    return Text.assemble(("■ ", "bold"), (clean(name), "bold"), "  ", verdict_text(verdict, lang))


def label_width(lang: str) -> int:
    return 7 if lang == "ja" else 8


def hang(label: str | Text, body: RenderableType, width: int | None = None) -> Table:
    """``label`` then ``body`` wrapped in the space to its right (a hanging indent)."""
    label_text = label if isinstance(label, Text) else Text(label)
    grid = Table.grid(padding=(0, 1, 0, 0))
    grid.add_column(no_wrap=True, width=width or max(label_text.cell_len, 1))
    grid.add_column(overflow="fold")
    grid.add_row(label_text, body)
    return grid
