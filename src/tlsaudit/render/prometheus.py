"""Prometheus text exposition for node_exporter's textfile collector.

Per target: verdict (one series per verdict, 1 for the current one), failing checks per
area, days to expiry of every leaf certificate, scan duration, and an error series with a
bounded reason; per run: targets per verdict, start time and duration. Asset-file tags
become labels (a tag whose name is not a valid label name, or clashes, gets ``tag_``).
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from tlsaudit.models.findings import Status, Verdict
from tlsaudit.models.report import Report
from tlsaudit.render.views import Row, area, leaf_certificates, rows

FIXED = ("kind", "target", "verdict", "area", "endpoint", "fingerprint", "reason", "run")


def label_name(tag: str) -> str:
    name = re.sub(r"[^a-zA-Z0-9_]", "_", tag)
    if not re.match(r"[a-zA-Z_]", name) or name.startswith("__") or name in FIXED:
        name = f"tag_{name}"
    return name


def error_reason(row: Row) -> str | None:
    """A short, bounded reason for a target that could not be scanned (a label value)."""
    if row.error is None:
        return None
    item = row.item
    if item.error is None and hasattr(item, "endpoints"):
        for endpoint in item.endpoints:
            if endpoint.facts.connectivity is not None:
                return endpoint.facts.connectivity.reason.value
    if item.error and item.error.startswith("internal error"):
        return "internal"
    if item.error and "does not resolve" in item.error:
        return "name_resolution"
    return "input"


def render_prometheus(report: Report, now: datetime) -> str:
    items = rows(report)
    tags = sorted({key for row in items for key in row.item.tags})
    tag_labels = [label_name(t) for t in tags]
    base = ["kind", "target", *tag_labels]
    registry = CollectorRegistry()

    def gauge(name: str, text: str, extra: list[str]) -> Gauge:
        return Gauge(name, text, [*base, *extra], registry=registry)

    verdict = gauge("tlsaudit_target_verdict", "1 for the target's current verdict.", ["verdict"])
    failing = gauge("tlsaudit_failing_checks", "Failing findings per check area.", ["area"])
    expiry = gauge(
        "tlsaudit_certificate_expiry_days",
        "Days until the leaf certificate expires (negative: expired).",
        ["endpoint", "fingerprint"],
    )
    duration = gauge("tlsaudit_scan_duration_seconds", "Wall time of the target's scan.", [])
    error = gauge("tlsaudit_target_error", "1 when the target could not be scanned.", ["reason"])
    for row in items:
        labels = [row.kind, row.name, *(row.item.tags.get(t, "") for t in tags)]
        for v in Verdict:
            verdict.labels(*labels, v.value).set(1 if row.item.verdict is v else 0)
        areas: Counter[str] = Counter()
        for _, finding in row.findings:
            areas[area(finding.check_id)] += finding.status is Status.FAIL
        for name, count in sorted(areas.items()):
            failing.labels(*labels, name).set(count)
        for cert in leaf_certificates(row):
            expiry.labels(*labels, cert.endpoint, cert.sha256[:16]).set(
                round(cert.days_left(now), 3)
            )
        if row.item.duration_seconds is not None:
            duration.labels(*labels).set(row.item.duration_seconds)
        reason = error_reason(row)
        error.labels(*labels, reason or "").set(1 if reason else 0)
    run = Gauge("tlsaudit_run_targets", "Targets of the run per verdict.", ["verdict"],
                registry=registry)  # fmt: skip
    counts = Counter(row.item.verdict for row in items)
    for v in Verdict:
        run.labels(v.value).set(counts[v])
    Gauge("tlsaudit_run_start_timestamp_seconds", "Start of the run.", registry=registry).set(
        report.started_at.timestamp()
    )
    Gauge("tlsaudit_run_duration_seconds", "Wall time of the run.", registry=registry).set(
        (report.finished_at - report.started_at).total_seconds()
    )
    if report.run is not None:
        Gauge("tlsaudit_run_id", "Id of the run in the history.", registry=registry).set(
            report.run.id
        )
    return generate_latest(registry).decode()
