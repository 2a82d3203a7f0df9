"""Command line of asset runs: assets check, run, history, diff, reevaluate, report, schedule.

Glue only: parse options, call :mod:`tlsaudit.batch` and the history store, pick an output,
map the run's verdict to the exit code (as ``scan``: 0, 1, 2, 3; 130 when interrupted).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, NoReturn, Self

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from tlsaudit.cli import (
    CaFileOption,
    FullOption,
    Lang,
    LangOption,
    ProfileOption,
    ResolverOption,
    TimeoutOption,
    fatal,
    language,
)
from tlsaudit.errors import TlsauditError
from tlsaudit.inventory import parse_resolver
from tlsaudit.models.findings import Verdict
from tlsaudit.models.report import Report
from tlsaudit.profiles import DEFAULT_PROFILE, load_profile
from tlsaudit.render.formats import FileFormat
from tlsaudit.render.terminal import report_console

if TYPE_CHECKING:  # the scanning and storage stack is imported by the commands that use it
    from tlsaudit.assets import AssetList, Entry
    from tlsaudit.batch import Interrupted
    from tlsaudit.distributed import ZoneStatus
    from tlsaudit.engine import Defaults
    from tlsaudit.history import History, RunSummary


class RunFormat(StrEnum):
    TERMINAL = "terminal"
    JSON = "json"
    JSONL = "jsonl"
    CSV = "csv"
    PROMETHEUS = "prometheus"
    HTML = "html"


class ListFormat(StrEnum):
    TERMINAL = "terminal"
    JSON = "json"


DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="TLSAUDIT_DB",
        help="History database: a path, sqlite:///PATH or postgresql://... "
        "(default: history.sqlite3 in the user's data directory).",
        show_default=False,
    ),
]
ConcurrencyOption = Annotated[
    int, typer.Option("--concurrency", min=1, max=512, help="Entries scanned at once.")
]
PerHostOption = Annotated[
    int, typer.Option("--per-host", min=1, help="Entries of one host scanned at once.")
]
RunFormatOption = Annotated[RunFormat, typer.Option("--format", "-f", help="Output format.")]
OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write the output to this file (atomically).")
]
BomOption = Annotated[
    bool, typer.Option("--bom", help="CSV: start with a UTF-8 byte order mark (Excel).")
]
ExpiryOption = Annotated[
    int,
    typer.Option("--expiry-days", min=0, help="List certificates expiring within this many days."),
]
NowOption = Annotated[
    str | None,
    typer.Option("--now", hidden=True, help="Evaluate as of this ISO 8601 time (tests)."),
]
TrustAnchorOption = Annotated[
    Path | None,
    typer.Option("--trust-anchor", exists=True, dir_okay=False,
                 help="DS or DNSKEY records (zone-file format) to validate DNSSEC from."),
]  # fmt: skip
_ASSETS = typer.Argument(
    help="Asset file (*.toml) or a plain list of targets, one per line ('-' = stdin).",
    show_default=False,
)
AssetsArgument = Annotated[str, _ASSETS]
RunArgument = Annotated[
    int | None, typer.Argument(help="Run id (default: the newest run).", show_default=False)
]

assets_app = typer.Typer(help="Validate asset files.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the asset-run commands to the ``tlsaudit`` command line."""
    app.add_typer(assets_app, name="assets")
    for command in (run, worker, history, diff, reevaluate, report, schedule):
        app.command()(command)


