"""Mail transport checks on facts built in memory: every id registered once, every level
from the profile (rule level and the ``other_level`` / ``absent_level`` parameters), the
shared MX / MTA-STS / DANE results, and the MX TLS findings as the mail report shows them."""

from __future__ import annotations

import base64
import hashlib
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tlsaudit.evaluate import mail_transport
from tlsaudit.evaluate.check import REGISTRY, evaluate
from tlsaudit.evaluate.mailview import MailView, null_mx
from tlsaudit.models.dns import DnsAnswer, DnsStatus
from tlsaudit.models.facts import ErrorReason, Observed, TlsFacts
from tlsaudit.models.findings import Finding, Level, Status, Text
from tlsaudit.models.mail import (
    HttpFetch,
    InjectionProbe,
    MailFacts,
    MxAddress,
    MxHost,
    SmtpFacts,
    SmtpReply,
    Submission,
    TlsSession,
)
from tlsaudit.profiles import Profile, builtin_dir, load_profile

NOW = datetime(2026, 11, 23, tzinfo=UTC)
DOMAIN = "example.test"
MX = "mx.example.test"
IP = "192.0.2.25"
LEAF = b"leaf certificate (DER)"
TLSA_EE = f"3 0 1 {hashlib.sha256(LEAF).hexdigest()}"
TRANSPORT = frozenset(
    tomllib.loads((builtin_dir() / "checks" / "mail-transport.toml").read_text("utf-8"))["checks"]
)
TLS_DATA = Path(__file__).resolve().parents[1] / "tls" / "facts" / "good.json"


@pytest.fixture(scope="module")
def profile() -> Profile:
    return load_profile("cryptrec-high")


def _override(tmp_path: Path, toml: str) -> Profile:
    path = tmp_path / "override.toml"
    path.write_text(f'id = "override"\nname = "override"\nversion = "1"\n'
                    f'extends = "cryptrec-high"\n{toml}')  # fmt: skip
    return load_profile(path)


def _answer(
    name: str,
    rdtype: str,
    records: list[str] | None = None,
    status: DnsStatus = DnsStatus.ANSWER,
    ad: bool = False,
) -> DnsAnswer:
    return DnsAnswer(name=f"{name}.", rdtype=rdtype, status=status, records=records or [], ad=ad)


def _smtp(
    starttls: bool = True, version: str = "TLSv1.3", clear_auth: bool = False
) -> Observed[SmtpFacts]:
    session = TlsSession(
        version=version, cipher="TLS_AES_128_GCM_SHA256", chain=[base64.b64encode(LEAF).decode()]
    )
    return Observed.of(
        SmtpFacts(
            greeting=SmtpReply(code=220, text=f"{MX} ESMTP"),
            esmtp=True,
            extensions=["STARTTLS"] * starttls + ["AUTH PLAIN"] * clear_auth,
            starttls=starttls,
            tls=Observed.of(session) if starttls else None,
            extensions_tls=["AUTH PLAIN"],
        )
    )


def _address(**changes: object) -> MxAddress:
    return MxAddress(ip=IP, port=25, smtp=_smtp()).model_copy(update=changes)


def _facts(
    *answers: DnsAnswer,
    mx: list[MxHost] | None = None,
    policy: str | None = None,
    **changes: object,
) -> MailFacts:
    """MX ``mx.example.test`` with one address unless ``mx`` says otherwise; ``policy``: the
    MTA-STS policy body served (and a ``_mta-sts`` record published)."""
    asked = {(a.name, a.rdtype) for a in answers}
    defaults = [
        _answer(DOMAIN, "MX", [f"10 {MX}."]),
        _answer(MX, "CNAME", status=DnsStatus.NODATA),
        _answer(MX, "A", [IP]),
        _answer(MX, "AAAA", status=DnsStatus.NODATA),
        _answer(f"_mta-sts.{DOMAIN}", "TXT", ['"v=STSv1; id=1"'] if policy else [],
                DnsStatus.ANSWER if policy else DnsStatus.NXDOMAIN),
        _answer(f"_smtp._tls.{DOMAIN}", "TXT", status=DnsStatus.NXDOMAIN),
        _answer(f"_25._tcp.{MX}", "TLSA", status=DnsStatus.NXDOMAIN),
    ]  # fmt: skip
    fetch = None
    if policy is not None:
        url = f"https://mta-sts.{DOMAIN}/.well-known/mta-sts.txt"
        fetch = Observed.of(
            HttpFetch(url=url, ip=IP, status=200, content_type="text/plain", body=policy)
        )
    facts = MailFacts(
        domain=DOMAIN,
        scanned_at=NOW,
        selectors=[],
        dns=[*answers, *(a for a in defaults if (a.name, a.rdtype) not in asked)],
        mx=[MxHost(name=MX, preference=10, addresses=[_address()])] if mx is None else mx,
        mta_sts_policy=fetch,
    )
    return facts.model_copy(update=changes)


