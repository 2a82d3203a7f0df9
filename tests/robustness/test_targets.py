"""Exact target and resolver parsing: numeric names, IPv6 ambiguity, ports, IDN."""

from __future__ import annotations

import os
import subprocess
import sys
from html import escape

import pytest

from scan_targets import CA_CERT, scenario
from servers.nginx import NginxServer
from tlsaudit.errors import InputError
from tlsaudit.inventory import (
    Target,
    is_hostname,
    parse_resolver,
    parse_target,
    resolve,
    whatwg_ipv4,
)
from tlsaudit.models.report import Report
from tlsaudit.render.formats import FileFormat
from tlsaudit.render.outputs import render_as


def _refusal(raw: str, **kwargs: str) -> str:
    with pytest.raises(InputError) as info:
        parse_target(raw, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("raw", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("2130706433:8443", "127.0.0.1"),
        ("https://127.1/", "127.0.0.1"),
    ],
)
def test_numeric_names_are_refused_naming_the_address(raw: str, address: str) -> None:
    message = _refusal(raw)
    assert "is not a host name" in message
    assert f"IPv4 address {address}" in message
    assert f"write {address}" in message


def test_fullwidth_digits_are_the_address_they_map_to() -> None:
    message = _refusal("１２７.０.０.１")
    assert "UTS 46 maps it to '127.0.0.1'" in message
    assert "write 127.0.0.1 in ASCII" in message


@pytest.mark.parametrize("raw", ["1.2.3.4.5", "host.123", "foo.0x", "256.256.256.256.1"])
def test_names_ending_in_a_number_that_are_no_address(raw: str) -> None:
    assert "ends in a number, so it is not a host name" in _refusal(raw)


def test_whatwg_ipv4_reader() -> None:
    assert whatwg_ipv4("192.168.0x1.1") == "192.168.1.1"
    assert whatwg_ipv4("0x100000000") is None  # above 2**32
    assert whatwg_ipv4("1" * 5000) is None  # never int() on thousands of digits
    assert whatwg_ipv4("256.1.1.1") is None
    assert whatwg_ipv4("1.2.3.4.") == "1.2.3.4"
    assert whatwg_ipv4("09.1.1.1") is None  # not octal, not decimal


def test_bare_ipv6_with_a_port_like_last_group_is_ambiguous() -> None:
    message = _refusal("::1:443")
    assert "ambiguous" in message
    assert "[::1]:443" in message
    assert "[::1:443]" in message
    assert parse_target("[::1:443]").host == "::1:443"
    assert parse_target("2001:db8::1").host == "2001:db8::1"  # only one reading


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("[::1]]:443", "unbalanced brackets"),
        ("[::1", "unbalanced brackets"),
        ("[[::1]]:443", "unbalanced brackets"),
        ("::1]:443", "brackets go around an IPv6 address only"),
        ("host]:443", "brackets go around an IPv6 address only"),
        ("[::1]x", "expected ':port' after ']'"),
        ("[127.0.0.1]:443", "brackets are for IPv6 addresses"),
    ],
)
def test_brackets(raw: str, message: str) -> None:
    assert message in _refusal(raw)


@pytest.mark.parametrize(
    "raw", ["host:99999", "host:0", "host:00000", "host:65536", "[::1]:0", "host:" + "9" * 5000]
)
def test_ports_out_of_range_share_one_wording(raw: str) -> None:
    assert _refusal(raw).endswith(": port out of range 1-65535")


def test_port_limits_and_leading_zeros() -> None:
    assert parse_target("host:65535").port == 65535
    assert parse_target("host:1").port == 1
    assert parse_target("host:0443").port == 443


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("host:８４４３", "port '８４４３' is not in ASCII digits"),
        ("host:٤٤٣", "port '٤٤٣' is not in ASCII digits"),
        ("host:443x", "port '443x' is not a decimal number"),
        ("host:-1", "port '-1' is not a decimal number"),
        ("host:", "empty port after ':'"),
    ],
)
def test_port_spelling(raw: str, message: str) -> None:
    assert message in _refusal(raw)


@pytest.mark.parametrize("raw", ["", "   ", "\t"])
def test_empty_target(raw: str) -> None:
    assert "not a target: empty" in _refusal(raw)


@pytest.mark.parametrize("raw", ["https://", "https://:443", ":443", "smtp:///path"])
def test_no_host(raw: str) -> None:
    assert "no host name" in _refusal(raw)