def _now(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fatal(f"--now {text!r}: not an ISO 8601 time")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _load(path: str) -> AssetList:
    from tlsaudit.assets import AssetFileError, load_assets

    try:
        return load_assets(path)
    except AssetFileError as exc:
        _refuse(exc.errors)
    except TlsauditError as exc:
        fatal(str(exc))


def _refuse(problems: Sequence[object]) -> NoReturn:
    console = Console(stderr=True, soft_wrap=True, highlight=False)
    for problem in problems:
        console.print(f"{problem}", style="red")
    fatal(f"{len(problems)} mistake(s) in the asset list")


def _open(db: str | None) -> History:
    from tlsaudit.history import open_history

    try:
        return open_history(db)
    except TlsauditError as exc:
        fatal(str(exc))


@assets_app.command("check")
def assets_check(assets: AssetsArgument) -> None:
    """Validate an asset file or list: every mistake as file:line: key: problem."""
    loaded = _load(assets)
    if loaded.problems:
        _refuse(list(loaded.problems))
    kinds = Counter(e.kind for e in loaded.entries)
    Console(soft_wrap=True, highlight=False).print(
        f"{loaded.source}: OK: {kinds['tls']} endpoint(s), {kinds['domain']} domain(s), "
        f"{loaded.excluded} excluded"
    )


class _Bars:
    """Rich progress bars on stderr (only on a terminal): done/total, a detail, ETA."""

    def __init__(self) -> None:
        self.console = Console(stderr=True)
        self.progress: Progress | None = None

    def __enter__(self) -> Self:
        if self.console.is_terminal:
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[detail]}"),
                TimeRemainingColumn(),
                console=self.console,
            )
            self.progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self.progress is not None:
            self.progress.stop()


