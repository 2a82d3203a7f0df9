"""Server-certificate findings (GL-3001 第5章, LS-0001, LS-0003, 統一基準 6.2.3(1)-5 b).

Every deployment the server offers (one chain per key type) is judged; per-certificate
checks cover the leaf and every other certificate of the received chain plus those only
in the verified chain. Trust anchors, whether the server sends them or path validation
takes them from a store, are exempt from the key, hash, expiry and 112-bit horizon checks
(cryptrec.md part 1 §1.4): the server operator does not choose the root.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tlsaudit.evaluate.base import (
    Judgement,
    NotApplicable,
    describe_thresholds,
    threshold_level,
)
from tlsaudit.evaluate.check import Outcome, TlsView
from tlsaudit.models.facts import (
    CertificateDeployment,
    CertificateFacts,
    CertificateInfo,
    ErrorReason,
    ProbeError,
)
from tlsaudit.profiles import Allowed, ExpiryRule, KeySizeRule, Limit, Rule, SizeBand
from tlsaudit.records.suites import parse_group

DEPLOYMENT_NAMES = {
    "RSA": "RSA",
    "EC": "ECDSA",
    "DSA": "DSA",
    "Ed25519": "Ed25519",
    "Ed448": "Ed448",
}
FINITE_FIELD = ("RSA", "DSA")


@dataclass(frozen=True)
class Deployment:
    """One served chain with its report label ("RSA deployment") and the name scanned."""

    label: str
    hostname: str
    facts: CertificateDeployment

    @property
    def leaf(self) -> CertificateFacts | None:
        return self.facts.received_chain[0] if self.facts.received_chain else None

    @property
    def certificates(self) -> list[Certificate]:
        """Received chain, then the certificates only the verified chain has."""
        seen = {c.sha256 for c in self.facts.received_chain}
        extra = [c for c in self.facts.verified_chain if c.sha256 not in seen]
        chain = [*self.facts.received_chain, *extra]
        return [Certificate(self, index, cert) for index, cert in enumerate(chain)]


@dataclass(frozen=True)
class Certificate:
    """One certificate of a deployment and its position (0 = the leaf)."""

    deployment: Deployment
    index: int
    facts: CertificateFacts

    @property
    def is_anchor(self) -> bool:
        """A trust anchor: a self-signed certificate above the leaf, or the last certificate
        of the verified path (sent by the server or taken from a trust store)."""
        if self.index == 0:
            return False
        verified = self.deployment.facts.verified_chain
        return self.facts.self_signed or (
            len(verified) > 1 and verified[-1].sha256 == self.facts.sha256
        )

    @property
    def label(self) -> str:
        role = "leaf" if self.index == 0 else "root" if self.is_anchor else "intermediate"
        return f"{self.deployment.label} / certificate #{self.index} ({role}) {_cn(self.facts)}"


def _cn(cert: CertificateFacts) -> str:
    return _cn_of(cert.subject)


DeploymentResult = Judgement | ProbeError | NotApplicable


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# ---------------------------------------------------------------- per deployment


def _trust(deployment: Deployment, rule: Rule, now: datetime) -> DeploymentResult:
    results = deployment.facts.trust
    if not results:
        return ProbeError(reason=ErrorReason.NOT_SCANNED, detail="no trust store was checked")
    valid = [t.store for t in results if t.valid]
    if valid:
        return None, f"validates against {', '.join(valid)}"
    by_error: dict[str, list[str]] = {}
    for result in results:
        by_error.setdefault(result.error or "not valid", []).append(result.store)
    errors = "; ".join(f"{', '.join(stores)}: {error}" for error, stores in by_error.items())
    return rule.level, f"{_trust_problem(deployment, now)} — {errors}"


def _trust_problem(deployment: Deployment, now: datetime) -> str:
    """Why no store validated the chain, in the order a fix would address it: self-signed,
    a signature algorithm or key usage the verifier refuses, a problem other checks judge
    too (name, validity, SHA-1), an incomplete chain, or an issuer no store trusts."""
    chain = deployment.facts.received_chain
    if not chain:
        return "no certificate received"
    if chain[0].self_signed:
        return "self-signed certificate"
    errors = " ".join(t.error or "" for t in deployment.facts.trust)
    certs = [c for c in deployment.certificates if not c.is_anchor]
    if "signature algorithm" in errors.lower():
        refused = [c for c in certs if c.facts.signature_algorithm not in _WEBPKI_SIGNATURES]
        named = "; ".join(f"{c.facts.signature_algorithm} on {c.label}" for c in refused)
        return f"signature algorithm refused by the trust-store verifier: {named or errors}"
    if "EKU" in errors or not _serves_tls(chain[0]):
        return "the leaf is not valid for TLS servers (extendedKeyUsage lacks serverAuth)"
    causes = [
        text
        for text, present in (
            ("name mismatch", not deployment.facts.hostname_matches),
            (
                "certificate outside its validity period",
                any(_outside(c.facts, now) for c in certs),
            ),
            ("rejected signature hash", any(c.facts.signature_hash in _REJECTED for c in certs)),
        )
        if present
    ]
    if causes:
        return "does not validate: " + ", ".join(causes)
    top = chain[-1]
    if top.self_signed:
        return f"untrusted root {_cn(top)}"
    issuer = _cn_of(top.issuer)
    if top.ca_issuers:
        sent = "only the leaf" if len(chain) == 1 else f"{len(chain)} certificates"
        return (
            f"incomplete chain: the server sends {sent}, not their issuer {issuer}"
            f" (published at {', '.join(top.ca_issuers)})"
        )
    return f"issuer not trusted: {issuer} is in no trust store and the server does not send it"


_REJECTED = ("md2", "md5", "sha1")
_WEBPKI_SIGNATURES = frozenset(
    {
        "sha256WithRSAEncryption",
        "sha384WithRSAEncryption",
        "sha512WithRSAEncryption",
        "RSASSA-PSS",
        "ecdsa-with-SHA256",
        "ecdsa-with-SHA384",
        "ecdsa-with-SHA512",
        "ed25519",
    }
)
"""Certificate signature algorithms the stores' verifier (cryptography's web PKI policy)
accepts; a chain refused for another is reported with the algorithm's name."""


