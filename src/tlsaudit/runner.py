"""Per target: resolve, scan, evaluate, report. A failure of one target never sinks the batch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from tlsaudit import __version__
from tlsaudit.errors import InputError
from tlsaudit.evaluate import evaluate_consistency, evaluate_tls
from tlsaudit.inventory import Target, parse_target, resolve
from tlsaudit.models.facts import Endpoint, TlsFacts
from tlsaudit.models.findings import Verdict, verdict_of
from tlsaudit.models.report import EndpointReport, Report, TargetReport
from tlsaudit.profiles import Profile, load_profile
from tlsaudit.scan.options import ScanOptions
from tlsaudit.scan.tls import scan_endpoints

TOOL = f"tlsaudit {__version__}"


def audit(
    targets: Sequence[str | Target],
    profile: Profile | str = "cryptrec-high",
    *,
    options: ScanOptions | None = None,
    now: datetime | None = None,
    on_endpoint_done: Callable[[TlsFacts], None] | None = None,
    parse: Callable[[str], Target] = parse_target,
) -> Report:
    """Scan every target and judge it against the profile.

    Strings are parsed with ``parse`` (as on the command line); a target that cannot be
    parsed or resolved becomes an error entry of the report instead of an exception.
    """
    profile = load_profile(profile) if isinstance(profile, str) else profile
    options = options or ScanOptions()
    started = datetime.now(UTC)
    planned: list[tuple[str, list[Endpoint] | str]] = []
    for item in targets:
        raw = item if isinstance(item, str) else item.raw
        try:
            target = parse(item) if isinstance(item, str) else item
            planned.append((raw, resolve(target)))
        except InputError as exc:
            planned.append((raw, str(exc)))
    endpoints = [e for _, plan in planned if isinstance(plan, list) for e in plan]
    facts = iter(scan_endpoints(endpoints, options, on_endpoint_done))
    moment = now or datetime.now(UTC)
    reports = []
    for raw, plan in planned:
        if isinstance(plan, str):
            reports.append(TargetReport.failed(raw, plan))
            continue
        reports.append(judge_target(raw, [next(facts) for _ in plan], profile, moment))
    return Report.assemble(TOOL, profile.ref, started, targets=reports)


def judge_target(raw: str, facts: list[TlsFacts], profile: Profile, now: datetime) -> TargetReport:
    """Evaluate stored or fresh facts of one target (pure: no network)."""
    endpoint_reports = [judge_endpoint(f, profile, now) for f in facts]
    reachable = [f for f in facts if f.connectivity is None]
    across = evaluate_consistency(reachable, profile, now)
    return TargetReport.build(raw, endpoint_reports, across)


def judge_endpoint(facts: TlsFacts, profile: Profile, now: datetime) -> EndpointReport:
    if facts.connectivity is not None:
        return EndpointReport(
            endpoint=facts.endpoint, verdict=Verdict.ERROR, facts=facts, findings=[]
        )
    findings = evaluate_tls(facts, profile, now)
    return EndpointReport(
        endpoint=facts.endpoint, verdict=verdict_of(findings), facts=facts, findings=findings
    )


def exit_code(report: Report) -> int:
    """0 all compliant, 1 some target non-compliant, 3 some target not scanned or judged."""
    verdicts = set(report.verdicts)
    if Verdict.FAIL in verdicts:
        return 1
    if verdicts & {Verdict.ERROR, Verdict.UNKNOWN}:
        return 3
    return 0
