"""The fuzz harnesses: one function per parser, taking libFuzzer's bytes.

Each ``fuzz_<name>.py`` beside this file runs one harness under atheris (from ``tests/``)::

    python -m robustness.fuzz_spf -max_total_time=60
    python -m robustness.fuzz_spf -runs=1000000

A harness fails (libFuzzer reports the input and the traceback) when the parser raises
anything; :class:`~tlsaudit.errors.InputError` is the one refusal the target and resolver
parsers may raise. The first input byte picks a grammar prefix (``v=spf1 ``, ``v=DMARC1;``,
``smtp://``, ...) so the fuzzer spends its time inside the grammars, not on the version tag.
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Callable

import atheris  # type: ignore[import-untyped]

with atheris.instrument_imports(include=["tlsaudit"]):
    import dns.rdataclass
    import dns.rdatatype
    import dns.rdtypes.ANY.TXT

    from tlsaudit.errors import InputError
    from tlsaudit.inventory import parse_resolver, parse_target
    from tlsaudit.models.dns import DnsAnswer, DnsStatus
    from tlsaudit.records import bimi, dane, dkim, dmarc, mtasts, spf
    from tlsaudit.records.dnsview import Replay, txt
    from tlsaudit.records.suites import parse_group, parse_suite


def _split(data: bytes, prefixes: tuple[bytes, ...]) -> tuple[bytes, str]:
    """(the input with a grammar prefix chosen by its first byte, the same as text)."""
    if not data:
        return b"", ""
    raw = prefixes[data[0] % len(prefixes)] + data[1:]
    return raw, raw.decode("utf-8", "replace")


def fuzz_spf(data: bytes) -> None:
    raw, text = _split(data, (b"v=spf1 ", b"v=spf1 include:%{", b"v=spf1 ip6:", b""))
    spf.parse_spf(raw)
    spf.parse_spf(text)
    spf.check_domain_spec(text[7:])


def fuzz_dmarc(data: bytes) -> None:
    raw, text = _split(data, (b"v=DMARC1; p=", b"v=DMARC1; p=reject; pct=", b"v=DMARC1; rua="))
    for record in (raw, text):
        parsed = dmarc.parse_dmarc(record)
        dmarc.effective_policy(parsed, True)
        dmarc.effective_policy(parsed, False)
        _ = parsed.pct


def fuzz_dkim(data: bytes) -> None:
    raw, text = _split(data, (b"v=DKIM1; p=", b"v=DKIM1; k=ed25519; p=", b"k=rsa; t="))
    dkim.parse_dkim(raw)
    dkim.parse_dkim(text)
    dkim.looks_like_key(raw)
    # the key bytes themselves, as a well-formed p= tag
    for kind in ("rsa", "ed25519"):
        dkim.parse_dkim(f"v=DKIM1; k={kind}; p={base64.b64encode(data).decode()}")


def fuzz_bimi(data: bytes) -> None:
    raw, text = _split(data, (b"v=BIMI1; l=https://", b"v=BIMI1; l=; a=https://[", b"v=BIMI1;"))
    bimi.parse_bimi(raw)
    bimi.parse_bimi(text)


def fuzz_mtasts(data: bytes) -> None:
    raw, text = _split(data, (b"version: STSv1\nmode: enforce\nmax_age: ", b"mx: ", b"v=STSv1;"))
    policy = mtasts.parse_policy(text)
    policy.matches(text[:40])
    mtasts.sts_record_errors(raw)
    mtasts.tlsrpt_errors(raw)


def fuzz_dane(data: bytes) -> None:
    _, text = _split(data, (b"3 1 1 ", b"2 0 ", b""))
    record = dane.Tlsa.parse(text)
    if record is not None:
        assert dane.Tlsa.parse(record.to_text()) == record
    dane.match([dane.Tlsa(3, 1, 1, b"\x00" * 32), dane.Tlsa(2, 0, 2, b"")], [data])


def fuzz_dnsview(data: bytes) -> None:
    chunks = [data[i : i + 255] for i in range(0, len(data), 255)] or [b""]
    quoted = dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, chunks).to_text()
    text = data.decode("utf-8", "replace")
    for rdtype in ("TXT", "SPF", text[:8]):
        answer = DnsAnswer(
            name="example.jp.", rdtype=rdtype, status=DnsStatus.ANSWER, records=[quoted, text]
        )
        txt(answer)
        lookup = Replay([answer])
        spf.walk_spf("example.jp", lookup, spf.Family.IPV4)
        dmarc.discover("example.jp", lookup)


def fuzz_suites(data: bytes) -> None:
    _, text = _split(data, (b"TLS_", b"TLS_ECDHE_RSA_WITH_", b"ffdhe", b"secp", b""))
    suite = parse_suite(text)
    suite.suite_class({"AES"}, {"ECDHE"}, {"RSA"})
    _ = suite.primitives
    group = parse_group(text)
    assert parse_group(group.name) == group


def fuzz_targets(data: bytes) -> None:
    _, text = _split(data, (b"", b"smtp://", b"[", b"127.", b"https://xn--"))
    try:
        target = parse_target(text)
    except InputError as exc:
        _one_line(exc)
    else:
        again = parse_target(target.canonical)
        assert (again.host, again.port) == (target.host, target.port)
    try:
        parse_resolver(text)
    except InputError as exc:
        _one_line(exc)


def _one_line(refusal: InputError) -> None:
    if "\n" in str(refusal):
        raise AssertionError(f"a refusal of more than one line: {refusal}")


HARNESSES: dict[str, Callable[[bytes], None]] = {
    "spf": fuzz_spf,
    "dmarc": fuzz_dmarc,
    "dkim": fuzz_dkim,
    "bimi": fuzz_bimi,
    "mtasts": fuzz_mtasts,
    "dane": fuzz_dane,
    "dnsview": fuzz_dnsview,
    "suites": fuzz_suites,
    "targets": fuzz_targets,
}


def run(name: str) -> None:
    """Fuzz one harness with libFuzzer's command-line options from ``sys.argv``."""
    atheris.Setup(sys.argv, HARNESSES[name])
    atheris.Fuzz()
