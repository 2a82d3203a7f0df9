"""The adapter between asset runs and the audit core: the one module of the asset runs
that calls :mod:`tlsaudit.orchestrate`.

A batch scans one entry at a time through :func:`scan_entry` (a TLS target as
``tlsaudit scan`` would, a mail domain as ``tlsaudit domain`` would) and judges stored facts
again through :func:`judge`, without the network. Any failure of one entry, expected or
not, becomes an error result: a batch never stops on a target.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tlsaudit.errors import InputError, TlsauditError
from tlsaudit.inventory import parse_resolver, parse_target
from tlsaudit.models.report import DomainReport, TargetReport
from tlsaudit.orchestrate import (
    audit,
    audit_domain,
    exit_code,
    judge_domain,
    judge_target,
    normalise_domain,
)
from tlsaudit.profiles import DEFAULT_PROFILE, Profile, load_profile
from tlsaudit.scan.dns import DnsOptions
from tlsaudit.scan.mail import MailOptions
from tlsaudit.scan.options import ScanOptions
from tlsaudit.version import TOOL

if TYPE_CHECKING:
    from tlsaudit.assets import Entry

__all__ = [
    "TOOL",
    "Defaults",
    "Profiles",
    "Result",
    "check_domain",
    "exit_code",
    "failed",
    "judge",
    "scan_entry",
]

Result = TargetReport | DomainReport


@dataclass(frozen=True)
class Defaults:
    """The command line's options: what an entry gets unless the asset file says otherwise."""

    profile: str = DEFAULT_PROFILE
    ca_file: Path | None = None
    timeout: float = 5.0
    resolver: str | None = None
    trust_anchor: Path | None = None
    full: bool = False
    """Full scans (sslyze's one handshake per suite, every probe) instead of compliance scans."""


class Profiles:
    """Profiles loaded once per batch, shared by the worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[str, Profile] = {}

    def get(self, name: str) -> Profile:
        with self._lock:
            if name not in self._loaded:
                self._loaded[name] = load_profile(name)
            return self._loaded[name]


def check_domain(name: str) -> str | None:
    """Why ``name`` cannot be audited as a mail domain, or None."""
    try:
        normalise_domain(name)
    except InputError as exc:
        return str(exc)
    return None


def scan_entry(
    entry: Entry, defaults: Defaults, profiles: Profiles, now: datetime | None = None
) -> Result:
    """Scan and judge one entry; never raises (a failure is an error result)."""
    settings = entry.settings
    if entry.error is not None:
        return failed(entry, entry.error)
    try:
        profile = profiles.get(settings.profile or defaults.profile)
        resolver_text = settings.resolver or defaults.resolver
        resolver = parse_resolver(resolver_text) if resolver_text else None
        ca_file = settings.ca_file or defaults.ca_file
        timeout = settings.timeout or defaults.timeout
        scan = ScanOptions(ca_file=ca_file, timeout=timeout, resolver=resolver, full=defaults.full)
        if entry.kind == "domain":
            mail = MailOptions(scan=scan, dkim_selectors=settings.dkim_selectors)
            dns = DnsOptions(
                scan=ScanOptions(timeout=timeout, resolver=resolver),
                trust_anchor=settings.trust_anchor or defaults.trust_anchor,
            )
            return audit_domain(entry.target, profile, mail, dns, now)
        parse = functools.partial(
            parse_target, starttls=settings.starttls, sni=settings.sni, ip=settings.ip
        )
        report = audit([entry.target], profile, options=scan, now=now, parse=parse)
        return report.targets[0]
    except TlsauditError as exc:
        return failed(entry, str(exc))
    except Exception as exc:  # a hostile target must not stop the batch: record why
        return failed(entry, f"internal error: {type(exc).__name__}: {exc}")


def failed(entry: Entry, reason: str) -> Result:
    """The error result of an entry that could not be scanned."""
    if entry.kind == "domain":
        return DomainReport.failed(entry.target, reason)
    return TargetReport.failed(entry.target, reason)


def judge(result: Result, profile: Profile, now: datetime) -> Result:
    """Judge a stored result's facts again (pure: no network). An error stays an error."""
    keep = {"tags": result.tags, "duration_seconds": result.duration_seconds}
    if isinstance(result, DomainReport):
        if result.mail is None or result.dns is None:
            return result
        fresh: Result = judge_domain(result.domain, result.mail, result.dns, profile, now)
    else:
        if result.error is not None or not result.endpoints:
            return result
        facts = [e.facts for e in result.endpoints]
        fresh = judge_target(result.target, facts, profile, now)
    return fresh.model_copy(update=keep)
