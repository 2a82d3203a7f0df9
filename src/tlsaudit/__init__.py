"""tlsaudit: audit TLS, mail and DNS configuration against CRYPTREC profiles.

Public API::

    from tlsaudit import audit, load_profile
    report = audit(["www.example.go.jp"], load_profile("cryptrec-high"))
"""

__version__ = "0.1.0"

from tlsaudit.models.facts import TlsFacts
from tlsaudit.models.findings import Finding, Status, Verdict
from tlsaudit.models.report import Report, TargetReport
from tlsaudit.profiles import Profile, load_profile
from tlsaudit.runner import audit, judge_target

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
    "judge_target",
    "load_profile",
]
