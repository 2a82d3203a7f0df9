"""JSON Lines: one target or domain per line, each line a self-contained record."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tlsaudit.models.facts import Model
from tlsaudit.models.report import (
    SCHEMA_VERSION,
    DomainReport,
    ProfileRef,
    Report,
    RunRef,
    TargetReport,
)


class JsonlRecord(Model):
    """One line of `--format jsonl`: a target (`kind` tls) or a mail domain (`kind` domain)."""

    schema_version: str = SCHEMA_VERSION
    tool: str
    run: RunRef | None = None
    profile: ProfileRef = Field(description="The run's default profile.")
    kind: Literal["tls", "domain"]
    target: TargetReport | None = None
    domain: DomainReport | None = None


def render_jsonl(report: Report) -> str:
    common = {"tool": report.tool, "run": report.run, "profile": report.profile}
    records = [JsonlRecord(kind="tls", target=t, **common) for t in report.targets]
    records += [JsonlRecord(kind="domain", domain=d, **common) for d in report.domains]
    return "".join(r.model_dump_json() + "\n" for r in records)