class _BatchProgress(_Bars):
    """One bar for a local run, with its verdicts."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[Verdict] = Counter()
        self.task: TaskID | None = None

    def _tally(self) -> str:
        c = self.counts
        return (
            f"[green]pass {c[Verdict.PASS]}[/] [red]fail {c[Verdict.FAIL]}[/] "
            f"[magenta]error {c[Verdict.ERROR] + c[Verdict.UNKNOWN]}[/]"
        )

    def started(self, run_id: int, total: int, done: int) -> None:
        if self.progress is not None:
            self.task = self.progress.add_task(
                f"Run #{run_id}", total=total, completed=done, detail=self._tally()
            )

    def finished(self, entry: Entry, verdict: Verdict) -> None:
        self.counts[verdict] += 1
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, advance=1, detail=self._tally())

    def interrupted(self, running: int) -> None:
        self.console.print(
            f"Interrupted: storing the {running} scan(s) under way; interrupt again to abandon them"
        )


def _terminate(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM (kill, systemd stop) stops a run like Ctrl-C


def run(
    assets: Annotated[str | None, _ASSETS] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Finish the last interrupted run of this list.")
    ] = False,
    concurrency: ConcurrencyOption = 16,
    per_host: PerHostOption = 2,
    recycle_after: Annotated[
        int,
        typer.Option(
            "--recycle-after",
            min=0,
            help="Entries per worker process before a fresh one (bounds memory); "
            "0 = all in this process.",
        ),
    ] = 200,
    db: DbOption = None,
    output_format: RunFormatOption = RunFormat.TERMINAL,
    output: OutputOption = None,
    profile: ProfileOption = DEFAULT_PROFILE,
    ca_file: CaFileOption = None,
    timeout: TimeoutOption = 5.0,
    resolver: ResolverOption = None,
    trust_anchor: TrustAnchorOption = None,
    full: FullOption = False,
    lang: LangOption = None,
    expiry_days: ExpiryOption = 30,
    bom: BomOption = False,
    now: NowOption = None,
    distributed: Annotated[
        bool,
        typer.Option("--distributed",
                     help="Queue the entries for `tlsaudit worker` processes (PostgreSQL --db)."),
    ] = False,
    wait: Annotated[
        bool,
        typer.Option("--wait", help="--distributed: follow the run until every entry is stored, "
                     "then write the outputs."),
    ] = False,
    status: Annotated[
        int | None,
        typer.Option("--status", metavar="RUN", show_default=False,
                     help="Show a distributed run's entries per zone: done, running, queued, "
                     "failed."),
    ] = None,
) -> None:  # fmt: skip
    """Audit every entry of an asset list, store each result as it finishes, print a summary."""
    from tlsaudit.batch import BatchOptions, Interrupted, defaults_from, run_batch
    from tlsaudit.engine import Defaults

    if status is not None:
        _show_status(db, status)
    if assets is None:
        fatal("give an asset list (or --status RUN)")
    if wait and not distributed:
        fatal("--wait follows a --distributed run")
    if distributed and resume:
        fatal("--resume finishes a local run; a distributed run's queue keeps what is left")
    _writable(output)
    loaded = _load(assets)
    if loaded.errors:
        _refuse(list(loaded.errors))
    pinned = _now(now)
    try:
        load_profile(profile)
        if resolver:
            parse_resolver(resolver)
    except TlsauditError as exc:
        fatal(str(exc))
    defaults = Defaults(profile, ca_file, timeout, resolver, trust_anchor, full)
    if distributed:
        _need_procrastinate()
        run_id = _distribute(db, loaded, defaults, per_host, pinned, wait)
        with _open(db) as store:
            _finish(store, store.run(run_id), output_format, output, lang, expiry_days, bom, pinned)
    with _open(db) as store:
        previous = None
        if resume:
            previous = store.last_unfinished(loaded.sha256)
            if previous is None:
                fatal(f"{loaded.source}: no interrupted run of this list to resume")
            defaults = defaults_from(store.settings(previous.id))
        options = BatchOptions(concurrency, per_host, pinned, recycle_after)
        signal.signal(signal.SIGTERM, _terminate)
        try:
            with _BatchProgress() as progress:
                run_id = run_batch(loaded, store, defaults, options, progress, resume=previous)
        except Interrupted as stop:
            _interrupted(store, stop, loaded)
        except TlsauditError as exc:
            fatal(str(exc))
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        summary = store.run(run_id)
        _finish(store, summary, output_format, output, lang, expiry_days, bom, pinned)


def _need_procrastinate() -> None:
    """A one-line error when the ``distributed`` extra is not installed."""
    if importlib.util.find_spec("procrastinate") is None:
        fatal("distributed runs need procrastinate: pip install 'tlsaudit[distributed]'")


def _distribute(
    db: str | None,
    loaded: AssetList,
    defaults: Defaults,
    per_host: int,
    pinned: datetime | None,
    wait: bool,
) -> int:
    """Queue the run's entries; follow it with --wait (return its id), else exit."""
    from tlsaudit import distributed
    from tlsaudit.history import default_url

    try:
        distributed.conninfo(db or default_url())
    except TlsauditError as exc:
        fatal(str(exc))
    console = Console(stderr=True, soft_wrap=True, highlight=False)
    with _open(db) as store:
        try:
            run_id = distributed.enqueue_run(loaded, store, defaults, per_host, pinned)
        except TlsauditError as exc:
            fatal(str(exc))
        zones = Counter(e.settings.zone or "(none)" for e in loaded.entries)
        per_zone = ", ".join(f"zone {z}: {n}" for z, n in sorted(zones.items()))
        console.print(f"Run #{run_id}: {len(loaded.entries)} entries queued ({per_zone})")
        if not wait:
            console.print(f"Follow it with: tlsaudit run --status {run_id}")
            raise typer.Exit(0)
        try:
            with _ZoneProgress(run_id) as progress:
                distributed.follow(store, run_id, progress.show)
        except KeyboardInterrupt:
            console.print(f"Stopped following run #{run_id}; its entries stay queued for the "
                          f"workers (tlsaudit run --status {run_id})")  # fmt: skip
            raise typer.Exit(130) from None
        except TlsauditError as exc:
            fatal(str(exc))
    return run_id


class _ZoneProgress(_Bars):
    """A distributed run's progress: one bar per zone."""

    def __init__(self, run_id: int) -> None:
        super().__init__()
        self.run_id = run_id
        self.tasks: dict[str, TaskID] = {}

    def show(self, status: list[ZoneStatus]) -> None:
        if self.progress is None:
            return
        for zone in status:
            states = (f"[cyan]running {zone.running}[/] queued {zone.queued} "
                      f"[magenta]failed {zone.failed}[/]")  # fmt: skip
            if zone.name not in self.tasks:
                self.tasks[zone.name] = self.progress.add_task(
                    f"Run #{self.run_id} zone {zone.name}", total=zone.total, detail=states
                )
            done = zone.done + zone.failed
            self.progress.update(self.tasks[zone.name], completed=done, detail=states)


