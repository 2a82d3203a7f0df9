"""A TLS 1.3 server with ML-KEM groups, for tests: pyOpenSSL on the ``cryptography`` wheel.

The OpenSSL 3.5 bundled with ``cryptography`` knows X25519MLKEM768, SecP256r1MLKEM768,
SecP384r1MLKEM1024 and MLKEM512/768/1024; Debian's OpenSSL 3.0 (nginx) does not.
pyOpenSSL has no call for the group list, so the server runs in a child process whose
``OPENSSL_CONF`` sets ``Groups`` for every SSL_CTX (``groups=None``: OpenSSL's default
list). Certificate: ``fixtures/certs/good-rsa3072-chain.pem``.

Use as a context manager::

    with PqcServer(("X25519MLKEM768", "X25519")) as server:
        probe(server.host, server.port, ...)

The child exits when its stdin closes: on :meth:`PqcServer.stop`, or when the test
process dies.
"""

from __future__ import annotations

import argparse
import os
import select
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

CERTS_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "certs"
CERT = CERTS_DIR / "good-rsa3072-chain.pem"
KEY = CERTS_DIR / "good-rsa3072.key"

ML_KEM_GROUPS: tuple[str, ...] = (
    "X25519MLKEM768",
    "SecP256r1MLKEM768",
    "SecP384r1MLKEM1024",
    "MLKEM512",
    "MLKEM768",
    "MLKEM1024",
)
DEFAULT_GROUPS: tuple[str, ...] = (*ML_KEM_GROUPS, "X25519")

_STARTUP_TIMEOUT = 15.0


class PqcServerError(RuntimeError):
    """The server did not start."""


class PqcServer:
    """A TLS 1.3-only server on *host* (a free port) accepting exactly *groups*."""

    def __init__(
        self, groups: Sequence[str] | None = DEFAULT_GROUPS, host: str = "127.0.0.1"
    ) -> None:
        self.groups = tuple(groups) if groups is not None else None
        self.host = host
        self.port = 0
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._stderr: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> PqcServer:
        if self._process is not None:
            return self
        self._workdir = tempfile.TemporaryDirectory(prefix="pqc-server-")
        env = dict(os.environ)
        env.pop("OPENSSL_CONF", None)
        if self.groups is not None:
            config = Path(self._workdir.name) / "openssl.cnf"
            config.write_text(_openssl_config(self.groups))
            env["OPENSSL_CONF"] = str(config)
        self._stderr = Path(self._workdir.name) / "stderr.log"
        with self._stderr.open("wb") as stderr:
            self._process = subprocess.Popen(
                [sys.executable, __file__, "--host", self.host],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=env,
            )
        try:
            self.port = self._read_port()
        except BaseException:
            self.stop()
            raise
        return self

    def _read_port(self) -> int:
        assert self._process is not None
        assert self._process.stdout is not None
        ready, _, _ = select.select([self._process.stdout], [], [], _STARTUP_TIMEOUT)
        line = self._process.stdout.readline() if ready else b""
        if not line.strip().isdigit():
            self._process.kill()
            self._process.wait()
            raise PqcServerError(f"PQC server did not start: {self._errors()}")
        return int(line)

    def _errors(self) -> str:
        if self._stderr is None or not self._stderr.exists():
            return ""
        return self._stderr.read_text(errors="replace").strip()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.stdin is not None:
                process.stdin.close()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        self._stderr = None
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def __enter__(self) -> PqcServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _openssl_config(groups: Sequence[str]) -> str:
    return (
        "openssl_conf = tlsaudit_test\n"
        "[tlsaudit_test]\n"
        "ssl_conf = ssl_section\n"
        "[ssl_section]\n"
        "system_default = system_default_section\n"
        "[system_default_section]\n"
        f"Groups = {':'.join(groups)}\n"
    )


# -- the child process -----------------------------------------------------------------


def _serve(host: str) -> None:
    from OpenSSL import SSL

    context = SSL.Context(SSL.TLS_METHOD)
    context.set_min_proto_version(SSL.TLS1_3_VERSION)
    context.use_certificate_chain_file(str(CERT))
    context.use_privatekey_file(str(KEY))
    listener = socket.create_server((host, 0))
    print(listener.getsockname()[1], flush=True)

    def handle(sock: socket.socket) -> None:
        with sock:
            connection = SSL.Connection(context, sock)
            connection.set_accept_state()
            try:
                connection.do_handshake()
                connection.sendall(b"tlsaudit PQC test server\n")
                connection.shutdown()
            except (SSL.Error, OSError):
                pass  # probes hang up after the ServerHello

    def accept() -> None:
        while True:
            sock, _ = listener.accept()
            threading.Thread(target=handle, args=(sock,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    sys.stdin.buffer.read()  # until the parent closes stdin or dies


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="TLS 1.3 test server with ML-KEM groups")
    parser.add_argument("--host", default="127.0.0.1")
    _serve(parser.parse_args().host)