def _policy(mode: str, mx: str = MX) -> str:
    return f"version: STSv1\nmode: {mode}\nmx: {mx}\nmax_age: 86400\n"


def _judge(facts: MailFacts, profile: Profile, check_id: str) -> list[Finding]:
    """The findings of one transport check (only that rule kept in the profile)."""
    rules = {check_id: profile.rules[check_id]}
    return evaluate(MailView.of(facts), MailView, profile.model_copy(update={"rules": rules}), NOW)


def _one(facts: MailFacts, profile: Profile, check_id: str) -> Finding:
    [finding] = _judge(facts, profile, check_id)
    return finding


# ---------------------------------------------------------------- the registry


def test_every_transport_check_is_registered_once_in_the_module() -> None:
    mine = {
        check_id
        for check_id, registered in REGISTRY.items()
        if registered.judge.__module__ == mail_transport.__name__
    }
    assert mine == TRANSPORT
    assert all(REGISTRY[check_id].reads is MailView for check_id in TRANSPORT)


def test_level_parameters_are_listed_in_the_catalogue(profile: Profile) -> None:
    """The levels the checks read are profile data, set for every transport rule."""
    for check_id in TRANSPORT:
        rule = profile.rules[check_id]
        for name in profile.checks[check_id].params:
            assert getattr(rule, name) is not None, (check_id, name)


# ---------------------------------------------------------------- absent and not tested

ABSENT = {
    "mail.mx.targets": _answer(DOMAIN, "MX", status=DnsStatus.NXDOMAIN),
    "mail.mtasts": _answer(f"_mta-sts.{DOMAIN}", "TXT", status=DnsStatus.NODATA),
    "mail.tlsrpt": _answer(f"_smtp._tls.{DOMAIN}", "TXT", status=DnsStatus.NXDOMAIN),
    "mail.dane": _answer(f"_25._tcp.{MX}", "TLSA", status=DnsStatus.NXDOMAIN),
}


@pytest.mark.parametrize("check_id", [*ABSENT, "mail.starttls.injection", "mail.relay"])
def test_absent_and_not_tested_take_the_absent_level(
    profile: Profile, tmp_path: Path, check_id: str
) -> None:
    facts = _facts(*([ABSENT[check_id]] if check_id in ABSENT else []))
    finding = _one(facts, profile, check_id)
    assert (finding.status, finding.level) == (Status.INFO, Level.INFORMATIONAL)
    louder = _override(tmp_path, f'[rules."{check_id}"]\nabsent_level = "recommended"\n')
    finding = _one(facts, louder, check_id)
    assert (finding.status, finding.level) == (Status.WARN, Level.RECOMMENDED)


def test_opt_in_probes_name_their_option(profile: Profile) -> None:
    facts = _facts()
    injection = _one(facts, profile, "mail.starttls.injection")
    relay = _one(facts, profile, "mail.relay")
    assert (injection.subject, injection.observed) == (DOMAIN, "not tested")
    assert injection.reason == "this probe is opt-in (--starttls-injection-test)"
    assert relay.reason == "this probe is opt-in (--relay-test)"


# ---------------------------------------------------------------- MX targets


def test_null_mx_alone_passes_and_is_shared(profile: Profile) -> None:
    facts = _facts(_answer(DOMAIN, "MX", ["0 ."]), mx=[])
    assert _one(facts, profile, "mail.mx.targets").status is Status.PASS
    assert null_mx(MailView.of(facts)) is True


