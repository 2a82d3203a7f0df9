"""CSV: one finding per row (a target with no finding, e.g. an error, gets one row).

Tags of the asset file become ``tag.NAME`` columns. ``bom=True`` starts the text with a
UTF-8 byte order mark so that Excel (Japanese editions included) reads it as UTF-8.
"""

from __future__ import annotations

import csv
import io

from tlsaudit.models.report import Report
from tlsaudit.render.views import area, rows

COLUMNS = (
    "run",
    "kind",
    "target",
    "target_verdict",
    "error",
    "endpoint",
    "check_id",
    "area",
    "status",
    "level",
    "subject",
    "title",
    "observed",
    "expected",
    "reason",
    "citations",
    "remediation",
)


def render_csv(report: Report, lang: str = "en", *, bom: bool = False) -> str:
    items = rows(report)
    tags = sorted({key for row in items for key in row.item.tags})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*COLUMNS, *(f"tag.{t}" for t in tags)])
    run = str(report.run.id) if report.run else ""
    for row in items:
        head = [run, row.kind, row.name, row.item.verdict.value, row.error or ""]
        tail = [row.item.tags.get(t, "") for t in tags]
        findings = row.findings
        if not findings:
            writer.writerow([*head, *[""] * (len(COLUMNS) - len(head)), *tail])
        for endpoint, f in findings:
            writer.writerow(
                [
                    *head,
                    endpoint,
                    f.check_id,
                    area(f.check_id),
                    f.status.value,
                    f.level.value,
                    f.subject,
                    f.title.get(lang),
                    f.observed,
                    f.expected,
                    f.reason or "",
                    "; ".join(str(c) for c in f.citations),
                    f.remediation or "",
                    *tail,
                ]
            )
    return ("\ufeff" if bom else "") + out.getvalue()
