"""Hypothesis strategies shared by the property tests, the fuzz targets and the benchmark:
grammar-shaped records with hostile pieces (huge numbers, brackets, controls, non-ASCII)."""

from __future__ import annotations

from hypothesis import strategies as st

HUGE = st.integers(min_value=4_290, max_value=6_000).map(lambda n: "1" * n)
"""Integers longer than CPython's 4,300-digit int() conversion limit."""

NASTY = st.sampled_from(
    [
        "",
        "0",
        "00",
        "100",
        "101",
        "-1",
        "٣",
        "²",
        "８",
        "\x00",
        "\n",
        "\r\n",
        "\t",
        " ",
        "\ufffd",
        "\udcff",
        "[",
        "]",
        "[::1",
        "https://[::1/",
        "https://[v1.x]/",
        "https://a\uff03b.example/",
        "%",
        "%{",
        "%{d}",
        "%{d0}",
        "%{i4r.}",
        "%%",
        "=",
        ";",
        ":",
        ",",
        "/",
        "//",
        "/33",
        "//129",
        "xn--",
        "xn--zz",
        "ß",
        "日本語",
        "0x7f",
        "!10m",
    ]
)
ATOM = st.one_of(NASTY, HUGE, st.text(max_size=12), st.from_regex(r"[a-z0-9.\-]{1,12}"))


def _joined(parts: list[str], separator: str) -> str:
    return separator.join(parts)


def words(vocabulary: st.SearchStrategy[str], separator: str) -> st.SearchStrategy[str]:
    return st.lists(vocabulary, max_size=8).map(lambda parts: _joined(parts, separator))


SPF_TERM = st.one_of(
    st.tuples(
        st.sampled_from(["", "+", "-", "~", "?"]),
        st.sampled_from(
            ["all", "include", "a", "mx", "ptr", "exists", "ip4", "ip6", "redirect", "exp"]
        ),
        st.sampled_from(["", ":", "=", "/"]),
        ATOM,
    ).map("".join),
    st.builds(lambda d: f"include:%{{d{d}}}.example.com", HUGE),
    st.builds(lambda d: f"a:%{{ir{d}.}}.example.com", st.from_regex("[0-9]{0,6}", fullmatch=True)),
    ATOM,
)
SPF = st.one_of(
    words(SPF_TERM, " ").map(lambda body: f"v=spf1 {body}"),
    st.text(max_size=60),
)

TAG_VALUE = st.tuples(
    st.sampled_from(["v", "p", "sp", "np", "pct", "ri", "rua", "ruf", "fo", "t", "psd", "adkim"])
    | st.sampled_from(["k", "h", "s", "l", "a", "id", "rua", "x", "V", "P"])
    | ATOM,
    ATOM
    | st.sampled_from(["DMARC1", "DKIM1", "BIMI1", "reject", "mailto:r@example.com"])
    | st.sampled_from(["https://[::1/logo.svg", "https://[bad]x/", "https://e.example/l.svg"]),
).map(lambda kv: f"{kv[0]}={kv[1]}")
TAGGED = st.one_of(
    st.tuples(st.sampled_from(["v=DMARC1", "v=DKIM1", "v=BIMI1", ""]), words(TAG_VALUE, ";")).map(
        lambda parts: ";".join(parts)
    ),
    st.text(max_size=60),
)
RAW = st.one_of(TAGGED.map(lambda t: t.encode("utf-8", "surrogatepass")), st.binary(max_size=80))

POLICY_LINE = st.tuples(
    st.sampled_from(["version", "mode", "max_age", "mx", "x"]) | ATOM,
    st.sampled_from([":", ": ", ":\t", " "]),
    ATOM | st.sampled_from(["STSv1", "enforce", "testing", "none", "86400", "*.example.jp"]),
).map("".join)
POLICY = st.one_of(
    st.tuples(words(POLICY_LINE, "\n"), st.sampled_from(["\n", "\r\n", "\r"])).map(
        lambda parts: parts[0].replace("\n", parts[1])
    ),
    st.text(max_size=80),
)

TLSA = st.one_of(
    st.tuples(ATOM, ATOM, ATOM, ATOM | st.from_regex("[0-9a-fA-F ]{0,40}", fullmatch=True)).map(
        " ".join
    ),
    st.text(max_size=40),
)

SUITE = st.one_of(
    st.tuples(
        st.sampled_from(["TLS_", "SSL_", "SSL_CK_", ""]),
        st.sampled_from(["ECDHE_RSA", "DHE_DSS", "RSA_EXPORT", "EXPORT", "", "PSK"]) | ATOM,
        st.sampled_from(["_WITH_", "_", ""]),
        st.sampled_from(["AES_128_GCM_SHA256", "AES_128_CCM_8", "DES40_CBC_SHA", "RC4_"]) | ATOM,
    ).map("".join),
    st.text(max_size=30),
)
GROUP = st.one_of(
    st.sampled_from(["x25519", "P-256", "prime256v1", "ffdhe2048", "X25519MLKEM768", "mlkem512"])
    | st.from_regex(r"(secp|sect|brainpoolP|ffdhe)[0-9٣８]{0,8}(r1|k1)?", fullmatch=True)
    | HUGE.map(lambda d: f"ffdhe{d}"),
    st.text(max_size=20),
)

HOST_PIECE = st.one_of(
    st.sampled_from(
        ["127.1", "0x7f.1", "2130706433", "１２７.０.０.１", "::1", "::1:443", "[::1]", "[::1]]"]
    ),
    st.sampled_from(["日本語.jp", "xn--zz", "Bücher.de", "a..b", "ß", "example。jp", "-x", "_x"]),
    st.from_regex(r"[a-z][a-z0-9\-]{0,10}(\.[a-z]{2,5}){0,2}", fullmatch=True),
    ATOM,
)
TARGET = st.one_of(
    st.tuples(
        st.sampled_from(["", "https://", "smtp://", "gopher://", "://"]),
        HOST_PIECE,
        st.sampled_from(["", ":", ":443", ":0", ":99999", ":８４４３", ":abc"])
        | HUGE.map(":".__add__),
        st.sampled_from(["", "/", "/path", "@"]),
    ).map("".join),
    st.text(max_size=30),
)
RESOLVER = st.one_of(
    st.tuples(
        st.sampled_from(["127.0.0.1", "::1", "[::1]", "[127.0.0.1]", "resolver.example", ""])
        | HOST_PIECE,
        st.sampled_from(["", ":53", ":５３", ":0", ":65536", ":٥٣"]) | HUGE.map(":".__add__),
    ).map("".join),
    st.text(max_size=30),
)