def test_null_mx_beside_another_fails(profile: Profile) -> None:
    facts = _facts(_answer(DOMAIN, "MX", ["0 .", f"10 {MX}."]))
    finding = _one(facts, profile, "mail.mx.targets")
    assert (finding.status, finding.expected) == (Status.FAIL, "a null MX alone (RFC 7505)")
    assert null_mx(MailView.of(facts)) is False


def test_mx_targets_per_host(profile: Profile) -> None:
    facts = _facts(
        _answer(DOMAIN, "MX", [f"10 {MX}.", "20 alias.example.test.", "30 192.0.2.9"]),
        _answer("alias.example.test", "CNAME", [f"{MX}."]),
    )
    found = {f.subject: (f.status, f.observed) for f in _judge(facts, profile, "mail.mx.targets")}
    assert found == {
        f"MX {MX}": (Status.PASS, IP),
        "MX alias.example.test": (Status.FAIL, f"CNAME to {MX}."),
        "MX 192.0.2.9": (Status.FAIL, "an IP address"),
    }


def test_failed_lookups_are_unknown_with_the_answer_detail(profile: Profile) -> None:
    failed = _answer(MX, "A", status=DnsStatus.SERVFAIL)
    finding = _one(_facts(failed), profile, "mail.mx.targets")
    assert finding.status is Status.UNKNOWN
    assert finding.reason == failed.detail
    facts = _facts(_answer(DOMAIN, "MX", status=DnsStatus.TIMEOUT))
    assert null_mx(MailView.of(facts)) is None
    for check_id in ("mail.mx.targets", "mail.mtasts", "mail.tlsrpt", "mail.dane"):
        timeout = _facts(*(a.model_copy(update={"status": DnsStatus.TIMEOUT}) for a in facts.dns))
        assert {f.status for f in _judge(timeout, profile, check_id)} == {Status.UNKNOWN}


# ---------------------------------------------------------------- MTA-STS and TLS-RPT


def test_mta_sts_enforce_with_every_mx_passes(profile: Profile) -> None:
    facts = _facts(policy=_policy("enforce"))
    finding = _one(facts, profile, "mail.mtasts")
    assert finding.status is Status.PASS
    assert finding.observed == f"mode enforce, mx: {MX}"
    assert mail_transport.mtasts_mode(MailView.of(facts)) == "enforce"


@pytest.mark.parametrize(
    ("mode", "status", "other"),
    [("enforce", Status.FAIL, Status.FAIL), ("testing", Status.WARN, Status.INFO)],
)
def test_an_mx_outside_the_policy(
    profile: Profile, tmp_path: Path, mode: str, status: Status, other: Status
) -> None:
    """Enforce mode: the rule level (mail stops); testing mode: ``other_level``."""
    facts = _facts(policy=_policy(mode, mx="other.example.test"))
    finding = _one(facts, profile, "mail.mtasts")
    assert finding.status is status
    assert f"not covered: {MX}" in finding.observed
    quiet = _override(tmp_path, '[rules."mail.mtasts"]\nother_level = "informational"\n')
    assert _one(facts, quiet, "mail.mtasts").status is other


def test_a_broken_policy_takes_the_other_level(profile: Profile, tmp_path: Path) -> None:
    facts = _facts(policy=_policy("enforce"))
    assert facts.mta_sts_policy is not None
    assert facts.mta_sts_policy.value is not None
    moved = facts.mta_sts_policy.value.model_copy(update={"status": 301, "location": "/x"})
    facts = facts.model_copy(update={"mta_sts_policy": Observed.of(moved)})
    finding = _one(facts, profile, "mail.mtasts")
    assert (finding.status, finding.level) == (Status.WARN, Level.RECOMMENDED)
    assert "HTTP 301 (redirects not followed)" in finding.observed
    assert mail_transport.mtasts_mode(MailView.of(facts)) is None
    strict = _override(tmp_path, '[rules."mail.mtasts"]\nother_level = "mandatory"\n')
    assert _one(facts, strict, "mail.mtasts").status is Status.FAIL


