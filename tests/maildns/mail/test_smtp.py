"""The SMTP dialogue, relay probe and STARTTLS injection probe against the loopback
servers (aiosmtpd, and the deliberately vulnerable InjectableSmtp)."""

from __future__ import annotations

import pytest

from servers.smtp import MailServers
from tlsaudit.models.facts import ErrorReason, Observed
from tlsaudit.models.mail import InjectionProbe, SmtpFacts
from tlsaudit.scan import smtp

HELO = "probe.tlsaudit.test"


def dialogue(ip: str, port: int = 25, *, implicit_tls: bool = False) -> Observed[SmtpFacts]:
    return smtp.dialogue(
        "mx.example.test",
        ip,
        port,
        helo=HELO,
        timeout=2.0,
        greeting_timeout=5.0,
        implicit_tls=implicit_tls,
    )


def test_starttls_offered_and_completed(mail_servers: MailServers) -> None:
    facts = dialogue("127.0.0.21").value
    assert facts is not None
    assert facts.greeting.code == 220
    assert facts.esmtp
    assert facts.starttls
    assert facts.tls is not None
    assert facts.tls.value is not None
    assert facts.tls.value.version in ("TLSv1.2", "TLSv1.3")
    assert len(facts.tls.value.chain) == 2  # leaf and intermediate, as served
    assert "C: STARTTLS" in facts.transcript
    assert facts.transcript[-2] == "C: QUIT"


def test_no_starttls(mail_servers: MailServers) -> None:
    facts = dialogue("127.0.0.22").value
    assert facts is not None
    assert not facts.starttls
    assert facts.tls is None
    assert "STARTTLS" not in facts.extensions


def test_auth_only_after_starttls(mail_servers: MailServers) -> None:
    facts = dialogue("127.0.0.25", 587).value
    assert facts is not None
    assert facts.auth(after_tls=False) == []
    assert facts.auth(after_tls=True) == ["LOGIN", "PLAIN"]


def test_auth_in_clear(mail_servers: MailServers) -> None:
    facts = dialogue("127.0.0.26", 587).value
    assert facts is not None
    assert facts.auth(after_tls=False) == ["LOGIN", "PLAIN"]


def test_closed_port_and_implicit_tls_on_a_plain_port(mail_servers: MailServers) -> None:
    refused = dialogue("127.0.0.22", 465, implicit_tls=True)
    assert refused.error is not None
    assert refused.error.reason is ErrorReason.CONNECTION_REFUSED
    plain = dialogue("127.0.0.22", 25, implicit_tls=True)
    assert plain.error is not None
    assert plain.error.reason in (ErrorReason.HANDSHAKE_FAILED, ErrorReason.TIMEOUT)


@pytest.mark.parametrize(
    ("ip", "domain", "accepted"),
    [("127.0.0.23", "relay-open.test", True), ("127.0.0.24", "relay-closed.test", False)],
)
def test_relay_probe_never_sends_data(
    mail_servers: MailServers, ip: str, domain: str, accepted: bool
) -> None:
    probe = smtp.relay_probe(
        ip,
        25,
        helo=HELO,
        timeout=2.0,
        greeting_timeout=5.0,
        domain=domain,
        sender="probe@tlsaudit.test",
        recipient="relay-test@example.test",
    )
    assert probe.value is not None
    control = probe.value.control
    assert control.recipient == f"postmaster@{domain}"
    assert control.reply is not None
    assert control.reply.code == 250
    codes = [a.reply.code for a in probe.value.attempts if a.reply]
    assert codes == ([250] * 3 if accepted else [554] * 3)
    assert [a.sender for a in probe.value.attempts] == [
        "probe@tlsaudit.test",
        "<>",
        f"postmaster@{domain}",
    ]
    commands = [
        line[3:].split(":")[0].split()[0]
        for line in probe.value.transcript
        if line.startswith("C: ")
    ]
    assert "DATA" not in commands
    assert "BDAT" not in commands
    assert commands.count("RSET") == 4
    assert commands[-1] == "QUIT"


def injection(ip: str) -> Observed[InjectionProbe]:
    return smtp.injection_probe(
        "mx.example.test", ip, 25, helo=HELO, timeout=1.0, greeting_timeout=5.0
    )


def _commands(transcript: list[str]) -> list[str]:
    return [line[3:] for line in transcript if line.startswith("C: ")]


def test_injected_command_answered_inside_tls(mail_servers: MailServers) -> None:
    probe = injection("127.0.0.20").value  # InjectableSmtp: keeps its plaintext buffer
    assert probe is not None
    assert probe.vulnerable
    assert probe.starttls_reply.code == 220
    assert probe.injected_reply is not None
    assert probe.injected_reply.code == 250
    commands = _commands(probe.transcript)
    assert commands == [f"EHLO {HELO}", "STARTTLS", "RSET", "QUIT"]
    tls = next(i for i, line in enumerate(probe.transcript) if line.startswith("-- TLS"))
    assert probe.transcript[tls + 1] == "S: 250 2.0.0 OK"  # read before any command in TLS


@pytest.mark.parametrize("ip", ["127.0.0.27", "127.0.0.21"])
def test_aiosmtpd_discards_the_injected_command(mail_servers: MailServers, ip: str) -> None:
    probe = injection(ip).value
    assert probe is not None
    assert not probe.vulnerable
    assert probe.injected_reply is None
    commands = _commands(probe.transcript)
    assert commands == [f"EHLO {HELO}", "STARTTLS", "RSET", f"EHLO {HELO}", "QUIT"]
    assert "DATA" not in commands


def test_injection_probe_needs_starttls(mail_servers: MailServers) -> None:
    probe = injection("127.0.0.22")
    assert probe.error is not None
    assert probe.error.reason is ErrorReason.NOT_APPLICABLE
