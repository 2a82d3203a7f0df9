"""Options shared by every scanner."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class Probe(StrEnum):
    """The probes beyond protocol versions, cipher suites and groups, by the
    :class:`~tlsaudit.models.facts.TlsFacts` field each one fills."""

    CERTIFICATES = "certificates"
    HEARTBLEED = "heartbleed"
    CCS_INJECTION = "ccs_injection"
    ROBOT = "robot"
    RENEGOTIATION = "renegotiation"
    COMPRESSION = "compression"
    FALLBACK_SCSV = "fallback_scsv"
    EXTENDED_MASTER_SECRET = "extended_master_secret"
    EARLY_DATA = "early_data"
    RESUMPTION = "resumption"
    HSTS = "hsts"


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
    full: bool = False
    """Full mode: sslyze's own scan, one handshake per cipher suite and per curve, every
    probe. Otherwise compliance mode: suites and groups by elimination (see
    :mod:`tlsaudit.scan.compliance`), only the probes not in ``skip``."""
    skip: frozenset[Probe] = frozenset()
    """Probes compliance mode leaves out (the profile reads none of their results)."""
