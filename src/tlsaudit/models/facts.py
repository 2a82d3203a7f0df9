"""Facts gathered from the network.

Facts are what a scanner saw, never a judgement. Every observation that can fail on
its own is an :class:`Observed` value: either ``value`` is set, or ``error`` says why
it could not be determined. Facts serialise to JSON and load back, so stored scans can
be re-judged against a newer profile without touching the network.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Model(BaseModel):
    """Base for every serialised model: unknown keys are rejected, instances are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ErrorReason(StrEnum):
    """Why an observation could not be made (a dashboard can group by this)."""

    TIMEOUT = "timeout"
    CONNECTION_REFUSED = "connection_refused"
    NAME_RESOLUTION = "name_resolution"
    HANDSHAKE_FAILED = "handshake_failed"
    NOT_TLS = "not_tls"
    STARTTLS_FAILED = "starttls_failed"
    CLIENT_CERT_REQUIRED = "client_certificate_required"
    NOT_APPLICABLE = "not_applicable"
    NOT_SCANNED = "not_scanned"
    ENGINE_ERROR = "engine_error"
    SERVFAIL = "servfail"
    REFUSED = "refused"
    TRUNCATED = "truncated"
    INVALID_ANSWER = "invalid_answer"
    NETWORK_ERROR = "network_error"


class ProbeError(Model):
    """An observation that could not be made."""

    reason: ErrorReason
    detail: str = Field(description="Human-readable detail, e.g. the exception message.")


class Observed(Model, Generic[T]):
    """A value that was observed, or the reason it could not be."""

    value: T | None = None
    error: ProbeError | None = None

    @classmethod
    def of(cls, value: T) -> Observed[T]:
        return cls(value=value)

    @classmethod
    def failed(cls, reason: ErrorReason, detail: str) -> Observed[T]:
        return cls(error=ProbeError(reason=reason, detail=detail))


StartTlsProtocol = Literal["smtp", "imap", "pop3", "ftp", "ldap", "xmpp", "xmpp_server", "postgres"]


class Endpoint(Model):
    """One network endpoint: the address actually connected to and the name sent."""

    host: str = Field(
        description="Name (or address) the user gave; checked against the certificate."
    )
    port: int
    ip: str = Field(description="Address connected to.")
    sni: str | None = Field(default=None, description="Server name sent in the ClientHello.")
    starttls: StartTlsProtocol | None = None
    https: bool = Field(description="True when HTTP headers (HSTS) are to be checked.")
    unicode_host: str | None = Field(
        default=None,
        description="For an internationalised name: host in U-labels, for display (host holds"
        " the A-labels, which are scanned).",
    )

    @property
    def name(self) -> str:
        """The name scanned for: sent as SNI and checked against the certificate and CAA (the
        SNI name when one was given, else the host, an address only when that is the host)."""
        return self.sni or self.host

    @property
    def label(self) -> str:
        """``[scheme://]host:port (address)``, host in A-labels: stable, for keys."""
        return self._written(self.host)

    @property
    def display(self) -> str:
        """The label for readers: an internationalised name in both forms, U-labels first
        (``日本語.jp (xn--wgv71a119e.jp):443 (192.0.2.1)``), so neither is hidden."""
        return self._written(
            f"{self.unicode_host} ({self.host})" if self.unicode_host else self.host
        )

    def _written(self, host: str) -> str:
        address = f"[{self.ip}]" if ":" in self.ip else self.ip
        scheme = f"{self.starttls}://" if self.starttls else ""
        return f"{scheme}{host}:{self.port} ({address})"


ProtocolVersion = Literal["SSL 2.0", "SSL 3.0", "TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3"]
PROTOCOL_VERSIONS: tuple[ProtocolVersion, ...] = (
    "SSL 2.0",
    "SSL 3.0",
    "TLS 1.0",
    "TLS 1.1",
    "TLS 1.2",
    "TLS 1.3",
)


class EphemeralKey(Model):
    """The ephemeral key the server sent for a (EC)DHE handshake."""

    kind: Literal["DH", "ECDH"]
    size: int = Field(description="Bits: the DH prime size, or the curve size.")
    group: str | None = Field(
        default=None, description="Curve or named group (e.g. X25519, secp256r1, ffdhe2048)."
    )