def _show_status(db: str | None, run_id: int) -> NoReturn:
    """Print a distributed run's entries per zone and whether it is finished."""
    _need_procrastinate()
    from tlsaudit.distributed import run_status

    with _open(db) as store:
        try:
            status = run_status(store, run_id)
            summary = store.run(run_id)
        except TlsauditError as exc:
            fatal(str(exc))
    table = Table(title=f"Run #{run_id}: " + ("finished" if summary.finished_at else "running"))
    for column in ("zone", "done", "running", "queued", "failed", "total"):
        table.add_column(column, justify="left" if column == "zone" else "right")
    for zone in status:
        counts = (zone.done, zone.running, zone.queued, zone.failed, zone.total)
        table.add_row(zone.name, *(str(n) for n in counts))
    report_console().print(table)
    raise typer.Exit(0)


def worker(
    db: DbOption = None,
    zone: Annotated[
        str | None,
        typer.Option("--zone", show_default=False,
                     help="Take the entries of this zone (default: the entries without one)."),
    ] = None,
    concurrency: ConcurrencyOption = 8,
    tries: Annotated[
        int, typer.Option("--tries", min=1, help="Tries per entry before its error is stored.")
    ] = 3,
    retry_after: Annotated[
        int, typer.Option("--retry-after", min=0, help="Seconds before an entry that ended "
                          "in an error is tried again.")
    ] = 60,
    stalled_after: Annotated[
        float, typer.Option("--stalled-after", min=1, help="Seconds without a heartbeat after "
                            "which a worker's entries go back to the queue.")
    ] = 30,
    until_empty: Annotated[
        bool,
        typer.Option("--until-empty", help="Stop once its queue holds nothing queued or running."),
    ] = False,
) -> None:  # fmt: skip
    """Scan the entries of distributed runs from the queue in the --db PostgreSQL database."""
    from tlsaudit.assets import ZONE_PATTERN, ZONE_RULE
    from tlsaudit.history import default_url

    if zone is not None and not re.fullmatch(ZONE_PATTERN, zone):
        fatal(f"--zone {zone!r}: {ZONE_RULE}")
    _need_procrastinate()
    from tlsaudit.distributed import WorkerOptions, work

    options = WorkerOptions(zone, concurrency, tries, retry_after, stalled_after, until_empty)
    try:
        work(db or default_url(), options)
    except TlsauditError as exc:
        fatal(str(exc))


def _writable(output: Path | None) -> None:
    """Refuse an --output in a missing folder before scanning, not after."""
    if output is not None and not output.parent.is_dir():
        fatal(f"--output {output}: folder {output.parent} does not exist")


def _interrupted(store: History, stop: Interrupted, loaded: AssetList) -> NoReturn:
    from tlsaudit.batch import INTERRUPTED

    stored = len(store.finished_keys(stop.run_id))
    Console(stderr=True, soft_wrap=True).print(
        f"Run #{stop.run_id} interrupted: {stored} of {len(loaded.entries)} result(s) stored. "
        f"Finish it with: tlsaudit run {loaded.source} --resume",
        highlight=False,
    )
    if stop.abandoned:  # scans still running in threads: do not wait for them
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(INTERRUPTED)
    raise typer.Exit(INTERRUPTED)


def _finish(
    store: History,
    summary: RunSummary,
    output_format: RunFormat,
    output: Path | None,
    lang: Lang | None,
    expiry_days: int,
    bom: bool,
    pinned: datetime | None,
) -> NoReturn:
    """Write the run in the asked format and the summary; exit with the run's code."""
    from tlsaudit.batch import run_report
    from tlsaudit.engine import exit_code
    from tlsaudit.render.runs import render_summary

    report = run_report(store, summary)
    chosen = language(lang)
    moment = pinned or summary.evaluated_at or report.finished_at
    data_on_stdout = output_format is not RunFormat.TERMINAL and output is None
    if output_format is not RunFormat.TERMINAL:
        _write(store, report, summary, FileFormat(output_format.value), output,
               chosen, moment, bom, expiry_days)  # fmt: skip
    console = Console(stderr=True) if data_on_stdout else report_console()
    if not data_on_stdout or console.is_terminal:
        render_summary(report, console, chosen, moment, expiry_days)
    raise typer.Exit(exit_code(report))


