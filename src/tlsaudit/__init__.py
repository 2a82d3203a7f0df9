"""tlsaudit: audit TLS, mail and DNS configuration against CRYPTREC profiles.

Public API::

    from tlsaudit import audit, load_profile
    report = audit(["www.example.go.jp"], load_profile("cryptrec-high"))

The names load on first use, so that ``import tlsaudit`` (and ``tlsaudit --help``) does not
import the scanning stack.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from tlsaudit.version import __version__

if TYPE_CHECKING:
    from tlsaudit.models.facts import TlsFacts
    from tlsaudit.models.findings import Finding, Status, Verdict
    from tlsaudit.models.report import Report, TargetReport
    from tlsaudit.orchestrate import audit, audit_domains, judge_domain, judge_target
    from tlsaudit.profiles import Profile, load_profile

_PUBLIC = {
    "TlsFacts": "tlsaudit.models.facts",
    "Finding": "tlsaudit.models.findings",
    "Status": "tlsaudit.models.findings",
    "Verdict": "tlsaudit.models.findings",
    "Report": "tlsaudit.models.report",
    "TargetReport": "tlsaudit.models.report",
    "audit": "tlsaudit.orchestrate",
    "audit_domains": "tlsaudit.orchestrate",
    "judge_domain": "tlsaudit.orchestrate",
    "judge_target": "tlsaudit.orchestrate",
    "Profile": "tlsaudit.profiles",
    "load_profile": "tlsaudit.profiles",
}

__all__ = [
    "Finding",
    "Profile",
    "Report",
    "Status",
    "TargetReport",
    "TlsFacts",
    "Verdict",
    "__version__",
    "audit",
    "audit_domains",
    "judge_domain",
    "judge_target",
    "load_profile",
]


def __getattr__(name: str) -> object:
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'tlsaudit' has no attribute {name!r}")
