"""Declarative list of local TLS test targets served by one nginx process.

Every :class:`Scenario` becomes one ``server {}`` block in the nginx config
rendered by ``tests/servers/nginx.py`` (``servers.nginx``).  All scenarios listen on 127.0.0.1 with
distinct ports starting at :data:`BASE_PORT` (18443 by default; override with
the ``TLSAUDIT_NGINX_BASE_PORT`` environment variable, e.g. for parallel runs).

Design rule: each TLS scenario is the ``good`` configuration with *one*
deliberate deviation (protocol, cipher, DH group, or certificate), so a test
can assert the exact set of findings for it.  The deviation of each scenario
is in its ``description``.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CERTS_DIR = REPO_ROOT / "fixtures" / "certs"
DHPARAMS_DIR = Path(__file__).resolve().parent / "servers" / "dhparams"

#: CA bundle to use as a custom trust store (e.g. sslyze ``--certinfo_ca_file``).
CA_CERT = CERTS_DIR / "ca.pem"

HOST = "127.0.0.1"
#: SNI / HTTP Host name every TLS scenario answers to (``server_name``).
SERVER_NAME = "localhost"
BASE_PORT = int(os.environ.get("TLSAUDIT_NGINX_BASE_PORT", "18443"))

GOOD_PROTOCOLS = "TLSv1.2 TLSv1.3"
GOOD_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM"
GOOD_CIPHERSUITES = "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256"
GOOD_ECDH_CURVE = "X25519:prime256v1:secp384r1"
GOOD_DHPARAM = DHPARAMS_DIR / "ffdhe3072.pem"  # RFC 7919 ffdhe3072
WEAK_DHPARAM = DHPARAMS_DIR / "dh1024.pem"  # 1024-bit, `openssl dhparam 1024`
HSTS_VALUE = "max-age=31536000"


@dataclass(frozen=True)
class Scenario:
    """One nginx ``server {}`` block on its own (host, port)."""

    name: str
    port: int
    directives: tuple[str, ...]
    """nginx directives inside ``server {}``, without the trailing ``;``.

    ``listen``, ``server_name`` and the ``location /`` block (``return 200``)
    are added by the harness; everything TLS-related is here."""
    tls: bool = True
    host: str = HOST
    description: str = ""
    server_name: str = SERVER_NAME

    @property
    def address(self) -> str:
        """``host:port``, e.g. for ``python -m sslyze``."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.server_name}:{self.port}/"


def tls_directives(
    *,
    certs: tuple[str, ...] = ("good-rsa3072-chain",),
    protocols: str = GOOD_PROTOCOLS,
    ciphers: str = GOOD_CIPHERS,
    ciphersuites: str | None = GOOD_CIPHERSUITES,
    dhparam: Path | None = GOOD_DHPARAM,
    ecdh_curve: str | None = GOOD_ECDH_CURVE,
    hsts: str | None = HSTS_VALUE,
    extra: tuple[str, ...] = (),
) -> tuple[str, ...]:
    """Build the directive list of a TLS scenario; defaults = the ``good`` config.

    *certs* are basenames in ``fixtures/certs`` (``X`` -> ``X.pem`` served, key ``X.key``
    with any ``-chain``, ``-fullchain`` or ``-misordered`` suffix stripped).
    """
    out: list[str] = []
    for cert in certs:
        key = re.sub("-(chain|fullchain|misordered)$", "", cert)
        out.append(f"ssl_certificate {CERTS_DIR / (cert + '.pem')}")
        out.append(f"ssl_certificate_key {CERTS_DIR / (key + '.key')}")
    out.append(f"ssl_protocols {protocols}")
    out.append(f"ssl_ciphers '{ciphers}'")
    if ciphersuites is not None and "TLSv1.3" in protocols:
        out.append(f"ssl_conf_command Ciphersuites {ciphersuites}")
    if dhparam is not None:
        out.append(f"ssl_dhparam {dhparam}")
    if ecdh_curve is not None:
        out.append(f"ssl_ecdh_curve {ecdh_curve}")
    if hsts is not None:
        out.append(f'add_header Strict-Transport-Security "{hsts}" always')
    out.extend(extra)
    return tuple(out)