def _serves_tls(leaf: CertificateFacts) -> bool:
    usage = leaf.extended_key_usage
    return usage is None or bool({"serverAuth", "anyExtendedKeyUsage"} & set(usage))


def _cn_of(name: str) -> str:
    parts = [p.strip() for p in name.split(",")]
    return next((p for p in parts if p.upper().startswith("CN=")), name)


def _outside(cert: CertificateFacts, now: datetime) -> bool:
    return not _utc(cert.not_before) <= now <= _utc(cert.not_after)


def _hostname(deployment: Deployment, rule: Rule, now: datetime) -> DeploymentResult:
    if deployment.facts.hostname_matches:
        return None, f"{deployment.hostname} matches"
    leaf = deployment.facts.received_chain[:1]
    names = ", ".join(leaf[0].san_dns + leaf[0].san_ip) if leaf else ""
    return rule.level, f"{deployment.hostname} does not match (subjectAltName: {names or 'none'})"


def _ocsp(deployment: Deployment, rule: Rule, now: datetime) -> DeploymentResult:
    if deployment.facts.ocsp_stapled:
        return None, f"stapled ({deployment.facts.ocsp_status or 'status not reported'})"
    return rule.level, "no stapled OCSP response"


def _usage(deployment: Deployment, rule: Rule, now: datetime) -> DeploymentResult:
    """The leaf's keyUsage and extendedKeyUsage allow a TLS server handshake."""
    leaf = deployment.leaf
    if leaf is None:
        return _NO_CERTIFICATE
    eku, ku = leaf.extended_key_usage, leaf.key_usage
    observed = (
        f"extendedKeyUsage: {', '.join(eku) if eku is not None else 'absent (any purpose)'};"
        f" keyUsage: {', '.join(ku) if ku is not None else 'absent (any use)'}"
    )
    signs = ku is None or "digitalSignature" in ku
    return (None if _serves_tls(leaf) and signs else rule.level), observed


def _must_staple(deployment: Deployment, rule: Rule, now: datetime) -> DeploymentResult:
    leaf = deployment.leaf
    if leaf is None:
        return _NO_CERTIFICATE
    if not leaf.must_staple:
        return NotApplicable("no must-staple extension", "the leaf does not demand stapling")
    stapled = deployment.facts.ocsp_stapled
    observed = f"must-staple; OCSP response {'stapled' if stapled else 'not stapled'}"
    return (None if stapled else rule.level), observed


