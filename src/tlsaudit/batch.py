"""Asset runs: scan every entry of a list with bounded concurrency, store each result as it
finishes, resume an interrupted run, judge a stored run again.

Concurrency is one thread pool (sslyze is thread-based) fed by this module's scheduler,
which starts an entry only while fewer than ``per_host`` entries of the same host (address,
else name) are running. Results are written by the scheduling thread alone, each in its own
transaction. The core reports progress through an :class:`Observer`; only the command line
turns it into a display.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import multiprocessing.process
import queue
import signal
import sys
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any, Protocol

from tlsaudit.assets import AssetList, Entry
from tlsaudit.engine import TOOL, Defaults, Profiles, Result, judge, scan_entry
from tlsaudit.engine import failed as engine_failed
from tlsaudit.errors import InputError
from tlsaudit.history import History, RunSummary, Stored, open_history
from tlsaudit.models.findings import Verdict
from tlsaudit.models.report import DomainReport, Report, RunRef, TargetReport, combine


@dataclass(frozen=True)
class BatchOptions:
    concurrency: int = 16
    """Entries scanned at once."""
    per_host: int = 2
    """Entries of one host scanned at once (each opens up to 5 TLS connections)."""
    now: datetime | None = None
    """Evaluation time; None = the clock when each entry is judged."""
    recycle_after: int = 200
    """Scan at most this many entries per worker process, then start a fresh one (the TLS
    engine's native memory grows by about 1 MB per endpoint and is only returned when its
    process ends); 0 = scan everything in this process. A batch no larger than this is
    scanned in this process."""


class Observer(Protocol):
    """Progress events of a batch (the command line draws them)."""

    def started(self, run_id: int, total: int, done: int) -> None: ...

    def finished(self, entry: Entry, verdict: Verdict) -> None: ...

    def interrupted(self, running: int) -> None: ...


INTERRUPTED = 130
"""Exit status of a run, or a worker process, stopped by an interrupt."""


class Interrupted(Exception):  # noqa: N818 - a control-flow signal, not an error
    """The batch was stopped (Ctrl-C or SIGTERM); every finished result is stored."""

    def __init__(self, run_id: int, abandoned: bool) -> None:
        super().__init__(f"run {run_id} interrupted")
        self.run_id = run_id
        self.abandoned = abandoned
        """True when a second interrupt left scans running (their results are lost)."""


def settings_of(defaults: Defaults) -> dict[str, Any]:
    """The command line's defaults as stored with a run (JSON)."""
    return {k: (str(v) if v is not None else None) for k, v in asdict(defaults).items()}


def defaults_from(settings: dict[str, Any]) -> Defaults:
    """The defaults a run was started with (``--resume`` continues with them)."""

    def path(key: str) -> Path | None:
        value = settings.get(key)
        return Path(value) if value else None

    return Defaults(
        profile=str(settings.get("profile") or Defaults.profile),
        ca_file=path("ca_file"),
        timeout=float(settings.get("timeout") or Defaults.timeout),
        resolver=settings.get("resolver"),
        trust_anchor=path("trust_anchor"),
        full=settings.get("full") == "True",
    )


def start_scan(
    assets: AssetList,
    history: History,
    defaults: Defaults,
    profiles: Profiles,
    now: datetime | None,
) -> int:
    """Store a new scan run of ``assets`` (no entry scanned yet); return its id.

    Raises:
        InputError: the asset list has structural mistakes.
        ProfileError: the default profile cannot be loaded.
    """
    if assets.errors:
        raise InputError("\n".join(str(e) for e in assets.errors))
    return history.start_run(
        kind="scan",
        tool=TOOL,
        profile=profiles.get(defaults.profile).ref,
        settings=settings_of(defaults),
        planned=len(assets.entries),
        source=assets.source,
        source_sha256=assets.sha256,
        evaluated_at=now,
    )


def store(
    history: History,
    run_id: int,
    entry: Entry,
    defaults: Defaults,
    result: Result,
    started: datetime,
    ended: datetime,
) -> bool:
    """Record one entry's result under the profile it was judged with (False: stored
    already)."""
    profile_id = entry.settings.profile or defaults.profile
    tags = entry.settings.tags
    return history.record(run_id, entry.key, entry.kind, profile_id, result, started, ended, tags)


