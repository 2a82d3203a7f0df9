"""Terminal output of asset runs: a run's summary, the history list, a diff (rich)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.console import Console
from rich.table import Table

from tlsaudit.diff import DiffReport
from tlsaudit.history import RunSummary, TargetHistoryRow
from tlsaudit.models.findings import Status, Verdict
from tlsaudit.models.report import Report
from tlsaudit.render.terminal import VERDICT_STYLE
from tlsaudit.render.views import expiring, rows

_UI: dict[str, tuple[str, str]] = {
    "run": ("Run", "実行"),
    "incomplete": (
        "incomplete (interrupted: tlsaudit run ... --resume)",
        "未完了（--resume で再開）",
    ),
    "failing": ("Not compliant", "不適合"),
    "errors": ("Could not be scanned or judged", "検査・判定できなかった対象"),
    "expiring": ("Certificates expiring within {days} days", "{days} 日以内に期限切れの証明書"),
    "target": ("Target", "対象"),
    "failures": ("Failing checks", "不適合の検査項目"),
    "reason": ("Reason", "理由"),
    "endpoint": ("Endpoint", "接続先"),
    "expires": ("Expires", "有効期限"),
    "days": ("Days", "残日数"),
}


def _t(key: str, lang: str, **values: object) -> str:
    en, ja = _UI[key]
    return (ja if lang == "ja" else en).format(**values)


def render_summary(
    report: Report, console: Console, lang: str, now: datetime, expiry_days: int
) -> None:
    items = rows(report)
    counts = {v: sum(r.item.verdict is v for r in items) for v in Verdict}
    run = report.run
    head = f"{_t('run', lang)} #{run.id}" if run else _t("run", lang)
    tally = "  ".join(f"[{VERDICT_STYLE[v]}]{v.value}[/] {counts[v]}" for v in Verdict)
    console.print(f"[bold]{head}[/bold]  {report.profile.id}  {len(items)} target(s)  {tally}")
    if run is not None and not run.complete:
        console.print(f"[yellow]{_t('incomplete', lang)}[/yellow]")
    failing = [r for r in items if r.item.verdict is Verdict.FAIL]
    if failing:
        table = Table(title=_t("failing", lang), title_justify="left")
        table.add_column(_t("target", lang))
        table.add_column(_t("failures", lang))
        for r in failing:
            ids = sorted({f.check_id for _, f in r.findings if f.status is Status.FAIL})
            table.add_row(r.name, ", ".join(ids))
        console.print(table)
    broken = [r for r in items if r.item.verdict in (Verdict.ERROR, Verdict.UNKNOWN)]
    if broken:
        table = Table(title=_t("errors", lang), title_justify="left")
        table.add_column(_t("target", lang))
        table.add_column(_t("reason", lang))
        for r in broken:
            unknown = sorted(
                {f.check_id for _, f in r.findings if f.status is Status.UNKNOWN}
            )  # fmt: skip
            table.add_row(r.name, r.error or f"{r.item.verdict.value}: {', '.join(unknown)}")
        console.print(table)
    certs = expiring(report, now, expiry_days)
    if certs:
        table = Table(title=_t("expiring", lang, days=expiry_days), title_justify="left")
        for key in ("target", "endpoint", "expires", "days"):
            table.add_column(_t(key, lang))
        for c in certs:
            table.add_row(
                c.target, c.endpoint, f"{c.not_after:%Y-%m-%d}", f"{c.days_left(now):.0f}"
            )
        console.print(table)


def render_history(runs: Sequence[RunSummary], console: Console) -> None:
    table = Table()
    for name in ("run", "kind", "started (UTC)", "finished", "profile", "source", "verdict"):
        table.add_column(name)
    for v in Verdict:
        table.add_column(v.value, justify="right")
    for run in runs:
        finished = f"{run.finished_at:%H:%M:%S}" if run.finished_at else "[yellow]interrupted[/]"
        kind = run.kind if run.parent is None else f"{run.kind} of #{run.parent}"
        verdict = run.verdict.value if run.verdict else "-"
        style = VERDICT_STYLE.get(run.verdict) if run.verdict else None
        table.add_row(
            str(run.id),
            kind,
            f"{run.started_at:%Y-%m-%d %H:%M:%S}",
            finished,
            run.profile.id,
            run.source or "",
            f"[{style}]{verdict}[/]" if style else verdict,
            *(str(run.counts.get(v.value, 0)) for v in Verdict),
        )
    console.print(table)


def render_target_history(history: Sequence[TargetHistoryRow], console: Console) -> None:
    table = Table()
    for name in ("run", "started (UTC)", "target", "verdict", "failing", "error"):
        table.add_column(name)
    for row in history:
        table.add_row(
            str(row.run),
            f"{row.started_at:%Y-%m-%d %H:%M:%S}",
            row.key,
            f"[{VERDICT_STYLE[row.verdict]}]{row.verdict.value}[/]",
            str(row.failures),
            row.error or "",
        )
    console.print(table)


def render_diff(diff: DiffReport, console: Console) -> None:
    console.print(f"[bold]Run #{diff.run_a} → #{diff.run_b}[/bold]")
    if diff.empty:
        console.print("No change.")
        return

    def section(title: str, columns: Sequence[str], lines: list[list[str]]) -> None:
        if not lines:
            return
        table = Table(title=f"{title} ({len(lines)})", title_justify="left")
        for column in columns:
            table.add_column(column)
        for line in lines:
            table.add_row(*line)
        console.print(table)

    section("New failures", ("target", "endpoint", "check", "subject", "before", "observed"), [
        [c.key, c.endpoint, c.check_id, c.subject, c.before.value if c.before else "-", c.observed]
        for c in diff.new_failures
    ])  # fmt: skip
    section("Fixed", ("target", "endpoint", "check", "subject", "now"), [
        [c.key, c.endpoint, c.check_id, c.subject, c.after.value if c.after else "gone"]
        for c in diff.fixed
    ])  # fmt: skip
    section("Verdict changes", ("target", "before", "after"), [
        [c.key, c.before.value, c.after.value] for c in diff.verdict_changes
    ])  # fmt: skip
    section("Certificate renewals", ("target", "endpoint", "before", "after"), [
        [
            c.key,
            c.endpoint,
            "\n".join(f"{x.sha256[:16]} until {x.not_after:%Y-%m-%d}" for x in c.before),
            "\n".join(f"{x.sha256[:16]} until {x.not_after:%Y-%m-%d}" for x in c.after),
        ]
        for c in diff.renewals
    ])  # fmt: skip
    section("Targets appeared", ("target", "kind"), [[t.key, t.kind] for t in diff.appeared])
    section("Targets vanished", ("target", "kind"), [[t.key, t.kind] for t in diff.vanished])
    section("Endpoints appeared", ("target", "endpoint"), [
        [e.key, e.endpoint] for e in diff.endpoints_appeared
    ])  # fmt: skip
    section("Endpoints vanished", ("target", "endpoint"), [
        [e.key, e.endpoint] for e in diff.endpoints_vanished
    ])  # fmt: skip
