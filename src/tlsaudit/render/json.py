"""JSON output and its JSON Schema (generated from the report model, committed in schema/)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from tlsaudit.models.report import SCHEMA_VERSION, Report

SCHEMA_FILE = "report.schema.json"


def render_json(report: Report) -> str:
    return report.model_dump_json(indent=2) + "\n"


def report_schema() -> dict[str, Any]:
    """The JSON Schema of `--format json`, generated from the models."""
    schema = Report.model_json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://tlsaudit.invalid/schema/report-{SCHEMA_VERSION}.json",
        "title": f"tlsaudit report, schema version {SCHEMA_VERSION}",
        **schema,
    }


def render_schema() -> str:
    return json.dumps(report_schema(), indent=2, ensure_ascii=False) + "\n"


def committed_schema() -> dict[str, Any]:
    text = resources.files("tlsaudit.schema").joinpath(SCHEMA_FILE).read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded
