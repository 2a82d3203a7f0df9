"""Session-wide real servers: one nginx process serving every TLS scenario on 127.0.0.1."""

from __future__ import annotations

import logging
import shutil
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aiosmtpd.controller import Controller

from scan_targets import (
    CA_CERT,
    CERTS_DIR,
    CLOSED_PORT,
    HOST,
    SCENARIOS,
    SERVER_NAME,
    Scenario,
    find_closed_port,
)
from servers.nginx import NginxServer, start_nginx
from servers.pqc import PqcServer

if TYPE_CHECKING:
    from servers.postgres import PostgresCluster
from tlsaudit.inventory import Target, resolve
from tlsaudit.models.facts import TlsFacts
from tlsaudit.scan.options import ScanOptions
from tlsaudit.scan.tls import scan_endpoints


@pytest.fixture(scope="session")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NginxServer]:
    server = start_nginx(SCENARIOS, tmp_path_factory.mktemp("nginx"))
    yield server
    server.stop()


def scenario_target(scenario: Scenario) -> Target:
    return Target(raw=scenario.name, host=SERVER_NAME, port=scenario.port, ip=scenario.host)


CLOSED = Target(raw="closed_port", host=SERVER_NAME, port=CLOSED_PORT, ip=HOST)


@pytest.fixture(scope="session")
def scanned(nginx: NginxServer) -> dict[str, TlsFacts]:
    """Every scenario (and a closed port) scanned once, in one batch, with the test CA."""
    targets = [scenario_target(s) for s in SCENARIOS] + [CLOSED]
    endpoints = [resolve(t)[0] for t in targets]
    facts = scan_endpoints(endpoints, ScanOptions(ca_file=CA_CERT, timeout=3.0))
    return {t.raw: f for t, f in zip(targets, facts, strict=True)}


@pytest.fixture(scope="session")
def pqc() -> Iterator[PqcServer]:
    """A TLS 1.3 server on OpenSSL 3.5 (pyOpenSSL, cryptography's wheel) accepting every
    ML-KEM group (hybrid and pure) and X25519."""
    with PqcServer() as server:
        yield server


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A throw-away PostgreSQL cluster on 127.0.0.1 (skipped only when not installed)."""
    from servers.postgres import PostgresCluster, find_bin

    if find_bin() is None:
        pytest.skip("PostgreSQL binaries missing: apt-get install postgresql (see .ci/run)")
    # Not under pytest's 0700 base directory: the cluster's owner (postgres) must enter it.
    workdir = Path(tempfile.mkdtemp(prefix="tlsaudit-pg-"))
    workdir.chmod(0o755)
    try:
        with PostgresCluster(workdir) as cluster:
            yield cluster
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(postgres: PostgresCluster) -> str:
    """The URL of the session's PostgreSQL cluster (database ``postgres``)."""
    return postgres.url


class _Sink:
    async def handle_DATA(self, *_: object) -> str:  # noqa: N802 - aiosmtpd hook name
        return "554 no mail accepted here"


@pytest.fixture(scope="session")
def smtp_port() -> Iterator[int]:
    """An SMTP server on 127.0.0.1 offering STARTTLS with the good RSA certificate (TLS 1.2+,
    ECDHE AES-GCM), never accepting mail."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(CERTS_DIR / "good-rsa3072-chain.pem", CERTS_DIR / "good-rsa3072.key")
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE+AESGCM")
    port = find_closed_port()
    controller = Controller(_Sink(), hostname=HOST, port=port, tls_context=context)
    log = logging.getLogger("mail.log")  # aiosmtpd logs every probe that hangs up
    level = log.level
    log.setLevel(logging.CRITICAL)
    controller.start()
    yield port
    controller.stop()
    log.setLevel(level)
