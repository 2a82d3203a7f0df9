"""Terminal report (rich): verdict first, then one table per area, then one line per problem."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from rich.table import Table
from rich.text import Text

from tlsaudit.models.findings import Finding, Status, Verdict
from tlsaudit.models.report import (
    DomainReport,
    EndpointReport,
    Group,
    ProfileRef,
    Report,
    TargetReport,
    group_of,
)

# UI strings; CRYPTREC terms stay in Japanese in both languages.
_UI: dict[str, tuple[str, str]] = {
    "profile": ("Profile", "プロファイル"),
    "verdict": ("Verdict", "判定"),
    "target": ("target(s)", "件"),
    "endpoint": ("Endpoint", "接続先"),
    "status": ("Status", "結果"),
    "check": ("Check", "検査項目"),
    "subject": ("Subject", "対象"),
    "observed": ("Observed", "観測値"),
    "expected": ("Expected", "期待値"),
    "problems": ("To fix", "要対応"),
    "fix": ("fix", "対処"),
    "not_scanned": ("could not be scanned", "検査できませんでした"),
    "coverage": ("Coverage", "検査範囲の注記"),
    "across": ("Across addresses", "アドレス間の比較"),
    "summary": ("Summary", "集計"),
    "area.protocol": ("Protocol versions", "プロトコルバージョン"),
    "area.cipher": ("Cipher suites", "暗号スイート"),
    "area.kex": ("Key exchange", "鍵交換"),
    "area.cert": ("Certificates", "サーバ証明書"),
    "area.other": ("Vulnerabilities and other settings", "脆弱性とその他の設定"),
    "group.mail_authentication": ("Mail authentication", "送信ドメイン認証"),
    "group.mail_transport": ("Mail transport", "メール転送の暗号化"),
    "group.dns": ("DNS", "DNS"),
}

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
VERDICT_TEXT = {
    Verdict.PASS: ("COMPLIANT", "適合"),
    Verdict.FAIL: ("NOT COMPLIANT", "不適合"),
    Verdict.UNKNOWN: ("COULD NOT DETERMINE", "判定不能"),
    Verdict.ERROR: ("NOT SCANNED", "検査不能"),
}
AREAS = (
    ("tls.protocol", "area.protocol"),
    ("tls.cipher", "area.cipher"),
    ("tls.kex", "area.kex"),
    ("cert.", "area.cert"),
)
PROBLEMS = (Status.FAIL, Status.WARN, Status.UNKNOWN)
EXPLAINED = (Status.UNKNOWN, Status.NOT_APPLICABLE)
"""Statuses whose reason is shown next to the observed value."""


def status_label(status: Status) -> str:
    return "N/A" if status is Status.NOT_APPLICABLE else status.value.upper()


def ui(key: str, lang: str) -> str:
    en, ja = _UI[key]
    return ja if lang == "ja" else en


def verdict_text(verdict: Verdict, lang: str) -> Text:
    en, ja = VERDICT_TEXT[verdict]
    return Text(ja if lang == "ja" else en, style=VERDICT_STYLE[verdict])


def area_of(check_id: str) -> str:
    return next((area for prefix, area in AREAS if check_id.startswith(prefix)), "area.other")


def profile_line(profile: ProfileRef) -> str:
    """Name, version and the document editions the profile encodes."""
    editions = f"; {', '.join(profile.editions)}" if profile.editions else ""
    return f"{profile.name} ({profile.version}{editions})"


def render_terminal(report: Report, console: Console, lang: str = "en") -> None:
    header = Text.assemble(
        (f"{ui('verdict', lang)}: ", "bold"),
        verdict_text(report.verdict, lang),
        f"   {ui('profile', lang)}: {profile_line(report.profile)}",
    )
    console.print(header)
    for target in report.targets:
        render_target(target, console, lang)
    for domain in report.domains:
        render_domain(domain, console, lang)
    console.print(summary(report, lang))


def render_target(target: TargetReport, console: Console, lang: str) -> None:
    console.rule(Text.assemble(f"{target.target}  ", verdict_text(target.verdict, lang)))
    if target.error:
        console.print(Text(f"{ui('not_scanned', lang)}: {target.error}", style="magenta"))
        return
    for endpoint in target.endpoints:
        render_endpoint(endpoint, console, lang)
    if target.findings:
        console.print(findings_table(ui("across", lang), target.findings, lang))
        render_problems(target.findings, console, lang)


def render_domain(report: DomainReport, console: Console, lang: str) -> None:
    """Mail authentication / Mail transport / DNS, each with its verdict and table."""
    console.rule(Text.assemble(f"{report.domain}  ", verdict_text(report.verdict, lang)))
    if report.error:
        console.print(Text(f"{ui('not_scanned', lang)}: {report.error}", style="magenta"))
        return
    verdicts = {g.group: g.verdict for g in report.groups}
    for group in Group:
        findings = [f for f in report.findings if group_of(f.check_id) is group]
        title = Text.assemble(
            (f"{ui(f'group.{group.value}', lang)}  ", "bold"), verdict_text(verdicts[group], lang)
        )
        console.print(title)
        if findings:
            console.print(findings_table("", findings, lang))
    render_problems(report.findings, console, lang)


def render_endpoint(report: EndpointReport, console: Console, lang: str) -> None:
    title = Text.assemble(
        (f"{ui('endpoint', lang)}: {report.endpoint.label}  ", "bold"),
        verdict_text(report.verdict, lang),
    )
    console.print(title)
    error = report.facts.connectivity
    if error is not None:
        console.print(
            Text(f"  {ui('not_scanned', lang)}: {error.reason.value}: {error.detail}", "magenta")
        )
        return
    render_findings(report.findings, console, lang)
    for note in report.facts.coverage:
        console.print(Text(f"  {ui('coverage', lang)}: {note}", style="dim"))


def render_findings(findings: list[Finding], console: Console, lang: str) -> None:
    """One table per area (in a fixed order), then the problems, one line each."""
    grouped: dict[str, list[Finding]] = {}
    for finding in findings:
        grouped.setdefault(area_of(finding.check_id), []).append(finding)
    order = [area for _, area in AREAS] + ["area.other"]
    for area in dict.fromkeys(order):
        if area in grouped:
            console.print(findings_table(ui(area, lang), grouped[area], lang))
    render_problems(findings, console, lang)


def findings_table(title: str, findings: Iterable[Finding], lang: str) -> Table:
    table = Table(title=title, title_justify="left", expand=False, show_lines=False)
    table.add_column(ui("status", lang), no_wrap=True)
    table.add_column(ui("check", lang), no_wrap=True)
    table.add_column(ui("subject", lang))
    table.add_column(ui("observed", lang))
    table.add_column(ui("expected", lang))
    for f in findings:
        table.add_row(
            Text(status_label(f.status), style=STATUS_STYLE[f.status]),
            f.check_id,
            f.subject,
            f"{f.observed}: {f.reason}" if f.status in EXPLAINED and f.reason else f.observed,
            f.expected,
        )
    return table


def render_problems(findings: Iterable[Finding], console: Console, lang: str) -> None:
    problems = [f for f in findings if f.status in PROBLEMS]
    if not problems:
        return
    console.print(Text(ui("problems", lang), style="bold"))
    for f in sorted(problems, key=lambda f: list(Status).index(f.status)):
        console.print(problem_line(f, lang), soft_wrap=True)


def problem_line(f: Finding, lang: str) -> Text:
    """Status, check id, title, subject, observed value, clause and fix on one line."""
    clauses = ", ".join(str(c) for c in f.citations)
    parts: list[str | tuple[str, str]] = [
        (f"  {f.status.value.upper():7} ", STATUS_STYLE[f.status]),
        (f"{f.check_id} ", "bold"),
        f"{f.title.get(lang)}: {f.subject}: {f.observed}",
    ]
    if f.reason:
        parts.append(f" ({f.reason})")
    if clauses:
        parts.append((f" [{clauses}]", "dim"))
    if f.remediation:
        parts.append((f" {ui('fix', lang)}: {f.remediation}", "cyan"))
    return Text.assemble(*parts)


def summary(report: Report, lang: str) -> Text:
    counts = {v: report.verdicts.count(v) for v in Verdict}
    body = ", ".join(
        f"{VERDICT_TEXT[v][1 if lang == 'ja' else 0]} {n}" for v, n in counts.items() if n
    )
    total = len(report.verdicts)
    return Text(f"{ui('summary', lang)}: {total} {ui('target', lang)} — {body}")