def _write(
    store: History,
    report: Report,
    summary: RunSummary,
    fmt: FileFormat,
    output: Path | None,
    lang: str,
    now: datetime,
    bom: bool,
    expiry_days: int,
) -> None:
    from tlsaudit.render.outputs import render_as, write_atomic

    trend: list[RunSummary] = []
    if fmt is FileFormat.HTML:
        trend = [r for r in store.runs(limit=200) if r.source == summary.source]
        trend = [r for r in trend if r.id <= summary.id][:30]
    text = render_as(report, fmt, lang=lang, now=now, bom=bom, expiry_days=expiry_days, trend=trend)
    if output is None:
        sys.stdout.write(text)
        return
    try:
        write_atomic(output, text)
    except OSError as exc:
        fatal(f"{output}: cannot write: {exc.strerror}", code=3)


def history(
    target: Annotated[
        str | None,
        typer.Argument(help="Entry key or target as written (default: list the runs).",
                       show_default=False),
    ] = None,
    output_format: Annotated[ListFormat, typer.Option("--format", "-f")] = ListFormat.TERMINAL,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many rows.")] = 20,
    db: DbOption = None,
) -> None:  # fmt: skip
    """Past runs (or one target's results) and their verdicts, newest first."""
    from tlsaudit.history import HistoryDocument
    from tlsaudit.render.runs import render_history, render_target_history

    with _open(db) as store:
        try:
            if target is None:
                document = HistoryDocument(runs=store.runs(limit=limit))
            else:
                results = store.target_history(target, limit)
                if not results:
                    fatal(f"{target}: not in the history (give the target as written or its key)")
                document = HistoryDocument(target=target, results=results)
        except TlsauditError as exc:
            fatal(str(exc))
    if output_format is ListFormat.JSON:
        sys.stdout.write(document.model_dump_json(indent=2) + "\n")
    elif target is None:
        render_history(document.runs, report_console())
    else:
        render_target_history(document.results, report_console())


def diff(
    run_a: Annotated[int | None, typer.Argument(help="Older run.", show_default=False)] = None,
    run_b: Annotated[int | None, typer.Argument(help="Newer run.", show_default=False)] = None,
    output_format: Annotated[ListFormat, typer.Option("--format", "-f")] = ListFormat.TERMINAL,
    db: DbOption = None,
) -> None:
    """What changed between two runs (default: the last two finished runs)."""
    from tlsaudit.diff import diff_runs
    from tlsaudit.render.runs import render_diff

    if (run_a is None) != (run_b is None):
        fatal("give two runs, or none for the last two")
    with _open(db) as store:
        try:
            if run_a is None or run_b is None:
                last = store.runs(limit=2, finished_only=True)
                if len(last) < 2:
                    fatal("the history holds fewer than two finished runs")
                first, second = last[1], last[0]
            else:
                first, second = store.run(run_a), store.run(run_b)
            changes = diff_runs(
                first.id, store.results(first.id), second.id, store.results(second.id)
            )
        except TlsauditError as exc:
            fatal(str(exc))
    if output_format is ListFormat.JSON:
        sys.stdout.write(changes.model_dump_json(indent=2) + "\n")
    else:
        render_diff(changes, report_console())


def reevaluate(
    run_id: RunArgument = None,
    profile: Annotated[
        str | None,
        typer.Option("--profile", "-p",
                     help="Profile id or TOML path (default: each entry's own profile)."),
    ] = None,
    db: DbOption = None,
    output_format: RunFormatOption = RunFormat.TERMINAL,
    output: OutputOption = None,
    lang: LangOption = None,
    expiry_days: ExpiryOption = 30,
    bom: BomOption = False,
    now: NowOption = None,
) -> None:  # fmt: skip
    """Judge a run's stored facts again (no network); stored as a new run."""
    from tlsaudit import batch

    _writable(output)
    pinned = _now(now)
    with _open(db) as store:
        try:
            if profile is not None:
                load_profile(profile)
            source = store.run(run_id, finished_only=run_id is None)
            new_id = batch.reevaluate(store, source, profile, pinned)
            summary = store.run(new_id)
        except TlsauditError as exc:
            fatal(str(exc))
        _finish(store, summary, output_format, output, lang, expiry_days, bom, pinned)