def _sct(deployment: Deployment, rule: Rule, now: datetime) -> DeploymentResult:
    leaf = deployment.leaf
    if leaf is None:
        return _NO_CERTIFICATE
    observed = f"{leaf.sct_count} SCT(s) embedded in the leaf"
    trust = deployment.facts.trust
    if any(t.valid for t in trust) and all(t.store.startswith("ca-file") for t in trust if t.valid):
        return NotApplicable(observed, "issued under the private CA of --ca-file: CT not expected")
    return (None if leaf.sct_count >= rule.params(Limit).limit else rule.level), observed


def _chain_order(deployment: Deployment, rule: Rule, now: datetime) -> DeploymentResult:
    valid = deployment.facts.chain_order_valid
    if valid is None:
        return NotApplicable("not compared", "no validated path to compare the order with")
    names = " > ".join(_cn(c) for c in deployment.facts.received_chain)
    return (None if valid else rule.level), f"{'in order' if valid else 'out of order'}: {names}"


def _chain_anchor(deployment: Deployment, rule: Rule, now: datetime) -> DeploymentResult:
    sent = deployment.facts.anchor_sent
    if sent is None:
        return NotApplicable("not known", "no validated path, so no known trust anchor")
    if not sent:
        return None, "the trust anchor is not sent"
    anchor = deployment.facts.verified_chain[-1:] or deployment.facts.received_chain[-1:]
    return rule.level, f"the server sends the trust anchor {_cn(anchor[0]) if anchor else ''}"


_NO_CERTIFICATE = ProbeError(reason=ErrorReason.NOT_SCANNED, detail="no certificate received")


# ---------------------------------------------------------------- per certificate


def _key_size(cert: Certificate, rule: Rule, now: datetime) -> Judgement | None:
    if cert.is_anchor:
        return None
    key, params = cert.facts.key, rule.params(KeySizeRule)
    allowed = {parse_group(name).name.lower() for name in params.allowed}
    if key.algorithm in FINITE_FIELD:
        below = threshold_level(params.thresholds, key.size)
        # DSA of an adequate size is listed (LS-0001) but no browser accepts it: other_level.
        level = below if below or key.algorithm == "RSA" else params.other_level
        return level, f"{key.algorithm} {key.size} bit"
    if key.algorithm in ("EC", "Ed25519", "Ed448"):
        name = parse_group(key.curve or "unknown curve").name if key.curve else key.algorithm
        level = rule.level if key.size < params.min_bits else params.other_level
        observed = f"{DEPLOYMENT_NAMES[key.algorithm]} {name} ({key.size} bit)"
        return (None if name.lower() in allowed else level), observed
    return rule.level, f"unsupported key algorithm ({key.size} bit)"


def _signature_hash(cert: Certificate, rule: Rule, now: datetime) -> Judgement | None:
    if cert.is_anchor:
        return None
    facts = cert.facts
    name = facts.signature_hash or facts.signature_algorithm
    allowed = {_algorithm_key(a) for a in rule.params(Allowed).allowed}
    level = None if _algorithm_key(name) in allowed else rule.level
    return level, f"{facts.signature_algorithm} ({facts.signature_hash or 'no separate hash'})"


def _algorithm_key(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "").replace("/", "")


def _expiry(cert: Certificate, rule: Rule, now: datetime) -> Judgement | None:
    if cert.is_anchor:
        return None
    start, end = _utc(cert.facts.not_before), _utc(cert.facts.not_after)
    if now < start:
        return rule.level, f"not valid before {start:%Y-%m-%d %H:%M} UTC"
    if now > end:
        return rule.level, f"expired {end:%Y-%m-%d %H:%M} UTC"
    left = end - now
    observed = f"valid until {end:%Y-%m-%d} ({left.days} days left)"
    params = rule.params(ExpiryRule)
    return (params.other_level if left < timedelta(days=params.warn_days) else None), observed


def _strength_horizon(
    cert: Certificate, rule: Rule, now: datetime
) -> Judgement | NotApplicable | None:
    if cert.is_anchor:
        return None
    key, end = cert.facts.key, _utc(cert.facts.not_after)
    band = rule.params(SizeBand)
    low, high = band.min_bits, band.max_bits
    observed = f"{key.algorithm} {key.size} bit, valid until {end:%Y-%m-%d}"
    if key.algorithm in FINITE_FIELD and key.size < low:
        return NotApplicable(
            observed, f"below the {low}–{high}-bit band: cert.key.size judges this key"
        )
    weak = key.algorithm in FINITE_FIELD and key.size <= high
    if weak and end.date() > band.horizon:
        return rule.level, f"{observed}: 112-bit strength past {band.horizon}"
    return None, observed


# ---------------------------------------------------------------- registry