def test_idn_is_scanned_in_a_labels_and_shown_in_u_labels() -> None:
    target = parse_target("smtp://Bücher.DE.:2525")
    assert target.host == "xn--bcher-kva.de"
    assert target.unicode_host == "bücher.de"
    assert target.display_host == "bücher.de"
    [endpoint] = resolve(
        Target(raw="x", host=target.host, port=target.port, ip="127.0.0.1", unicode_host="b")
    )
    assert endpoint.host == "xn--bcher-kva.de"
    assert endpoint.sni == "xn--bcher-kva.de"
    assert endpoint.unicode_host == "b"
    assert endpoint.label == "xn--bcher-kva.de:2525 (127.0.0.1)"
    assert endpoint.display == "b (xn--bcher-kva.de):2525 (127.0.0.1)"


def test_idn_endpoint_shows_both_forms_in_every_report(nginx: NginxServer) -> None:
    """A real scan of 日本語.test (at nginx's address): the terminal report and the HTML
    report name the endpoint by its U-labels and its A-labels; JSON keeps both fields."""
    port = scenario("good").port
    command = [sys.executable, "-m", "tlsaudit", "scan", f"日本語.test:{port}", "--ip", "127.0.0.1",
               "--sni", "localhost", "--ca-file", str(CA_CERT), "--timeout", "2"]  # fmt: skip
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    terminal = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    shown = f"日本語.test (xn--wgv71a119e.test):{port} (127.0.0.1)"
    assert shown in terminal.stdout
    data = subprocess.run([*command, "-f", "json"], capture_output=True, text=True, check=False)
    report = Report.model_validate_json(data.stdout)
    [endpoint] = report.targets[0].endpoints
    assert (endpoint.endpoint.host, endpoint.endpoint.unicode_host) == (
        "xn--wgv71a119e.test",
        "日本語.test",
    )
    html = render_as(report, FileFormat.HTML, lang="en", now=report.finished_at)
    assert escape(shown) in html


def test_idn_mapping_is_uts46_nontransitional() -> None:
    assert parse_target("faß.de").host == "xn--fa-hia.de"  # IDNA 2008: ß kept, not ss
    assert parse_target("ＥＸＡＭＰＬＥ.jp").host == "example.jp"  # width mapping
    assert parse_target("example。jp").host == "example.jp"  # ideographic full stop
    assert parse_target("ＥＸＡＭＰＬＥ.jp").unicode_host is None  # nothing to show apart


def test_a_label_input_gets_its_unicode_form() -> None:
    target = parse_target("xn--wgv71a119e.jp")
    assert (target.host, target.unicode_host) == ("xn--wgv71a119e.jp", "日本語.jp")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("xn--zz.example", "label 'xn--zz' is not valid IDNA 2008"),
        ("x\u200dy.example", "is not valid IDNA 2008"),
        ("١٢٣.example", "is not valid IDNA 2008"),
        ("a..b", "empty label"),
        ("a" * 64 + ".example", "label over 63"),
        (".".join(["a" * 60] * 5), "over 253 octets"),
        ("-lead.example", "is not a valid host name"),
    ],
)
def test_invalid_labels_one_line(raw: str, message: str) -> None:
    assert message in _refusal(raw)


def test_sni_is_converted_and_checked() -> None:
    assert parse_target("127.0.0.1", sni="日本語.jp").sni == "xn--wgv71a119e.jp"
    assert "not a valid host name" in _refusal("127.0.0.1", sni="127.1")
    assert "not a valid host name" in _refusal("127.0.0.1", sni="xn--zz.jp")


def test_underscore_names_stay_usable() -> None:
    assert parse_target("_dmarc.example.jp").host == "_dmarc.example.jp"
    assert is_hostname("_25._tcp.mx.example.jp")
    assert not is_hostname("127.1")


def test_canonical_form_reads_back() -> None:
    for raw in ["smtp://[::1]", "日本語.jp:8443", "127.0.0.1", "imap://Host.Example"]:
        target = parse_target(raw)
        again = parse_target(target.canonical)
        assert (again.host, again.port, again.starttls) == (
            target.host,
            target.port,
            target.starttls,
        )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("127.0.0.1:５３", "port '５３' is not in ASCII digits"),
        ("127.0.0.1:٥٣", "port '٥٣' is not in ASCII digits"),
        ("[::1]:５３", "port '５３' is not in ASCII digits"),
        ("127.0.0.1:0", "port out of range 1-65535"),
        ("127.0.0.1:" + "1" * 5000, "port out of range 1-65535"),
        ("::1:53", "ambiguous"),
        ("[::1]]:53", "unbalanced brackets"),
        ("127.1", "not an IP address"),
        ("", "empty"),
        ("[127.0.0.1]:53", "brackets are for IPv6 addresses"),
    ],
)
def test_resolver_refusals(text: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse_resolver(text)
    assert str(info.value).startswith(f"--resolver {text!r}")
    assert message in str(info.value)