def report(
    run_id: RunArgument = None,
    output_format: Annotated[
        FileFormat, typer.Option("--format", "-f", help="Output format.")
    ] = FileFormat.HTML,
    output: OutputOption = None,
    db: DbOption = None,
    lang: LangOption = None,
    expiry_days: ExpiryOption = 30,
    bom: BomOption = False,
    now: NowOption = None,
) -> None:
    """Write a stored run as an HTML report for auditors, JSON, JSON Lines, CSV or Prometheus."""
    from tlsaudit.batch import run_report

    pinned = _now(now)
    with _open(db) as store:
        try:
            summary = store.run(run_id)
            stored = run_report(store, summary)
        except TlsauditError as exc:
            fatal(str(exc))
        moment = pinned or summary.evaluated_at or stored.finished_at
        _write(store, stored, summary, output_format, output, language(lang), moment, bom,
               expiry_days)  # fmt: skip


_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_every(text: str) -> int:
    """``24h``, ``90m``, ``1h30m``, ``1d``, ``45s`` -> seconds."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        raise ValueError(f"--every {text!r}: use e.g. 24h, 30m, 1h30m, 1d")
    seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError(f"--every {text!r}: must be longer than zero")
    return seconds


def schedule(
    assets: AssetsArgument,
    every: Annotated[
        str | None, typer.Option("--every", help="Interval: 24h, 30m, 1h30m, 1d.")
    ] = None,
    cron: Annotated[
        str | None, typer.Option("--cron", help="Crontab expression, e.g. '0 2 * * *'.")
    ] = None,
    concurrency: ConcurrencyOption = 16,
    per_host: PerHostOption = 2,
    db: DbOption = None,
    output_format: RunFormatOption = RunFormat.TERMINAL,
    output: OutputOption = None,
    profile: ProfileOption = DEFAULT_PROFILE,
    ca_file: CaFileOption = None,
    timeout: TimeoutOption = 5.0,
    resolver: ResolverOption = None,
    trust_anchor: TrustAnchorOption = None,
    expiry_days: ExpiryOption = 30,
    max_runs: Annotated[int | None, typer.Option("--max-runs", hidden=True, min=1)] = None,
) -> None:
    """Run an asset list periodically, for hosts without systemd timers or cron."""
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    if (every is None) == (cron is None):
        fatal("give one of --every or --cron")
    loaded = _load(assets)
    if loaded.errors:
        _refuse(list(loaded.errors))
    try:
        trigger = (
            IntervalTrigger(seconds=parse_every(every)) if every is not None
            else CronTrigger.from_crontab(cron or "", timezone=UTC)
        )  # fmt: skip
    except ValueError as exc:
        fatal(str(exc))
    command = [sys.executable, "-m", "tlsaudit", "run", assets, "--concurrency", str(concurrency),
               "--per-host", str(per_host), "--format", output_format.value, "--profile", profile,
               "--timeout", str(timeout), "--expiry-days", str(expiry_days)]  # fmt: skip
    for flag, value in (("--db", db), ("--output", output), ("--ca-file", ca_file),
                        ("--resolver", resolver), ("--trust-anchor", trust_anchor)):  # fmt: skip
        if value is not None:
            command += [flag, str(value)]
    scheduler = BlockingScheduler(timezone=UTC)
    console = Console(soft_wrap=True, highlight=False)
    runs = 0

    def job() -> None:
        nonlocal runs
        started = datetime.now(UTC)
        code = subprocess.run(command, check=False).returncode
        runs += 1
        console.print(f"{started:%Y-%m-%d %H:%M:%S} UTC: tlsaudit run exited with {code}")
        if max_runs is not None and runs >= max_runs:
            scheduler.shutdown(wait=False)

    first = {"next_run_time": datetime.now(UTC)} if every is not None else {}  # interval: now
    scheduler.add_job(job, trigger, max_instances=1, coalesce=True, **first)
    console.print(f"Scheduled: {' '.join(command[1:])} ({every or cron}); Ctrl-C to stop")
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        scheduler.start()
