"""tlsaudit: audit TLS, mail and DNS configuration against CRYPTREC profiles.

Public API::

    from tlsaudit import audit, load_profile
    report = audit(["www.example.go.jp"], load_profile("cryptrec-high"))
"""

from tlsaudit.models.facts import TlsFacts
from tlsaudit.models.findings import Finding, Status, Verdict
from tlsaudit.models.report import Report, TargetReport
from tlsaudit.orchestrate import audit, audit_domains, judge_domain, judge_target
from tlsaudit.profiles import Profile, load_profile
from tlsaudit.version import __version__

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