def run_batch(
    assets: AssetList,
    history: History,
    defaults: Defaults,
    options: BatchOptions,
    observer: Observer,
    *,
    resume: RunSummary | None = None,
) -> int:
    """Scan the entries (those not finished in ``resume``); return the run id.

    Raises:
        ProfileError: the default profile cannot be loaded.
        Interrupted: KeyboardInterrupt arrived; running entries were stored unless a
            second interrupt came.
    """
    profiles = Profiles()
    if resume is not None:
        run_id = resume.id
        finished = history.finished_keys(run_id)
    else:
        run_id = start_scan(assets, history, defaults, profiles, options.now)
        finished = set()
    pending = [e for e in assets.entries if e.key not in finished]
    observer.started(run_id, len(assets.entries), len(assets.entries) - len(pending))
    if options.recycle_after and len(pending) > options.recycle_after:
        _in_workers(pending, history, defaults, options, observer, run_id)
    else:
        _scan_here(pending, history, defaults, profiles, options, observer, run_id)
    history.finish_run(run_id)
    return run_id


def _scan_here(
    pending: list[Entry],
    history: History,
    defaults: Defaults,
    profiles: Profiles,
    options: BatchOptions,
    observer: Observer,
    run_id: int,
) -> None:
    """Scan in this process's thread pool; store each result from this thread."""

    def work(entry: Entry) -> tuple[Result, datetime, datetime]:
        started = datetime.now(UTC)
        result = scan_entry(entry, defaults, profiles, options.now)
        return result, started, datetime.now(UTC)

    def keep(entry: Entry, outcome: tuple[Result, datetime, datetime]) -> None:
        result, started, ended = outcome
        with interrupts_held():
            store(history, run_id, entry, defaults, result, started, ended)
        observer.finished(entry, result.verdict)

    _schedule(pending, work, keep, options, observer, run_id)