def test_mta_sts_needs_starttls_with_tls_1_2(profile: Profile) -> None:
    old = [MxHost(name=MX, preference=10, addresses=[_address(smtp=_smtp(version="TLSv1"))])]
    finding = _one(_facts(policy=_policy("enforce"), mx=old), profile, "mail.mtasts")
    assert finding.status is Status.FAIL
    assert f"{MX} ({IP}): negotiated TLSv1" in finding.observed


def test_tlsrpt_beside_mta_sts_takes_the_rule_level(profile: Profile, tmp_path: Path) -> None:
    facts = _facts(policy=_policy("testing"))
    finding = _one(facts, profile, "mail.tlsrpt")
    assert (finding.status, finding.observed) == (Status.WARN, "no TLS-RPT record")
    assert finding.reason == "recommended when MTA-STS or DANE is published"
    strict = _override(tmp_path, '[rules."mail.tlsrpt"]\nlevel = "mandatory"\n')
    finding = _one(facts, strict, "mail.tlsrpt")
    assert finding.status is Status.FAIL
    assert finding.reason == "mandatory when MTA-STS or DANE is published"


def test_tlsrpt_record_is_judged(profile: Profile) -> None:
    good = _answer(f"_smtp._tls.{DOMAIN}", "TXT", ['"v=TLSRPTv1; rua=mailto:tls@example.test"'])
    assert _one(_facts(good), profile, "mail.tlsrpt").status is Status.PASS
    bad = _answer(f"_smtp._tls.{DOMAIN}", "TXT", ['"v=TLSRPTv1;"'])
    finding = _one(_facts(bad), profile, "mail.tlsrpt")
    assert (finding.status, finding.reason) == (Status.WARN, "no rua= tag")


# ---------------------------------------------------------------- DANE


def _tlsa(records: list[str], ad: bool = True) -> DnsAnswer:
    return _answer(f"_25._tcp.{MX}", "TLSA", records, ad=ad)


def test_dane_matches_the_served_chain(profile: Profile) -> None:
    facts = _facts(_tlsa([TLSA_EE]))
    finding = _one(facts, profile, "mail.dane")
    assert (finding.subject, finding.status) == (f"_25._tcp.{MX} ({IP})", Status.PASS)
    assert finding.observed.startswith("matched 3 0 1 ")
    assert mail_transport.dane_secured(MailView.of(facts)) == {MX}
    wrong = _facts(_tlsa([f"3 0 1 {'00' * 32}"]))
    assert _one(wrong, profile, "mail.dane").status is Status.FAIL


def test_dane_without_dnssec_takes_the_other_level(profile: Profile, tmp_path: Path) -> None:
    facts = _facts(_tlsa([TLSA_EE], ad=False))
    finding = _one(facts, profile, "mail.dane")
    assert (finding.status, finding.level) == (Status.WARN, Level.RECOMMENDED)
    assert finding.reason == "not DNSSEC-validated (ignored by senders)"
    assert mail_transport.dane_secured(MailView.of(facts)) == set()
    strict = _override(tmp_path, '[rules."mail.dane"]\nother_level = "mandatory"\n')
    assert _one(facts, strict, "mail.dane").status is Status.FAIL
    pkix = _one(_facts(_tlsa([f"1 0 1 {'00' * 32}"])), profile, "mail.dane")
    assert pkix.reason == "no DANE-TA/DANE-EE record usable for SMTP"


def test_dane_without_a_tls_session_is_unknown(profile: Profile) -> None:
    plain = [MxHost(name=MX, preference=10, addresses=[_address(smtp=_smtp(starttls=False))])]
    finding = _one(_facts(_tlsa([TLSA_EE]), mx=plain), profile, "mail.dane")
    assert (finding.status, finding.reason) == (Status.UNKNOWN, "no TLS session")


def test_dane_alone_makes_tlsrpt_wanted(profile: Profile) -> None:
    assert _one(_facts(_tlsa([TLSA_EE])), profile, "mail.tlsrpt").status is Status.WARN


# ---------------------------------------------------------------- STARTTLS, probes, AUTH


