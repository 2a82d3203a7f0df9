"""Every file format a report can be written in, and the atomic file writer."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tlsaudit.models.report import Report
from tlsaudit.render.csv import render_csv
from tlsaudit.render.formats import FileFormat
from tlsaudit.render.html import render_html
from tlsaudit.render.json import render_json
from tlsaudit.render.jsonl import render_jsonl
from tlsaudit.render.prometheus import render_prometheus

if TYPE_CHECKING:
    from tlsaudit.history import RunSummary  # SQLAlchemy is not loaded for a scan


def render_as(
    report: Report,
    fmt: FileFormat,
    *,
    lang: str,
    now: datetime,
    bom: bool = False,
    expiry_days: int = 30,
    trend: Sequence[RunSummary] = (),
) -> str:
    """The report as text in ``fmt`` (``now``: the time certificate days are counted from)."""
    if fmt is FileFormat.JSON:
        return render_json(report)
    if fmt is FileFormat.JSONL:
        return render_jsonl(report)
    if fmt is FileFormat.CSV:
        return render_csv(report, lang, bom=bom)
    if fmt is FileFormat.PROMETHEUS:
        return render_prometheus(report, now)
    return render_html(report, lang, now, expiry_days=expiry_days, trend=trend)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) so that a reader sees the old file or the new one, never a part:
    a temporary file in the same directory, flushed to disk, then renamed over ``path``
    (what node_exporter's textfile collector asks of writers). A path that exists and is not
    a regular file (/dev/stdout, a FIFO) is written to as it is, never replaced."""
    if path.exists() and not path.is_file():
        with path.open("w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        return
    directory = path.parent if str(path.parent) else Path(".")
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
