"""Options shared by every scanner."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ScanOptions:
    ca_file: Path | None = None
    """Extra trust anchors (PEM) for path validation, e.g. a private CA."""
    timeout: float = 5.0
    """Per-connection network timeout in seconds."""
    resolver: tuple[str, int] | None = None
    """DNS resolver (address, port) for every lookup; None = the system resolver."""
    connections_per_server: int = 5
    """TLS connections open at once to one endpoint (mail servers get 1: be polite)."""