def test_starttls(profile: Profile, tmp_path: Path) -> None:
    plain = [MxHost(name=MX, preference=10, addresses=[_address(smtp=_smtp(starttls=False))])]
    finding = _one(_facts(mx=plain), profile, "mail.starttls")
    assert (finding.status, finding.observed) == (Status.WARN, "STARTTLS not offered")
    assert finding.subject == f"{MX}:25 ({IP})"
    strict = _override(tmp_path, '[rules."mail.starttls"]\nlevel = "mandatory"\n')
    assert _one(_facts(mx=plain), strict, "mail.starttls").status is Status.FAIL
    good = _one(_facts(), profile, "mail.starttls")
    assert (good.status, good.observed) == (Status.PASS, "STARTTLS: TLSv1.3 TLS_AES_128_GCM_SHA256")
    refused = Observed[SmtpFacts].failed(ErrorReason.CONNECTION_REFUSED, "connection refused")
    down = [MxHost(name=MX, preference=10, addresses=[_address(smtp=refused)])]
    finding = _one(_facts(mx=down), profile, "mail.starttls")
    assert (finding.status, finding.reason) == (Status.UNKNOWN, "connection refused")


def test_injection_probe_results(profile: Profile) -> None:
    answered = InjectionProbe(
        vulnerable=True,
        starttls_reply=SmtpReply(code=220, text="go ahead"),
        injected_reply=SmtpReply(code=250, text="flushed"),
    )
    skipped = Observed[InjectionProbe].failed(ErrorReason.NOT_APPLICABLE, "STARTTLS not offered")
    failed = Observed[InjectionProbe].failed(ErrorReason.TIMEOUT, "timed out")
    hosts = [
        MxHost(
            name=MX,
            preference=10,
            addresses=[
                _address(injection=Observed.of(answered)),
                _address(ip="192.0.2.26", injection=skipped),
                _address(ip="192.0.2.27", injection=failed),
            ],
        )
    ]
    facts = _facts(mx=hosts, injection_tested=True)
    found = [(f.subject, f.status) for f in _judge(facts, profile, "mail.starttls.injection")]
    assert found == [(f"{MX}:25 ({IP})", Status.FAIL), (f"{MX}:25 (192.0.2.27)", Status.UNKNOWN)]


def test_auth_before_starttls_on_an_mx_takes_the_other_level(
    profile: Profile, tmp_path: Path
) -> None:
    hosts = [MxHost(name=MX, preference=10, addresses=[_address(smtp=_smtp(clear_auth=True))])]
    facts = _facts(mx=hosts)
    finding = _one(facts, profile, "mail.auth.submission")
    assert (finding.status, finding.level) == (Status.WARN, Level.RECOMMENDED)
    assert finding.observed == "AUTH PLAIN offered before STARTTLS on an MX"
    strict = _override(tmp_path, '[rules."mail.auth.submission"]\nother_level = "mandatory"\n')
    assert _one(facts, strict, "mail.auth.submission").status is Status.FAIL


def test_auth_on_submission_ports(profile: Profile) -> None:
    def port(host: str, clear: bool) -> Submission:
        smtp = _smtp(clear_auth=clear)
        return Submission(host=host, ip=IP, port=587, implicit_tls=False, smtp=smtp)

    refused = Submission(
        host="closed.example.test",
        ip=IP,
        port=465,
        implicit_tls=True,
        smtp=Observed[SmtpFacts].failed(ErrorReason.CONNECTION_REFUSED, "refused"),
    )
    facts = _facts(submission=[port("tls.example.test", False), port("clear.example.test", True),
                               refused])  # fmt: skip
    found = {f.subject: f.status for f in _judge(facts, profile, "mail.auth.submission")}
    assert found == {
        f"tls.example.test:587 ({IP})": Status.PASS,
        f"clear.example.test:587 ({IP})": Status.FAIL,
    }


# ---------------------------------------------------------------- the TLS of each MX address


def _tls_finding(check_id: str, status: Status, level: Level) -> Finding:
    return Finding(
        check_id=check_id,
        status=status,
        level=level,
        subject="TLS",
        title=Text(en=check_id, ja=check_id),
        observed="observed",
        expected="expected",
        reason="why",
    )


TLS_FINDINGS = [
    _tls_finding("cert.hostname", Status.FAIL, Level.MANDATORY),
    _tls_finding("tls.protocol.tls1_0", Status.FAIL, Level.MANDATORY),
    _tls_finding("tls.protocol.tls1_3", Status.WARN, Level.RECOMMENDED),
    _tls_finding("cert.expiry", Status.PASS, Level.MANDATORY),
]


