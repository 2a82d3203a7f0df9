"""TLS checks of one endpoint (protocol versions, cipher suites, key exchange, known
vulnerabilities, other settings; certificates in :mod:`.certs`), and the comparison of
the addresses of one name. Every check is registered (:mod:`.check`) and reads a
:class:`TlsView` (or :class:`Addresses`); pure: facts + rule (+ the time) in, outcomes out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from tlsaudit.evaluate import certs
from tlsaudit.evaluate.base import (
    Judgement,
    NotApplicable,
    Unknown,
    describe_thresholds,
    threshold_level,
)
from tlsaudit.evaluate.check import Addresses, Outcome, TlsView, check, evaluate
from tlsaudit.evaluate.dns import CAA_EXPECTED, caa_judgement
from tlsaudit.models.facts import (
    PROTOCOL_VERSIONS,
    AcceptedSuite,
    ErrorReason,
    Observed,
    ProbeError,
    ProtocolVersion,
    Robot,
    TlsFacts,
)
from tlsaudit.models.findings import Finding
from tlsaudit.profiles import (
    CipherRule,
    GroupRule,
    Profile,
    Rule,
    SizeBand,
    Thresholds,
)
from tlsaudit.records.suites import Suite, SuiteClass, parse_group, parse_suite
from tlsaudit.scan.options import Probe

T = TypeVar("T")
NOT_SCANNED = ProbeError(reason=ErrorReason.NOT_SCANNED, detail="not scanned")


def evaluate_tls(facts: TlsFacts, profile: Profile, now: datetime) -> list[Finding]:
    """Every TLS and certificate finding of one endpoint, in registration order.

    An unreachable endpoint (``facts.connectivity``) yields no findings: the runner
    reports it as an error. Checks without a rule in the profile are skipped.
    """
    if facts.connectivity is not None:
        return []
    return evaluate(TlsView(facts, profile.egov), TlsView, profile, now)


# ---------------------------------------------------------------- protocol versions


def accepted(facts: TlsFacts, version: ProtocolVersion) -> bool | ProbeError:
    """Whether a version is accepted, or why that is not known."""
    protocol = facts.protocol(version)
    if protocol is None:
        return NOT_SCANNED
    if protocol.accepted.error is not None:
        return protocol.accepted.error
    return bool(protocol.accepted.value)


def _protocol_check(
    versions: tuple[ProtocolVersion, ...], wanted: bool
) -> Callable[[TlsView, Rule, datetime], Iterator[Outcome]]:
    """Rule: some of ``versions`` accepted (``wanted``) or none of them accepted."""
    subject = " / ".join(versions)
    expected = f"{' or '.join(versions)} accepted" if wanted else "not accepted"

    def judge_versions(view: TlsView, rule: Rule, now: datetime) -> Iterator[Outcome]:
        states = {v: accepted(view.facts, v) for v in versions}
        yes = [v for v, state in states.items() if state is True]
        errors = [state for state in states.values() if isinstance(state, ProbeError)]
        result: Judgement | ProbeError
        if errors and not yes:
            result = errors[0]
        else:
            level = None if bool(yes) == wanted else rule.level
            result = (level, f"{', '.join(yes)} accepted" if yes else "not accepted")
        yield Outcome(subject, expected, result)

    return judge_versions


PROTOCOL_RULES: tuple[tuple[str, tuple[ProtocolVersion, ...], bool], ...] = (
    ("tls.protocol.ssl2", ("SSL 2.0",), False),
    ("tls.protocol.ssl3", ("SSL 3.0",), False),
    ("tls.protocol.tls1_0", ("TLS 1.0",), False),
    ("tls.protocol.tls1_1", ("TLS 1.1",), False),
    ("tls.protocol.modern", ("TLS 1.2", "TLS 1.3"), True),
    ("tls.protocol.tls1_3", ("TLS 1.3",), True),
)
"""(check id, versions, whether one of them must be accepted)."""


# ---------------------------------------------------------------- cipher suites


def _protocols(facts: TlsFacts) -> list[tuple[ProtocolVersion, Observed[list[AcceptedSuite]]]]:
    ordered = sorted(facts.protocols, key=lambda p: PROTOCOL_VERSIONS.index(p.version))
    return [(p.version, p.accepted) for p in ordered]


def _suites(facts: TlsFacts) -> Iterator[tuple[ProtocolVersion, AcceptedSuite]]:
    """Every accepted suite, by protocol version and then by name."""
    for version, observed in _protocols(facts):
        for suite in sorted(observed.value or [], key=lambda s: s.name):
            yield version, suite


def _cipher(view: TlsView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    policy = rule.params(CipherRule)
    classes = policy.classes
    expected = "class " + " or ".join(c for c, o in classes.items() if o.level is None)
    for version, observed in _protocols(view.facts):
        if observed.error is not None:
            yield Outcome(f"{version} cipher suites", expected, observed.error)
    for version, suite in _suites(view.facts):
        parsed = parse_suite(suite.name)
        primitives = parsed.primitives
        if parsed.tls13 and suite.ephemeral_key is not None:
            primitives = (suite.ephemeral_key.kind, *primitives)
        described = ", ".join(view.egov.describe(p) for p in primitives)
        suite_class = classes_of(parsed, policy)
        case = classes[suite_class]
        observed_text = f"{suite_class}: {described}"
        yield Outcome(f"{version} {suite.name}", expected, (case.level, observed_text), case)


def classes_of(suite: Suite, policy: CipherRule) -> SuiteClass:
    """The suite's class under the components the ``tls.cipher`` rule allows."""
    return suite.suite_class(policy.ciphers, policy.key_exchanges, policy.authentications)