class AcceptedSuite(Model):
    """A cipher suite the server accepted for one protocol version."""

    name: str = Field(description="IANA name, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256.")
    openssl_name: str
    ephemeral_key: EphemeralKey | None = None
    detected_by: Literal["handshake", "client-hello"] = Field(
        default="handshake",
        description="handshake: a full handshake by sslyze; client-hello: tlsaudit's own"
        " ClientHello probe, for suites sslyze's OpenSSL builds cannot offer (the server chose"
        " the suite in its ServerHello; no handshake was completed).",
    )


class ProtocolFacts(Model):
    """Cipher-suite enumeration for one protocol version."""

    version: ProtocolVersion
    accepted: Observed[list[AcceptedSuite]] = Field(
        description="Accepted suites; empty list = the version is not accepted."
    )
    server_preference: bool | None = Field(
        default=None,
        description="Whether the server enforces its own suite order (compliance mode: the"
        " first two suites it picked, offered swapped); None = not determined.",
    )
    preference_order: list[str] = Field(
        default_factory=list,
        description="The accepted suites (IANA names) in the server's order, most preferred"
        " first, when it enforces one and one elimination saw them all.",
    )


class KeyInfo(Model):
    algorithm: Literal["RSA", "EC", "DSA", "Ed25519", "Ed448", "other"]
    size: int = Field(description="Bits: RSA/DSA modulus, EC curve order size, EdDSA key size.")
    curve: str | None = Field(default=None, description="Named curve for EC keys (secp256r1, ...).")


class CertificateFacts(Model):
    """One certificate as served (or as completed by path validation)."""

    subject: str
    issuer: str
    serial: str
    sha256: str = Field(description="SHA-256 fingerprint (hex) of the DER encoding.")
    not_before: datetime
    not_after: datetime
    key: KeyInfo
    signature_algorithm: str = Field(description="OID name, e.g. sha256WithRSAEncryption.")
    signature_hash: str | None = Field(
        description="Hash of the signature (sha256, sha1, ...); None for EdDSA."
    )
    self_signed: bool = Field(description="Subject equals issuer and the signature verifies.")
    is_ca: bool
    san_dns: list[str] = Field(default_factory=list)
    san_ip: list[str] = Field(default_factory=list)
    ca_issuers: list[str] = Field(
        default_factory=list,
        description="Authority Information Access caIssuers URIs (where the issuer is published).",
    )
    key_usage: list[str] | None = Field(
        default=None, description="keyUsage bits set (digitalSignature, ...); None = no extension."
    )
    extended_key_usage: list[str] | None = Field(
        default=None,
        description="extendedKeyUsage purposes (serverAuth, clientAuth, ... or a dotted OID);"
        " None = no extension (any purpose).",
    )
    must_staple: bool = Field(
        default=False, description="TLS Feature extension with status_request (RFC 7633)."
    )
    sct_count: int = Field(
        default=0, description="Signed Certificate Timestamps embedded in the certificate."
    )


class TrustResult(Model):
    """Path validation of one deployment against one trust store."""

    store: str = Field(description="Store name and version, e.g. 'Mozilla 2024-08' or 'ca-file'.")
    valid: bool
    error: str | None = Field(default=None, description="Validation error when not valid.")
    verified_chain: list[str] = Field(
        default_factory=list, description="SHA-256 fingerprints of the verified path, leaf first."
    )


class CertificateDeployment(Model):
    """A certificate chain the server serves (one per key type it offers)."""

    received_chain: list[CertificateFacts] = Field(description="As sent by the server, leaf first.")
    verified_chain: list[CertificateFacts] = Field(
        default_factory=list,
        description="The first validated path (includes the trust anchor); empty when none.",
    )
    trust: list[TrustResult]
    hostname_matches: bool
    ocsp_stapled: bool
    ocsp_status: str | None = None
    chain_order_valid: bool | None = None
    anchor_sent: bool | None = Field(
        default=None,
        description="The server sends the trust anchor (root) of the verified path;"
        " None when no path was verified.",
    )


class CertificateInfo(Model):
    hostname: str = Field(description="Name the certificates were checked against.")
    deployments: list[CertificateDeployment]


