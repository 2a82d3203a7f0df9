"""JSON Schemas of the asset-run outputs (generated from the models, committed in schema/):
``--format jsonl`` lines, ``diff --format json`` and ``history --format json``."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from pydantic import BaseModel

from tlsaudit.diff import DiffReport
from tlsaudit.history import HistoryDocument
from tlsaudit.models.report import SCHEMA_VERSION
from tlsaudit.render.jsonl import JsonlRecord

SCHEMAS: dict[str, type[BaseModel]] = {
    "jsonl-record.schema.json": JsonlRecord,
    "diff.schema.json": DiffReport,
    "history.schema.json": HistoryDocument,
}


def generated(name: str) -> dict[str, Any]:
    schema = SCHEMAS[name].model_json_schema(mode="serialization")
    stem = name.removesuffix(".schema.json")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://tlsaudit.invalid/schema/{stem}-{SCHEMA_VERSION}.json",
        "title": f"tlsaudit {stem}, schema version {SCHEMA_VERSION}",
        **schema,
    }


def committed(name: str) -> dict[str, Any]:
    text = resources.files("tlsaudit.schema").joinpath(name).read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def write_all() -> None:
    """Regenerate the committed files: ``python -m tlsaudit.render.schemas``."""
    folder = resources.files("tlsaudit.schema")
    for name in SCHEMAS:
        text = json.dumps(generated(name), indent=2, ensure_ascii=False) + "\n"
        folder.joinpath(name).write_text(text, "utf-8")  # type: ignore[attr-defined]


if __name__ == "__main__":
    write_all()