# ---------------------------------------------------------------- key exchange


def _dh_sizes(facts: TlsFacts) -> dict[int | None, list[str]]:
    """Finite-field DH groups by size: those of accepted (anonymous) DHE suites and the TLS 1.3
    FFDHE groups (None: a DHE suite whose group size was not reported)."""
    sizes: dict[int | None, list[str]] = {}
    for version, suite in _suites(facts):
        key = suite.ephemeral_key
        if key is not None and key.kind == "DH":
            sizes.setdefault(key.size, []).append(f"{version} {suite.name}")
        elif key is None and parse_suite(suite.name).kex in ("DHE", "DH"):
            sizes.setdefault(None, []).append(f"{version} {suite.name}")
    for name in facts.groups.value or []:
        group = parse_group(name)
        if group.kind == "DH" and accepted(facts, "TLS 1.3") is True:
            sizes.setdefault(group.bits, []).append(f"TLS 1.3 group {group.name}")
    return dict(sorted(sizes.items(), key=lambda item: (item[0] is None, item[0] or 0)))


def _dh_subject(size: int | None) -> str:
    return "DHE (group size not reported)" if size is None else f"DHE {size}-bit group"


def _dh_observed(size: int, users: Sequence[str]) -> str:
    return f"{size} bit, used by {len(users)} accepted suite(s) or group(s): {', '.join(users)}"


