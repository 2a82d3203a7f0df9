"""tlsaudit: audit TLS, mail and DNS configuration against CRYPTREC profiles.

Public API::

    from tlsaudit import audit, load_profile
    report = audit(["www.example.go.jp"], load_profile("cryptrec-high"))
"""

__version__ = "0.1.0"

from tlsaudit.models.facts import TlsFacts  # noqa: E402
from tlsaudit.models.findings import Finding, Status, Verdict  # noqa: E402
from tlsaudit.models.report import Report, TargetReport  # noqa: E402
from tlsaudit.profiles import Profile, load_profile  # noqa: E402
from tlsaudit.runner import audit, judge_target  # noqa: E402

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