def _cert_scenario(
    name: str, port: int, cert: str, description: str, *, seclevel0: bool = False
) -> Scenario:
    ciphers = GOOD_CIPHERS + (":@SECLEVEL=0" if seclevel0 else "")
    return Scenario(
        name, port, tls_directives(certs=(cert,), ciphers=ciphers), description=description
    )


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "good",
        BASE_PORT + 0,
        tls_directives(certs=("good-ecdsa-p256-chain", "good-rsa3072-chain")),
        description=(
            "TLS1.2+1.3, ECDHE/DHE AEAD only, ffdhe3072, X25519/P-256/P-384,"
            " ECDSA P-256 + RSA-3072 certs, HSTS"
        ),
    ),
    Scenario(
        "tls10",
        BASE_PORT + 1,
        tls_directives(
            protocols="TLSv1 TLSv1.1 TLSv1.2", ciphers="ECDHE+AESGCM:ECDHE+AES:@SECLEVEL=0"
        ),
        description=(
            "TLS1.0+1.1+1.2 (no 1.3); ECDHE AES-GCM and AES-CBC (SHA1/SHA256/SHA384);"
            " SECLEVEL=0 needed for TLS<1.2"
        ),
    ),
    Scenario(
        "cbc",
        BASE_PORT + 2,
        tls_directives(
            ciphers="ECDHE+AESGCM:ECDHE+CHACHA20:ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES128-SHA"
        ),
        description="good + TLS1.2 CBC suites ECDHE-RSA-AES128-SHA256 and ECDHE-RSA-AES128-SHA",
    ),
    Scenario(
        "static_rsa",
        BASE_PORT + 3,
        tls_directives(protocols="TLSv1.2", ciphers="ECDHE+AESGCM:AES128-GCM-SHA256:AES256-SHA256"),
        description="TLS1.2 only; ECDHE AES-GCM + static-RSA AES128-GCM-SHA256 and AES256-SHA256",
    ),
    Scenario(
        "dhe1024",
        BASE_PORT + 4,
        tls_directives(
            protocols="TLSv1.2",
            ciphers="DHE-RSA-AES128-GCM-SHA256:ECDHE+AESGCM:@SECLEVEL=0",
            dhparam=WEAK_DHPARAM,
        ),
        description=(
            "TLS1.2 only; DHE-RSA-AES128-GCM-SHA256 with a 1024-bit DH group + ECDHE AES-GCM"
        ),
    ),
    _cert_scenario(
        "rsa1024", BASE_PORT + 5, "rsa1024-chain", "good, but RSA-1024 leaf", seclevel0=True
    ),
    _cert_scenario(
        "sha1",
        BASE_PORT + 6,
        "sha1-chain",
        "good, but leaf signed with sha1WithRSAEncryption",
        seclevel0=True,
    ),
    _cert_scenario(
        "selfsigned", BASE_PORT + 7, "selfsigned", "good, but self-signed RSA-2048 leaf"
    ),
    _cert_scenario(
        "missing_intermediate",
        BASE_PORT + 8,
        "good-rsa3072",
        "good, but serves the RSA-3072 leaf without the intermediate",
    ),
    _cert_scenario("expired", BASE_PORT + 9, "expired-chain", "good, but leaf expired 2024-06-30"),
    _cert_scenario(
        "wrongname",
        BASE_PORT + 10,
        "wrongname-chain",
        "good, but leaf SAN is only other.example.test",
    ),
    Scenario(
        "plain_http",
        BASE_PORT + 11,
        (),
        tls=False,
        description="plain HTTP/1.1 listener, no TLS",
    ),
    _cert_scenario(
        "rsa2048",
        BASE_PORT + 12,
        "rsa2048-chain",
        "good, but RSA-2048 leaf valid until 2045 (112-bit key past 2030)",
    ),
    _cert_scenario(
        "expiring",
        BASE_PORT + 13,
        "expiring-chain",
        "good, but leaf expires generation time + 10 days (see fixtures/certs/README.md)",
    ),
    Scenario(
        "tls13_only",
        BASE_PORT + 14,
        tls_directives(protocols="TLSv1.3"),
        description="good, but TLS 1.3 only (session tickets on, nginx's default)",
    ),
    Scenario(
        "ffdhe13",
        BASE_PORT + 15,
        tls_directives(ecdh_curve="X25519:ffdhe2048:ffdhe3072"),
        description="good, but the groups are X25519, ffdhe2048 and ffdhe3072 (TLS 1.3 FFDHE)",
    ),
    Scenario(
        "anon_camellia",
        BASE_PORT + 16,
        tls_directives(
            protocols="TLSv1.2",
            ciphers="ECDHE+AESGCM:ADH-CAMELLIA128-SHA256:ADH-CAMELLIA256-SHA256:@SECLEVEL=0",
        ),
        description=(
            "TLS1.2 only; ECDHE AES-GCM + DH_anon Camellia-CBC SHA256 (0x00BF, 0x00C5), which"
            " sslyze's OpenSSL builds never offer"
        ),
    ),
    _cert_scenario(
        "dnsonly",
        BASE_PORT + 17,
        "dnsonly-chain",
        "good, but the leaf names only DNS:www.example.test (no IP SAN) and embeds two SCTs",
    ),
    _cert_scenario(
        "untrusted_direct",
        BASE_PORT + 18,
        "untrusted-direct-chain",
        "good, but one leaf issued directly by 'tlsaudit Untrusted Root' (served alone)",
    ),
    _cert_scenario(
        "sha3", BASE_PORT + 19, "sha3-chain", "good, but the leaf is signed with SHA3-256"
    ),
    _cert_scenario(
        "mustaple",
        BASE_PORT + 20,
        "mustaple-chain",
        "good, but the leaf demands OCSP stapling (must-staple) and none is stapled",
    ),
    _cert_scenario(
        "clientauth",
        BASE_PORT + 21,
        "clientauth-chain",
        "good, but the leaf's extendedKeyUsage is clientAuth only",
    ),
    _cert_scenario(
        "fullchain",
        BASE_PORT + 22,
        "good-rsa3072-fullchain",
        "good, but the RSA chain includes the root (leaf, intermediate, root)",
    ),
    _cert_scenario(
        "misordered",
        BASE_PORT + 23,
        "good-rsa3072-misordered",
        "good, but the RSA chain is leaf, root, intermediate (wrong order, root sent)",
    ),
)

SCENARIOS_BY_NAME: dict[str, Scenario] = {s.name: s for s in SCENARIOS}


def scenario(name: str) -> Scenario:
    """Look up a scenario by name (KeyError if unknown)."""
    return SCENARIOS_BY_NAME[name]


def find_closed_port(host: str = HOST) -> int:
    """Return a TCP port on *host* that nothing listens on right now.

    Binds an ephemeral port and releases it without listening; the port is
    then closed (connections get RST) until something else grabs it, which is
    unlikely within a test session.  Scenario ports are never returned.
    """
    used = {s.port for s in SCENARIOS}
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port: int = sock.getsockname()[1]
        if port not in used:
            return port


def free_ports(count: int, host: str = HOST) -> list[int]:
    """``count`` distinct ports on *host* that are free right now (bound together, released)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


#: A port on 127.0.0.1 with no listener (chosen once, at import time).
CLOSED_PORT: int = find_closed_port()


def _check_unique() -> None:
    names = [s.name for s in SCENARIOS]
    addrs = [(s.host, s.port) for s in SCENARIOS]
    if len(set(names)) != len(names) or len(set(addrs)) != len(addrs):
        raise RuntimeError("scenario names and (host, port) pairs must be unique")


_check_unique()
