"""The file formats a report can be written in (a light module: the command line imports it
before any scanning or storage code)."""

from enum import StrEnum


class FileFormat(StrEnum):
    JSON = "json"
    JSONL = "jsonl"
    CSV = "csv"
    PROMETHEUS = "prometheus"
    HTML = "html"