DeploymentJudge = Callable[[Deployment, Rule, datetime], DeploymentResult]
CertificateJudge = Callable[[Certificate, Rule, datetime], Judgement | NotApplicable | None]


@dataclass(frozen=True)
class CertCheck:
    """A certificate check: judged once per deployment or once per certificate (a per
    certificate judge returns None for a certificate it does not judge, e.g. an anchor)."""

    check_id: str
    expected: Callable[[Rule], str]
    per_deployment: DeploymentJudge | None = None
    per_certificate: CertificateJudge | None = None

    def __call__(self, view: TlsView, rule: Rule, now: datetime) -> Iterator[Outcome]:
        expected, info = self.expected(rule), view.facts.certificates
        if info.error is not None or info.value is None:
            error = info.error or ProbeError(
                reason=ErrorReason.NOT_SCANNED, detail="no certificate information"
            )
            yield Outcome("server certificates", expected, error)
            return
        for deployment in _deployments(info.value):
            if self.per_deployment is not None:
                yield Outcome(
                    deployment.label, expected, self.per_deployment(deployment, rule, now)
                )
            if self.per_certificate is None:
                continue
            for cert in deployment.certificates:
                judged = self.per_certificate(cert, rule, _utc(now))
                if judged is not None:
                    yield Outcome(cert.label, expected, judged)


CHECKS = (
    CertCheck(
        "cert.trust.public",
        lambda rule: "chain validates against a public trust store or the --ca-file",
        per_deployment=_trust,
    ),
    CertCheck(
        "cert.hostname",
        lambda rule: "the scanned name matches subjectAltName (or CN)",
        per_deployment=_hostname,
    ),
    CertCheck(
        "cert.key.size",
        lambda rule: (
            f"{describe_thresholds(rule.params(KeySizeRule).thresholds)} RSA or DSA, or one of "
            f"{', '.join(rule.params(KeySizeRule).allowed)}"
        ),
        per_certificate=_key_size,
    ),
    CertCheck(
        "cert.signature.hash",
        lambda rule: f"one of {', '.join(rule.params(Allowed).allowed)}",
        per_certificate=_signature_hash,
    ),
    CertCheck(
        "cert.expiry",
        lambda rule: (
            f"valid at the scan time and for more than {rule.params(ExpiryRule).warn_days} days"
        ),
        per_certificate=_expiry,
    ),
    CertCheck(
        "cert.strength_horizon",
        lambda rule: (
            f"no {rule.params(SizeBand).min_bits}–{rule.params(SizeBand).max_bits}-bit RSA/DSA"
            f" key (112-bit strength) valid after {rule.params(SizeBand).horizon}"
        ),
        per_certificate=_strength_horizon,
    ),
    CertCheck("cert.ocsp_stapling", lambda rule: "a stapled OCSP response", per_deployment=_ocsp),
    CertCheck(
        "cert.must_staple",
        lambda rule: "a stapled OCSP response when the leaf demands one (must-staple)",
        per_deployment=_must_staple,
    ),
    CertCheck(
        "cert.usage",
        lambda rule: (
            "extendedKeyUsage with serverAuth (or absent), keyUsage with"
            " digitalSignature (or absent)"
        ),
        per_deployment=_usage,
    ),
    CertCheck(
        "cert.sct",
        lambda rule: (
            f"at least {rule.params(Limit).limit} SCTs embedded in a publicly trusted leaf"
        ),
        per_deployment=_sct,
    ),
    CertCheck(
        "cert.chain.order",
        lambda rule: "leaf first, then each issuer in order",
        per_deployment=_chain_order,
    ),
    CertCheck(
        "cert.chain.anchor",
        lambda rule: "the trust anchor (root) not sent",
        per_deployment=_chain_anchor,
    ),
)
"""Certificate checks in report order (:mod:`.tls` registers them after the endpoint checks)."""


def _deployments(info: CertificateInfo) -> list[Deployment]:
    """Deployments labelled by leaf key type ("RSA deployment", "ECDSA deployment 2")."""
    seen: Counter[str] = Counter()
    deployments = []
    for deployment in info.deployments:
        chain = deployment.received_chain
        kind = DEPLOYMENT_NAMES.get(chain[0].key.algorithm, "other") if chain else "empty"
        seen[kind] += 1
        label = f"{kind} deployment" + (f" {seen[kind]}" if seen[kind] > 1 else "")
        deployments.append(Deployment(label, info.hostname, deployment))
    return deployments