def _view(facts: MailFacts) -> MailView:
    """The view as ``evaluate_mail`` fills it: TLS findings for the scanned address."""
    view = MailView.of(facts)
    for host, address in view.addresses():
        view.tls[(host, address.ip, address.port)] = TLS_FINDINGS
    return view


def _scanned(policy: str | None = None) -> MailFacts:
    tls = TlsFacts.model_validate_json(TLS_DATA.read_text("utf-8"))
    hosts = [MxHost(name=MX, preference=10, addresses=[_address(tls=tls)])]
    return _facts(mx=hosts, policy=policy)


def _levels(findings: list[Finding]) -> dict[str, tuple[Status, Level]]:
    return {f.check_id: (f.status, f.level) for f in findings}


def test_mx_tls_findings_are_lowered_for_opportunistic_smtp(profile: Profile) -> None:
    findings = mail_transport.mx_tls_findings(_view(_scanned()), profile)
    assert [f.subject for f in findings] == [f"{MX}:25 ({IP}): TLS"] * len(TLS_FINDINGS)
    assert _levels(findings) == {
        "cert.hostname": (Status.WARN, Level.RECOMMENDED),  # other_level: no MTA-STS enforce
        "tls.protocol.tls1_0": (Status.WARN, Level.RECOMMENDED),  # capped at the rule level
        "tls.protocol.tls1_3": (Status.WARN, Level.RECOMMENDED),
        "cert.expiry": (Status.PASS, Level.MANDATORY),
    }
    hostname, capped = findings[0], findings[1]
    assert hostname.reason is not None
    assert hostname.reason.startswith("why; opportunistic SMTP")
    assert capped.reason == (
        "why; capped by the mail.starttls.tls rule (port 25 TLS is opportunistic)"
    )
    assert [f.model_copy(update={"subject": "TLS"}) for f in findings][2:] == TLS_FINDINGS[2:]


def test_mx_tls_findings_levels_come_from_the_profile(tmp_path: Path) -> None:
    quiet = _override(tmp_path, '[rules."mail.starttls.tls"]\nother_level = "informational"\n')
    findings = mail_transport.mx_tls_findings(_view(_scanned()), quiet)
    assert _levels(findings)["cert.hostname"] == (Status.INFO, Level.INFORMATIONAL)
    strict = _override(tmp_path, '[rules."mail.starttls.tls"]\nlevel = "mandatory"\n')
    findings = mail_transport.mx_tls_findings(_view(_scanned()), strict)
    assert _levels(findings)["tls.protocol.tls1_0"] == (Status.FAIL, Level.MANDATORY)
    assert findings[1].reason == "why"


def test_mta_sts_enforce_keeps_certificate_failures(profile: Profile) -> None:
    findings = mail_transport.mx_tls_findings(_view(_scanned(_policy("enforce"))), profile)
    assert _levels(findings)["cert.hostname"] == (Status.FAIL, Level.MANDATORY)
    assert _levels(findings)["tls.protocol.tls1_0"] == (Status.WARN, Level.RECOMMENDED)


def test_without_the_rule_mx_tls_findings_are_only_re_subjected(profile: Profile) -> None:
    rules = {k: v for k, v in profile.rules.items() if k != "mail.starttls.tls"}
    bare = profile.model_copy(update={"rules": rules})
    findings = mail_transport.mx_tls_findings(_view(_scanned()), bare)
    assert [f.model_copy(update={"subject": "TLS"}) for f in findings] == TLS_FINDINGS


def test_starttls_tls_names_the_failing_tls_checks(profile: Profile) -> None:
    rules = {"mail.starttls.tls": profile.rules["mail.starttls.tls"]}
    only = profile.model_copy(update={"rules": rules})
    [finding] = evaluate(_view(_scanned()), MailView, only, NOW)
    assert (finding.subject, finding.status) == (f"{MX}:25 ({IP})", Status.WARN)
    assert finding.observed == "cert.hostname, tls.protocol.tls1_0"
    assert _judge(_facts(), profile, "mail.starttls.tls") == []  # no TLS scan: not judged
