"""Property tests: no record parser, target or resolver parser lets an exception escape,
and what it prints reads back the same where the grammar allows.

Every parser returns a value carrying its syntax findings; the only exception a parser of
user input raises on purpose is :class:`~tlsaudit.errors.InputError` (targets, resolvers).
``TLSAUDIT_HYPOTHESIS_EXAMPLES`` raises the example count (default 300 per property).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robustness.strategies import (
    GROUP,
    POLICY,
    RAW,
    RESOLVER,
    SPF,
    SUITE,
    TAGGED,
    TARGET,
    TLSA,
)
from tlsaudit.errors import InputError
from tlsaudit.inventory import parse_resolver, parse_target
from tlsaudit.models.dns import DnsAnswer, DnsStatus
from tlsaudit.records import bimi, dane, dkim, dmarc, mtasts, spf
from tlsaudit.records.curves import normalise_curve
from tlsaudit.records.dnsview import Replay, txt
from tlsaudit.records.suites import parse_group, parse_suite

EXAMPLES = int(os.environ.get("TLSAUDIT_HYPOTHESIS_EXAMPLES", "300"))
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TEXT_OR_BYTES = st.one_of(SPF, TAGGED, RAW, st.text(max_size=40), st.binary(max_size=40))


def _one_line(messages: tuple[str, ...] | list[str]) -> None:
    assert all("\n" not in m and len(m) < 1_000 for m in messages), messages


# --- SPF ------------------------------------------------------------------------------


@PROPERTY
@given(SPF | RAW)
def test_spf_never_raises(record: str | bytes) -> None:
    parsed = spf.parse_spf(record)
    _one_line(parsed.errors)
    _ = (parsed.all, parsed.redirect, parsed.dead_terms, parsed.uses_ptr, parsed.uses_macro_p)


@PROPERTY
@given(SPF)
def test_spf_round_trip(record: str) -> None:
    """The terms written back, one space apart, parse to the same terms and errors."""
    parsed = spf.parse_spf(record)
    if not parsed.terms:
        return
    again = spf.parse_spf(" ".join([record[:6], *(t.text for t in parsed.terms)]))
    assert again.terms == parsed.terms
    assert set(again.errors) == set(parsed.errors)


@PROPERTY
@given(st.text(max_size=40) | SPF)
def test_spf_domain_spec_and_macros(value: str) -> None:
    _one_line(spf.check_domain_spec(value))
    _one_line(spf.check_macro_string(value))


def test_spf_huge_macro_transformer_is_a_value_not_a_crash() -> None:
    digits = "9" * 5_000  # beyond sys.get_int_max_str_digits()
    assert spf.parse_spf(f"v=spf1 include:%{{d{digits}}}.example.com -all").errors == ()
    zero = spf.parse_spf(f"v=spf1 a:%{{d{'0' * 5_000}}}.example.com -all")
    assert len(zero.errors) == 1
    assert "has a zero transformer" in zero.errors[0]
    assert len(zero.errors[0]) < 200


def test_spf_newline_inside_a_term() -> None:
    parsed = spf.parse_spf("v=spf1 a:exa\nmple.com/24 -all")
    assert any("printable ASCII" in e for e in parsed.errors)


# --- DMARC ----------------------------------------------------------------------------


@PROPERTY
@given(TAGGED | RAW)
def test_dmarc_never_raises(record: str | bytes) -> None:
    parsed = dmarc.parse_dmarc(record)
    _one_line([*parsed.errors, *parsed.warnings, *parsed.notes])
    assert 0 <= parsed.pct <= 100
    _ = (parsed.p, parsed.sp, parsed.np, parsed.testing, parsed.psd)
    for at_domain in (True, False):
        assert dmarc.effective_policy(parsed, at_domain) in dmarc.POLICIES


@PROPERTY
@given(TAGGED)
def test_dmarc_round_trip(record: str) -> None:
    parsed = dmarc.parse_dmarc(record)
    text = "; ".join(f"{k}={v}" for k, v in parsed.tags.items())
    again = dmarc.parse_dmarc(text)
    assert again.tags == parsed.tags
    if not parsed.errors:
        assert not again.errors


def test_dmarc_invalid_policy_with_testing_flag() -> None:
    """p=0 with t=y once raised ValueError from POLICIES.index in effective_policy."""
    parsed = dmarc.parse_dmarc("v=DMARC1; p=0; sp=bogus; t=y")
    assert dmarc.effective_policy(parsed, at_domain=True) == "none"
    assert dmarc.effective_policy(parsed, at_domain=False) == "none"
    assert not dmarc.weaker(parsed.p, "reject")


def test_dmarc_pct_with_5000_digits() -> None:
    parsed = dmarc.parse_dmarc("v=DMARC1; p=reject; pct=" + "1" * 5_000)
    assert parsed.pct == 100
    [error] = parsed.errors
    assert error.startswith("pct=111")
    assert "expected an integer 0-100" in error
    assert len(error) < 200
    assert dmarc.parse_dmarc("v=DMARC1; p=reject; pct=" + "0" * 5_000 + "50").pct == 50
    assert dmarc.parse_dmarc("v=DMARC1; p=reject; pct=" + "0" * 5_000 + "50").errors == ()


# --- DKIM, BIMI -----------------------------------------------------------------------


@PROPERTY
@given(TAGGED | RAW)
def test_dkim_never_raises(record: str | bytes) -> None:
    parsed = dkim.parse_dkim(record)
    _one_line(parsed.errors)
    _ = (parsed.revoked, parsed.hashes, parsed.flags, parsed.testing)
    if isinstance(record, bytes):
        dkim.looks_like_key(record)


@PROPERTY
@given(st.sampled_from(["rsa", "ed25519", "x"]), st.binary(max_size=300))
def test_dkim_any_key_bytes(kind: str, key: bytes) -> None:
    import base64

    parsed = dkim.parse_dkim(f"v=DKIM1; k={kind}; p={base64.b64encode(key).decode()}")
    assert parsed.bits is not None or parsed.errors or parsed.revoked


@PROPERTY
@given(TAGGED)
def test_tag_list_round_trip(text: str) -> None:
    tags, order, _ = dkim.tag_list(text)
    again, again_order, errors = dkim.tag_list("; ".join(f"{k}={tags[k]}" for k in order))
    assert (again, again_order, errors) == (tags, order, [])


@PROPERTY
@given(TAGGED | RAW)
def test_bimi_never_raises(record: str | bytes) -> None:
    parsed = bimi.parse_bimi(record)
    _one_line(parsed.errors)
    _ = parsed.declined
    if isinstance(record, bytes):
        bimi.is_bimi(record)
        bimi.looks_like_bimi(record)


@pytest.mark.parametrize(
    "uri", ["https://[::1/logo.svg", "https://[v1.x]/l.svg", "https://a\uff03b.example/"]
)
@pytest.mark.parametrize("tag", ["l", "a"])
def test_bimi_malformed_bracketed_host(tag: str, uri: str) -> None:
    other = "a=" if tag == "l" else "l="
    parsed = bimi.parse_bimi(f"v=BIMI1; {tag}={uri}; {other}")
    [error] = [e for e in parsed.errors if e != "record is not ASCII"]
    assert error.startswith(f"{tag}=")
    assert "URI" in error


# --- MTA-STS, TLS-RPT, DANE -----------------------------------------------------------


@PROPERTY
@given(POLICY)
def test_mtasts_policy_never_raises(body: str) -> None:
    policy = mtasts.parse_policy(body)
    _one_line(policy.errors)
    policy.matches("mx.example.jp")


@PROPERTY
@given(POLICY)
def test_mtasts_policy_round_trip(body: str) -> None:
    policy = mtasts.parse_policy(body)
    if policy.errors:
        return
    lines = ["version: STSv1", f"mode: {policy.mode}", f"max_age: {policy.max_age}"]
    again = mtasts.parse_policy("\n".join([*lines, *(f"mx: {m}" for m in policy.mx)]))
    assert again == policy


@PROPERTY
@given(RAW)
def test_sts_and_tlsrpt_records_never_raise(record: bytes) -> None:
    mtasts.is_sts(record)
    mtasts.is_tlsrpt(record)
    _one_line(mtasts.sts_record_errors(record))
    _one_line(mtasts.tlsrpt_errors(record))


@PROPERTY
@given(TLSA)
def test_tlsa_never_raises_and_round_trips(text: str) -> None:
    record = dane.Tlsa.parse(text)
    if record is None:
        return
    assert min(record.usage, record.selector, record.matching) >= 0
    assert max(record.usage, record.selector, record.matching) <= 255
    assert dane.Tlsa.parse(record.to_text()) == record
    str(record)


@PROPERTY
@given(st.binary(max_size=200), st.sampled_from([0, 1]), st.sampled_from([0, 1, 2]))
def test_tlsa_match_with_garbage_chain(der: bytes, selector: int, matching: int) -> None:
    record = dane.Tlsa(3, selector, matching, b"\x00" * 32)
    assert dane.match([record], [der]) is None


def test_tlsa_refuses_non_ascii_and_overflowing_fields() -> None:
    assert dane.Tlsa.parse("٣ 1 1 aabb") is None
    assert dane.Tlsa.parse("3 1 256 aabb") is None
    assert dane.Tlsa.parse("3 1 " + "1" * 5_000 + " aabb") is None
    assert dane.Tlsa.parse("3 1 1") is None


# --- the lookup view and the walkers over hostile answers ----------------------------


def _txt_text(value: bytes) -> str:
    chunks = [value[i : i + 255] for i in range(0, len(value), 255)] or [b""]
    rdata = dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, chunks)
    return rdata.to_text()


ANSWERS = st.dictionaries(
    st.sampled_from(
        [
            "example.jp",
            "_dmarc.example.jp",
            "default._bimi.example.jp",
            "inc.example.jp",
            "example.com._report._dmarc.example.com",
        ]
    ),
    st.lists(
        st.one_of(
            SPF.map(lambda s: _txt_text(s.encode("utf-8", "surrogatepass"))),
            RAW.map(_txt_text),
            st.text(max_size=30),  # malformed presentation text (edited facts)
        ),
        max_size=3,
    ),
    max_size=5,
)


def _replay(answers: dict[str, list[str]], rdtype: str = "TXT") -> Replay:
    return Replay(
        DnsAnswer(name=f"{name}.", rdtype=rdtype, status=DnsStatus.ANSWER, records=records)
        for name, records in answers.items()
    )


@PROPERTY
@given(ANSWERS)
def test_walkers_over_hostile_answers_never_raise(answers: dict[str, list[str]]) -> None:
    lookup = _replay(answers)
    for family in spf.Family:
        walk = spf.walk_spf("example.jp", lookup, family)
        assert walk.queries <= spf.MAX_QUERIES
    found = dmarc.discover("example.jp", lookup)
    for level in (found.policy_7489(), found.policy_9989()):
        if level is not None and level.record is not None:
            dmarc.report_authorisations(level.domain, level.record, lookup)
    found.org_9989()
    bimi.discover("example.jp", lookup).records  # noqa: B018
    for name in answers:
        txt(lookup(name, "TXT"))


@PROPERTY
@given(st.text(max_size=10), st.lists(st.text(max_size=20), max_size=3))
def test_lookup_view_with_any_type_and_text(rdtype: str, records: list[str]) -> None:
    answer = DnsAnswer(name="x.", rdtype=rdtype, status=DnsStatus.ANSWER, records=records)
    assert isinstance(txt(answer), list)


# --- suites and groups ----------------------------------------------------------------


@PROPERTY
@given(SUITE)
def test_suite_names_never_raise(name: str) -> None:
    suite = parse_suite(name)
    assert suite.name == name
    suite.suite_class({"AES"}, {"ECDHE"}, {"RSA"})
    _ = (suite.primitives, suite.aead, suite.mac)


@PROPERTY
@given(GROUP)
def test_group_names_never_raise_and_canonicalise_once(name: str) -> None:
    group = parse_group(name)
    assert parse_group(group.name) == group
    assert normalise_curve(normalise_curve(name)) == normalise_curve(name)


def test_group_with_non_ascii_or_huge_size() -> None:
    assert parse_group("ffdhe" + "1" * 5_000).bits is None
    assert parse_group("secp٣84r1").bits is None
    assert parse_suite("TLS_EXPORT_WITH_AES_128_CBC_SHA").kex == "unknown"
    assert parse_suite("TLS_RSA_WITH_AES_²_CBC_SHA").key_bits is None


# --- targets and resolvers ------------------------------------------------------------

R = TypeVar("R")


def _parsed(parse: Callable[[str], R], text: str) -> R | str:
    """What ``parse`` makes of ``text``, or its one-line refusal."""
    try:
        return parse(text)
    except InputError as exc:
        return str(exc)


@PROPERTY
@given(TARGET)
def test_target_parser_refuses_in_one_line_or_round_trips(raw: str) -> None:
    target = _parsed(parse_target, raw)
    if isinstance(target, str):
        assert "\n" not in target
        return
    assert 1 <= target.port <= 65535
    assert target.host.isascii()
    again = parse_target(target.canonical)
    assert (again.host, again.port, again.starttls, again.unicode_host) == (
        target.host,
        target.port,
        target.starttls,
        target.unicode_host,
    )


@PROPERTY
@given(RESOLVER)
def test_resolver_parser_refuses_in_one_line_or_round_trips(text: str) -> None:
    parsed = _parsed(parse_resolver, text)
    if isinstance(parsed, str):
        assert "\n" not in parsed
        assert parsed.startswith("--resolver")
        return
    address, port = parsed
    assert 1 <= port <= 65535
    written = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    assert parse_resolver(written) == (address, port)


# --- atheris: each fuzz target for a few seconds (only when atheris is installed) --------

FUZZ_SECONDS = 2
FUZZ_TARGETS = ("spf", "dmarc", "dkim", "bimi", "mtasts", "dane", "dnsview", "suites", "targets")


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris not installed")
@pytest.mark.parametrize("name", FUZZ_TARGETS)
def test_fuzz_target_runs_clean(name: str) -> None:
    """``python -m robustness.fuzz_<name>`` for :data:`FUZZ_SECONDS` seconds finds no crash."""
    done = subprocess.run(
        [sys.executable, "-m", f"robustness.fuzz_{name}", f"-max_total_time={FUZZ_SECONDS}"],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=60 + FUZZ_SECONDS,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"Done \d+ runs", done.stderr), done.stderr[-3000:]