def _dh_size(view: TlsView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    thresholds = rule.params(Thresholds).thresholds
    expected = describe_thresholds(thresholds)
    for size, suites in _dh_sizes(view.facts).items():
        result: Judgement | ProbeError = (
            (threshold_level(thresholds, size), _dh_observed(size, suites))
            if size is not None
            else ProbeError(
                reason=ErrorReason.ENGINE_ERROR,
                detail=f"DH group size not reported for {', '.join(suites)}",
            )
        )
        yield Outcome(_dh_subject(size), expected, result)


def _strength_horizon(view: TlsView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    band = rule.params(SizeBand)
    low, high = band.min_bits, band.max_bits
    expected = f"at least {high + 1} bit (128-bit strength) for new processing after {band.horizon}"
    for size, suites in _dh_sizes(view.facts).items():
        if size is None:
            continue
        weak = low <= size <= high
        observed = _dh_observed(size, suites) + (
            f"; 112-bit strength: usable for new processing only until {band.horizon}"
            if weak
            else ""
        )
        result: Judgement | NotApplicable = (
            NotApplicable(observed, f"below the {low}–{high}-bit band: tls.kex.dh_size judges it")
            if size < low
            else (rule.level if weak else None, observed)
        )
        yield Outcome(_dh_subject(size), expected, result)


def _group(view: TlsView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    params = rule.params(GroupRule)
    allowed = {parse_group(name).name.lower() for name in params.allowed}
    expected = f"one of {', '.join(params.allowed)}"
    groups = view.facts.groups
    if groups.error is not None:
        yield Outcome("groups", expected, groups.error)
    for name in dict.fromkeys(groups.value or []):
        group = parse_group(name)
        if group.name.lower() in allowed:
            level = None
        elif group.kind == "ECDH" and group.bits is not None and group.bits < params.min_bits:
            level = rule.level
        else:
            level = params.other_level
        described = ", ".join(view.egov.describe(p) for p in group.primitives)
        size = f"{group.bits} bit" if group.bits else group.kind
        yield Outcome(f"group {name}", expected, (level, f"{name} ({size}; {described})"))


def _pqc(view: TlsView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    """``tls.kex.pqc``: a post-quantum (ML-KEM) TLS 1.3 group accepted, from the group probe."""
    facts, subject = view.facts, "post-quantum key exchange"
    expected = "a TLS 1.3 ML-KEM group (e.g. X25519MLKEM768) accepted"
    tls13 = accepted(facts, "TLS 1.3")
    result: Judgement | ProbeError | NotApplicable
    if tls13 is False:
        result = NotApplicable("TLS 1.3 not accepted", "ML-KEM groups exist only in TLS 1.3")
    elif isinstance(tls13, ProbeError):
        result = tls13
    elif facts.group_probe.error is not None:
        result = facts.group_probe.error
    else:
        probed = [parse_group(g) for g in facts.group_probe.value or []]
        found = [g for g in (parse_group(n) for n in facts.groups.value or []) if g.post_quantum]
        if found:
            names = ", ".join(dict.fromkeys(g.name for g in found))
            result = None, f"post-quantum key exchange offered: {names}"
        else:
            tried = ", ".join(g.name for g in probed if g.post_quantum) or "none"
            result = (
                rule.level,
                (
                    f"no post-quantum key exchange (probed: {tried}): traffic recorded today is"
                    " exposed to a future quantum computer (government migration to PQC by 2035,"
                    " NCO interim report 2025-11)"
                ),
            )
    yield Outcome(subject, expected, result)


def _caa(view: TlsView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    """``cert.caa``: the CAA RRset of the scanned name, judged as ``tlsaudit domain`` does."""
    name = view.facts.endpoint.name
    yield Outcome(f"{name} CAA", CAA_EXPECTED, caa_judgement(view.facts.caa, rule))


# ---------------------------------------------------------------- vulnerabilities, other settings


def _fact(observed: Observed[T], holds: Callable[[T | None], bool]) -> bool | ProbeError:
    return observed.error if observed.error is not None else holds(observed.value)


@dataclass(frozen=True)
class Flag:
    """A yes/no property of the server: which answer violates the rule, and how to say it."""

    check_id: str
    subject: str
    read: Callable[[TlsFacts], bool | ProbeError]
    bad: bool
    says: tuple[str, str]
    """Observed text when the property is (False, True)."""
    expected: str
    outside: Callable[[TlsFacts], str | None] = lambda facts: None
    """Why the property does not apply to this server (None: it applies): not_applicable."""
    judged: Callable[[TlsFacts], bool] = lambda facts: True
    """Whether the service has the property at all (HSTS: HTTPS only); else no finding."""

    def __call__(self, view: TlsView, rule: Rule, now: datetime) -> Iterator[Outcome]:
        facts = view.facts
        if not self.judged(facts):
            return
        state = self.read(facts)
        why_not = self.outside(facts)
        result: Judgement | ProbeError | NotApplicable
        if why_not is not None:
            said = "not observed" if isinstance(state, ProbeError) else self.says[state]
            result = NotApplicable(said, why_not)
        elif isinstance(state, ProbeError):
            result = state
        else:
            level = rule.level if state == self.bad else None
            result = level, self.says[state]
        yield Outcome(self.subject, self.expected, result)


def _fewer_than_two_below_tls13(facts: TlsFacts) -> str | None:
    """Not applicable unless two or more versions below TLS 1.3 are (or may be) accepted."""
    states = [accepted(facts, v) for v in PROTOCOL_VERSIONS[:-1]]
    certain = sum(state is True for state in states)
    if certain >= 2 or any(isinstance(state, ProbeError) for state in states):
        return None
    return "fewer than two versions below TLS 1.3 accepted: there is nothing to downgrade to"


def _tls13_only(facts: TlsFacts) -> str | None:
    """Not applicable when no version below TLS 1.3 is accepted (TLS 1.3 removed the feature)."""
    states = [accepted(facts, v) for v in PROTOCOL_VERSIONS[:-1]]
    if all(state is False for state in states) and accepted(facts, "TLS 1.3") is True:
        return "TLS 1.3 only: TLS 1.3 has no renegotiation and no compression"
    return None


def _without(version: ProtocolVersion, why: str) -> Callable[[TlsFacts], str | None]:
    return lambda facts: why if accepted(facts, version) is False else None


def _robot(view: TlsView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    facts, expected = view.facts, "no RSA padding oracle"
    value = facts.robot.value
    result: Judgement | ProbeError
    if facts.robot.error is not None:
        result = facts.robot.error
    elif value is Robot.INCONSISTENT:
        result = ProbeError(reason=ErrorReason.ENGINE_ERROR, detail="inconsistent ROBOT results")
    else:
        vulnerable = value in (Robot.WEAK_ORACLE, Robot.STRONG_ORACLE)
        result = (rule.level if vulnerable else None, str(value))
    yield Outcome("ROBOT", expected, result)


VULNERABILITY_FLAGS = (
    Flag(
        "vuln.heartbleed",
        "Heartbleed",
        lambda f: _fact(f.heartbleed, bool),
        bad=True,
        says=("not vulnerable", "vulnerable"),
        expected="not vulnerable",
    ),
    Flag(
        "vuln.ccs_injection",
        "CCS injection",
        lambda f: _fact(f.ccs_injection, bool),
        bad=True,
        says=("not vulnerable", "vulnerable"),
        expected="not vulnerable",
    ),
)
SETTING_FLAGS = (
    Flag(
        "tls.renegotiation.secure",
        "secure renegotiation",
        lambda f: _fact(f.renegotiation, lambda r: r is not None and r.secure),
        bad=False,
        says=("not supported", "supported"),
        expected="supported",
        outside=_tls13_only,
    ),
    Flag(
        "tls.renegotiation.client_initiated",
        "client-initiated renegotiation",
        lambda f: _fact(f.renegotiation, lambda r: r is not None and r.client_initiated),
        bad=True,
        says=("refused", "accepted"),
        expected="refused",
        outside=_tls13_only,
    ),
    Flag(
        "tls.compression",
        "TLS compression",
        lambda f: _fact(f.compression, bool),
        bad=True,
        says=("not accepted", "accepted"),
        expected="not accepted",
        outside=_tls13_only,
    ),
    Flag(
        "tls.fallback_scsv",
        "TLS_FALLBACK_SCSV",
        lambda f: _fact(f.fallback_scsv, bool),
        bad=False,
        says=("not honoured", "honoured"),
        expected="honoured when several versions below TLS 1.3 are accepted",
        outside=_fewer_than_two_below_tls13,
    ),
    Flag(
        "tls.ems",
        "extended master secret",
        lambda f: _fact(f.extended_master_secret, bool),
        bad=False,
        says=("not supported", "supported"),
        expected="supported with TLS 1.2",
        outside=_without("TLS 1.2", "TLS 1.2 not accepted (TLS 1.3 always binds the secret)"),
    ),
    Flag(
        "tls.early_data",
        "TLS 1.3 early data",
        lambda f: _fact(f.early_data, bool),
        bad=True,
        says=("not accepted", "accepted"),
        expected="not accepted",
        outside=_without("TLS 1.3", "TLS 1.3 not accepted: 0-RTT exists only in TLS 1.3"),
    ),
    Flag(
        "tls.hsts",
        "HSTS",
        lambda f: _fact(f.hsts, lambda h: h is not None and bool(h.max_age)),
        bad=False,
        says=("no Strict-Transport-Security header with max-age > 0", "present"),
        expected="Strict-Transport-Security with max-age > 0",
        judged=lambda f: f.endpoint.https,
    ),
)

ENDPOINT_CHECKS: tuple[tuple[str, Callable[[TlsView, Rule, datetime], Iterable[Outcome]]], ...] = (
    *((c, _protocol_check(versions, wanted)) for c, versions, wanted in PROTOCOL_RULES),
    ("tls.cipher", _cipher),
    ("tls.kex.dh_size", _dh_size),
    ("tls.kex.group", _group),
    ("tls.kex.strength_horizon", _strength_horizon),
    ("tls.kex.pqc", _pqc),
    *((flag.check_id, flag) for flag in VULNERABILITY_FLAGS),
    ("vuln.robot", _robot),
    *((flag.check_id, flag) for flag in SETTING_FLAGS),
    ("cert.caa", _caa),
)
"""Endpoint checks in report order (the certificate checks of :mod:`.certs` follow)."""

TlsJudge = Callable[[TlsView, Rule, datetime], Iterable[Outcome]]
_CERTIFICATE_CHECKS: tuple[tuple[str, TlsJudge], ...] = tuple((c.check_id, c) for c in certs.CHECKS)
for _check_id, _judge in (*ENDPOINT_CHECKS, *_CERTIFICATE_CHECKS):
    check(_check_id, TlsView)(_judge)


# ---------------------------------------------------------------- across the addresses of one name


def _address(facts: TlsFacts) -> str:
    ip = facts.endpoint.ip
    return f"[{ip}]" if ":" in ip else ip


def _suite_set(facts: TlsFacts) -> frozenset[str] | ProbeError:
    errors = [o.error for _, o in _protocols(facts) if o.error is not None]
    return errors[0] if errors else frozenset(f"{v} {s.name}" for v, s in _suites(facts))


def _protocol_set(facts: TlsFacts) -> frozenset[str] | ProbeError:
    states = {v: accepted(facts, v) for v in PROTOCOL_VERSIONS if facts.protocol(v)}
    errors = [s for s in states.values() if isinstance(s, ProbeError)]
    return errors[0] if errors else frozenset(v for v, s in states.items() if s is True)


def _group_set(facts: TlsFacts) -> frozenset[str] | ProbeError:
    return facts.groups.error or frozenset(facts.groups.value or [])


def _leaf_set(facts: TlsFacts) -> frozenset[str] | ProbeError:
    info = facts.certificates
    if info.error is not None or info.value is None:
        return info.error or NOT_SCANNED
    return frozenset(
        f"{d.received_chain[0].subject} (SHA-256 {d.received_chain[0].sha256})"
        for d in info.value.deployments
        if d.received_chain
    )


ASPECTS: tuple[tuple[str, Callable[[TlsFacts], frozenset[str] | ProbeError]], ...] = (
    ("protocol versions", _protocol_set),
    ("cipher suites", _suite_set),
    ("groups", _group_set),
    ("leaf certificates", _leaf_set),
)


def evaluate_consistency(
    facts_list: Sequence[TlsFacts], profile: Profile, now: datetime
) -> list[Finding]:
    """``ipv6.consistency`` across the reachable addresses of one name (two or more)."""
    reachable = [f for f in facts_list if f.connectivity is None]
    if len(reachable) < 2:
        return []
    return evaluate(Addresses(reachable), Addresses, profile, now)


@check("ipv6.consistency", Addresses)
def _consistency(addresses: Addresses, rule: Rule, now: datetime) -> Iterator[Outcome]:
    """One outcome per aspect (protocols, suites, groups, leaf certificates); a difference
    names the addresses and what only some of them have."""
    first = addresses.endpoints[0].endpoint
    name = f"{first.host}:{first.port}"
    for aspect, read in ASPECTS:
        subject, expected = f"{name} {aspect}", f"the same {aspect} on every address"
        values = {_address(f): read(f) for f in addresses.endpoints}
        failed = [a for a, v in values.items() if isinstance(v, ProbeError)]
        if failed:
            yield Outcome(
                subject, expected, Unknown(f"{aspect} not determined on {', '.join(failed)}")
            )
            continue
        differs, observed = _compare(
            {a: v for a, v in values.items() if not isinstance(v, ProbeError)}
        )
        yield Outcome(subject, expected, (rule.level if differs else None, observed))


def _compare(sets: dict[str, frozenset[str]]) -> tuple[bool, str]:
    """Whether the addresses differ, and what each group of addresses has beyond the rest."""
    groups: dict[frozenset[str], list[str]] = {}
    for address, value in sets.items():
        groups.setdefault(value, []).append(address)
    if len(groups) == 1:
        return False, f"identical on {', '.join(sets)}"
    common = frozenset.intersection(*groups)
    parts = [
        f"{', '.join(addresses)} also {'has' if len(addresses) == 1 else 'have'} "
        + ", ".join(sorted(value - common))
        if value - common
        else f"{', '.join(addresses)}: only what every address has"
        for value, addresses in groups.items()
    ]
    return True, "; ".join(parts)


PROBE_READERS: dict[Probe, tuple[str, ...]] = {
    Probe.HEARTBLEED: ("vuln.heartbleed",),
    Probe.CCS_INJECTION: ("vuln.ccs_injection",),
    Probe.ROBOT: ("vuln.robot",),
    Probe.RENEGOTIATION: ("tls.renegotiation.secure", "tls.renegotiation.client_initiated"),
    Probe.COMPRESSION: ("tls.compression",),
    Probe.FALLBACK_SCSV: ("tls.fallback_scsv",),
    Probe.EXTENDED_MASTER_SECRET: ("tls.ems",),
    Probe.EARLY_DATA: ("tls.early_data",),
    Probe.RESUMPTION: (),
    Probe.HSTS: ("tls.hsts",),
    Probe.CERTIFICATES: (*(c.check_id for c in certs.CHECKS), "ipv6.consistency"),
}
"""The checks that read each probe's facts (no check reads session resumption: it is
recorded for reports and history only)."""


def unneeded_probes(profile: Profile) -> frozenset[Probe]:
    """The probes whose facts no rule of *profile* reads: compliance mode skips them."""
    return frozenset(
        probe
        for probe, readers in PROBE_READERS.items()
        if not any(profile.rule(check_id) is not None for check_id in readers)
    )