@contextmanager
def interrupts_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while one result is stored, and act on them after: an
    interrupt in the middle would lose that result (pydantic turns a KeyboardInterrupt
    raised while it serialises into a serialization error, which no interrupt handler
    catches). Outside the main thread, where no handler runs, nothing is held."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    for number in previous:
        signal.signal(number, lambda received, _frame: held.append(received))
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if held:
            first = signal.Signals(held[0])
            if callable(handler := previous[first]):
                handler(first, None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(first)


class _QueueObserver:
    """A worker process's events, sent to the parent."""

    def __init__(self, events: Queue[tuple[str, str, str]]) -> None:
        self.events = events

    def started(self, run_id: int, total: int, done: int) -> None:
        pass

    def finished(self, entry: Entry, verdict: Verdict) -> None:
        self.events.put(("finished", entry.key, verdict.value))

    def interrupted(self, running: int) -> None:
        self.events.put(("interrupted", str(running), ""))


def _worker(
    url: str,
    run_id: int,
    chunk: list[Entry],
    defaults: Defaults,
    options: BatchOptions,
    events: Queue[tuple[str, str, str]],
) -> None:
    """A worker process: scan ``chunk`` into run ``run_id``. It ignores SIGINT (the parent
    decides) and stops on SIGTERM, storing the scans under way; it gets SIGTERM when the
    parent dies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    _die_with_parent()
    with open_history(url) as history:
        try:
            _scan_here(
                chunk, history, defaults, Profiles(), options, _QueueObserver(events), run_id
            )
        except Interrupted:
            sys.exit(INTERRUPTED)


def _raise_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        pass


def _in_workers(
    pending: list[Entry],
    history: History,
    defaults: Defaults,
    options: BatchOptions,
    observer: Observer,
    run_id: int,
) -> None:
    """Scan ``recycle_after`` entries per worker process, one process after the other.

    A worker that dies (a crash in the TLS engine, the OOM killer) loses nothing stored; its
    unfinished entries go to the next worker, and when a worker dies without storing
    anything its unfinished entries become error rows: the batch always completes."""
    context = multiprocessing.get_context("spawn")
    by_key = {e.key: e for e in pending}
    left = list(pending)
    while left:
        chunk, left = left[: options.recycle_after], left[options.recycle_after :]
        events: Queue[tuple[str, str, str]] = context.Queue()
        process = context.Process(
            target=_worker, args=(history.url, run_id, chunk, defaults, options, events)
        )
        process.start()
        code = _follow(process, events, observer, by_key, run_id)
        finished = history.finished_keys(run_id)
        unfinished = [e for e in chunk if e.key not in finished]
        if code == INTERRUPTED:
            raise Interrupted(run_id, abandoned=False)
        if not unfinished:
            continue
        if len(unfinished) < len(chunk):
            left = unfinished + left  # progress was made: another worker tries the rest
            continue
        now = datetime.now(UTC)
        for entry in unfinished:
            reason = f"the scanning process died (exit status {code}) while scanning this"
            result = engine_failed(entry, reason)
            store(history, run_id, entry, defaults, result, now, now)
            observer.finished(entry, result.verdict)


def _follow(
    process: multiprocessing.process.BaseProcess,
    events: Queue[tuple[str, str, str]],
    observer: Observer,
    by_key: dict[str, Entry],
    run_id: int,
) -> int:
    """Relay a worker's events to the observer until it exits; return its exit status.
    An interrupt here asks the worker to store what is running (SIGTERM); a second one
    kills it."""

    def relay(block: bool) -> None:
        try:
            kind, first, second = events.get(timeout=0.2) if block else events.get_nowait()
        except queue.Empty:
            return
        if kind == "finished":
            observer.finished(by_key[first], Verdict(second))
        else:
            observer.interrupted(int(first))

    try:
        while process.is_alive():
            relay(block=True)
    except KeyboardInterrupt:
        process.terminate()
        try:
            while process.is_alive():
                relay(block=True)
        except KeyboardInterrupt:
            process.kill()
            raise Interrupted(run_id, abandoned=True) from None
    process.join()
    while not events.empty():
        relay(block=False)
    return process.exitcode if process.exitcode is not None else -1


def _schedule(
    pending: list[Entry],
    work: Callable[[Entry], tuple[Result, datetime, datetime]],
    store: Callable[[Entry, tuple[Result, datetime, datetime]], None],
    options: BatchOptions,
    observer: Observer,
    run_id: int,
) -> None:
    queue = deque(pending)
    busy: Counter[str] = Counter()
    running: dict[Future[tuple[Result, datetime, datetime]], Entry] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, options.concurrency))

    def fill() -> None:
        waiting: list[Entry] = []
        while queue and len(running) < options.concurrency:
            entry = queue.popleft()
            if busy[entry.host] >= options.per_host:
                waiting.append(entry)
                continue
            busy[entry.host] += 1
            running[pool.submit(work, entry)] = entry
        queue.extendleft(reversed(waiting))

    def collect(done: set[Future[tuple[Result, datetime, datetime]]]) -> None:
        for future in done:
            entry = running.pop(future)
            busy[entry.host] -= 1
            store(entry, future.result())

    try:
        fill()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            collect(done)
            fill()
    except KeyboardInterrupt:
        queue.clear()
        observer.interrupted(len(running))
        try:
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                collect(done)
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            raise Interrupted(run_id, abandoned=True) from None
        pool.shutdown(wait=True)
        raise Interrupted(run_id, abandoned=False) from None
    pool.shutdown(wait=True)


def reevaluate(
    history: History, source: RunSummary, profile_name: str | None, now: datetime | None
) -> int:
    """Judge every stored result of ``source`` again (no network); a new run, returned."""
    profiles = Profiles()
    default = profiles.get(profile_name or source.profile.id)
    stored = history.results(source.id)
    run_id = history.start_run(
        kind="reevaluate",
        tool=TOOL,
        profile=default.ref,
        settings={**history.settings(source.id), "profile": profile_name or source.profile.id},
        planned=len(stored),
        source=source.source,
        source_sha256=source.source_sha256,
        parent=source.id,
        evaluated_at=now,
    )
    for item in stored:
        profile_id = profile_name or item.profile_id
        started = datetime.now(UTC)
        result = judge(item.report, profiles.get(profile_id), now or started)
        tags = item.report.tags
        history.record(
            run_id, item.key, item.kind, profile_id, result, started, datetime.now(UTC), tags
        )
    history.finish_run(run_id)
    return run_id


def run_report(history: History, run: RunSummary) -> Report:
    """A stored run as one report (what ``report``, ``--format`` and the summary read)."""
    stored = sorted(history.results(run.id), key=lambda s: (s.kind != "tls", s.key))
    return report_of(run, stored)


def report_of(run: RunSummary, stored: list[Stored]) -> Report:
    targets = [s.report for s in stored if isinstance(s.report, TargetReport)]
    domains = [s.report for s in stored if isinstance(s.report, DomainReport)]
    ended = run.finished_at or max((s.finished_at for s in stored), default=run.started_at)
    return Report(
        tool=run.tool,
        profile=run.profile,
        started_at=run.started_at,
        finished_at=ended,
        verdict=combine([*(t.verdict for t in targets), *(d.verdict for d in domains)]),
        targets=targets,
        domains=domains,
        run=RunRef(
            id=run.id,
            kind=run.kind,
            source=run.source,
            source_sha256=run.source_sha256,
            complete=run.finished_at is not None,
        ),
    )