class Robot(StrEnum):
    NOT_VULNERABLE = "not_vulnerable"
    NO_RSA_KEX = "no_rsa_key_exchange"
    WEAK_ORACLE = "weak_oracle"
    STRONG_ORACLE = "strong_oracle"
    INCONSISTENT = "inconsistent"


class Renegotiation(Model):
    secure: bool = Field(description="RFC 5746 secure renegotiation supported.")
    client_initiated: bool = Field(description="Client-initiated renegotiation accepted.")


class Resumption(Model):
    session_id: bool = Field(description="TLS 1.2 (or earlier) session-ID resumption.")
    tickets: bool = Field(description="TLS 1.2 (or earlier) session-ticket resumption.")
    tls13: bool | None = Field(
        default=None,
        description="TLS 1.3 resumption with a ticket (PSK); None when TLS 1.3 was not probed.",
    )


class Hsts(Model):
    max_age: int | None
    include_subdomains: bool
    preload: bool


class CaaRecord(Model):
    flags: int
    tag: str
    value: str


class CaaFacts(Model):
    """The relevant CAA RRset (RFC 8659 §3: the closest non-empty one, climbing to the TLD)."""

    owner: str | None = Field(description="Where the RRset was found; None when there is none.")
    records: list[CaaRecord] = Field(default_factory=list)


def _unscanned(kind: type[T]) -> Callable[[], Observed[T]]:
    """Default for an observation the scanner did not make."""
    return lambda: Observed[kind].failed(ErrorReason.NOT_SCANNED, "not scanned")  # type: ignore[valid-type]


class TlsFacts(Model):
    """Everything observed about one endpoint's TLS."""

    endpoint: Endpoint
    scanned_at: datetime
    engine: str = Field(description="Scanner and version, e.g. 'sslyze 6.3.1'.")
    mode: Literal["compliance", "full"] = Field(
        default="full",
        description="compliance: suites and groups by elimination, only the probes the profile"
        " reads; full: sslyze's own scan, one handshake per suite and per curve, every probe.",
    )
    connectivity: ProbeError | None = Field(
        default=None, description="Set when the endpoint could not be reached over TLS at all."
    )
    protocols: list[ProtocolFacts] = Field(default_factory=list)
    groups: Observed[list[str]] = Field(
        default_factory=_unscanned(list[str]),
        description="Supported key-exchange groups: sslyze's curves at the highest version, plus"
        " the TLS 1.3 groups of group_probe (FFDHE, ML-KEM, brainpool).",
    )
    group_probe: Observed[list[str]] = Field(
        default_factory=_unscanned(list[str]),
        description="Every TLS 1.3 group tlsaudit's own ClientHello probe asked about (one group"
        " per hello; the HelloRetryRequest or ServerHello names it when supported): a probed"
        " group absent from `groups` is not supported.",
    )
    certificates: Observed[CertificateInfo] = Field(default_factory=_unscanned(CertificateInfo))
    heartbleed: Observed[bool] = Field(default_factory=_unscanned(bool))
    ccs_injection: Observed[bool] = Field(default_factory=_unscanned(bool))
    robot: Observed[Robot] = Field(default_factory=_unscanned(Robot))
    renegotiation: Observed[Renegotiation] = Field(default_factory=_unscanned(Renegotiation))
    compression: Observed[bool] = Field(default_factory=_unscanned(bool))
    fallback_scsv: Observed[bool] = Field(default_factory=_unscanned(bool))
    extended_master_secret: Observed[bool] = Field(default_factory=_unscanned(bool))
    early_data: Observed[bool] = Field(default_factory=_unscanned(bool))
    resumption: Observed[Resumption] = Field(default_factory=_unscanned(Resumption))
    caa: Observed[CaaFacts] = Field(
        default_factory=_unscanned(CaaFacts),
        description="CAA of the scanned name (not applicable to an address, or to a special-use"
        " name such as *.test unless --resolver is given).",
    )
    hsts: Observed[Hsts | None] = Field(
        default_factory=_unscanned(Hsts | None),  # type: ignore[arg-type]
        description="value None = HTTPS answered without an HSTS header.",
    )
    coverage: list[str] = Field(
        default_factory=list,
        description="What the engine cannot test (e.g. Camellia-GCM): not the same as absent.",
    )

    def protocol(self, version: ProtocolVersion) -> ProtocolFacts | None:
        return next((p for p in self.protocols if p.version == version), None)
