"""Target parsing: every accepted form, and a clear one-line error for everything else."""

from __future__ import annotations

import pytest

from tlsaudit.errors import InputError
from tlsaudit.inventory import Target, parse_resolver, parse_target, resolve


@pytest.mark.parametrize(
    ("raw", "host", "port", "starttls"),
    [
        ("www.example.go.jp", "www.example.go.jp", 443, None),
        ("WWW.Example.GO.JP.", "www.example.go.jp", 443, None),
        ("host1:8443", "host1", 8443, None),
        ("127.0.0.1:8443", "127.0.0.1", 8443, None),
        ("[::1]:443", "::1", 443, None),
        ("::1", "::1", 443, None),
        ("https://host.example.jp", "host.example.jp", 443, None),
        ("https://host.example.jp:8443/path", "host.example.jp", 8443, None),
        ("smtp://mx.example.jp", "mx.example.jp", 25, "smtp"),
        ("smtp://mx.example.jp:587", "mx.example.jp", 587, "smtp"),
        ("imap://mail.example.jp", "mail.example.jp", 143, "imap"),
        ("pop3://mail.example.jp", "mail.example.jp", 110, "pop3"),
        ("ftp://ftp.example.jp", "ftp.example.jp", 21, "ftp"),
        ("ldap://dir.example.jp", "dir.example.jp", 389, "ldap"),
        ("xmpp://chat.example.jp", "chat.example.jp", 5222, "xmpp"),
        ("postgres://db.example.jp", "db.example.jp", 5432, "postgres"),
        ("日本語.jp", "xn--wgv71a119e.jp", 443, None),
    ],
)
def test_parse_target(raw: str, host: str, port: int, starttls: str | None) -> None:
    target = parse_target(raw)
    assert (target.host, target.port, target.starttls) == (host, port, starttls)
    assert target.https is (starttls is None)


def test_starttls_option_applies_to_plain_targets() -> None:
    assert parse_target("mx.example.jp:25", starttls="smtp").starttls == "smtp"


@pytest.mark.parametrize(
    ("raw", "kwargs", "message"),
    [
        ("", {}, "not a target"),
        ("two words", {}, "not a target"),
        ("gopher://host", {}, "unknown scheme 'gopher'"),
        ("host:99999", {}, "port out of range 1-65535"),
        ("host:0", {}, "port out of range 1-65535"),
        ("host:abc", {}, "port 'abc' is not a decimal number"),
        ("bad_host!:443", {}, "not a valid host name"),
        ("-leading.example", {}, "not a valid host name"),
        ("user@host", {}, "user information"),
        ("[not-an-ip]:443", {}, "does not appear to be an IPv4 or IPv6 address"),
        ("host", {"starttls": "telnet"}, "--starttls 'telnet': unknown protocol"),
        ("imap://host", {"starttls": "smtp"}, "conflicts with --starttls smtp"),
        ("host", {"ip": "300.1.1.1"}, "--ip '300.1.1.1': not an IP address"),
        ("host", {"sni": "bad name"}, "not a valid host name"),
    ],
)
def test_parse_errors_are_one_clear_line(raw: str, kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(InputError) as info:
        parse_target(raw, **kwargs)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_resolve_ip_and_sni_override() -> None:
    target = parse_target("www.example.jp:8443", ip="127.0.0.1", sni="alt.example.jp")
    [endpoint] = resolve(target)
    assert (endpoint.ip, endpoint.sni, endpoint.host, endpoint.port) == (
        "127.0.0.1",
        "alt.example.jp",
        "www.example.jp",
        8443,
    )


def test_resolve_ip_literal_sends_no_sni() -> None:
    [endpoint] = resolve(parse_target("[::1]:443"))
    assert (endpoint.ip, endpoint.sni) == ("::1", None)


def test_resolve_name_gives_every_address() -> None:
    endpoints = resolve(Target(raw="localhost", host="localhost", port=443))
    addresses = {e.ip for e in endpoints}
    assert "127.0.0.1" in addresses
    assert all(e.sni == "localhost" for e in endpoints)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("[::1]:5353", ("::1", 5353)),
        ("::1", ("::1", 53)),
    ],
)
def test_parse_resolver(text: str, expected: tuple[str, int]) -> None:
    assert parse_resolver(text) == expected


@pytest.mark.parametrize("text", ["resolver.example", "127.0.0.1:0", "127.0.0.1:x", "[::1]:99999"])
def test_parse_resolver_errors(text: str) -> None:
    with pytest.raises(InputError, match="--resolver"):
        parse_resolver(text)
