"""Hostile peers for the robustness tests: real sockets, a few lines each.

- :func:`tcp_server`: a threaded TCP server on a kernel-chosen loopback port running one
  handler per connection (reset mid-handshake, drip, silence, garbage ...).
- :class:`TlsServer`: a TLS server (Python's ssl) with any certificate chain, answering
  one HTTP request per connection; :func:`long_chain` and :func:`huge_certificate` make
  the chains it serves (ECDSA P-256, dated from the tests' pinned ``now``).
- :class:`HostileDns`: a DNS server answering every question from :func:`fault_zones`
  (truncated answers, CNAME loops and long chains, deep and looping SPF includes); it is
  meant to run inside a network namespace of the test's own (:class:`Namespace`), where it
  can listen on port 53 of several 127.x addresses, by ``python -m servers.hostile dns``.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import os
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

Handler = Callable[[socket.socket], None]


@contextmanager
def tcp_server(handler: Handler, host: str = "127.0.0.1", port: int = 0) -> Iterator[int]:
    """Serve ``handler`` (one thread per connection) on ``port`` (0: a free one) of ``host``."""
    server = socket.create_server((host, port))
    server.listen(64)

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=_handle, args=(handler, conn), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield int(server.getsockname()[1])
    finally:
        server.close()


def _handle(handler: Handler, conn: socket.socket) -> None:
    try:
        with conn:
            handler(conn)
    except OSError:
        pass


def reset(conn: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets a TCP RST, not a FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def rst_after_client_hello(conn: socket.socket) -> None:
    conn.recv(65536)
    reset(conn)


def rst_in_server_hello(conn: socket.socket) -> None:
    """A ServerHello record header announcing 80 bytes, 6 of them, then a reset."""
    conn.recv(65536)
    conn.sendall(b"\x16\x03\x03\x00\x50\x02\x00\x00\x4c\x03\x03")
    time.sleep(0.05)
    reset(conn)


def drip_tls_handshake(conn: socket.socket) -> None:
    """A TLS handshake record header announcing 16 KiB, then its bytes one at a time,
    two a second: faster than any per-read timeout (sslyze's is at least 1 s), so only an
    overall deadline ends the connection."""
    conn.recv(4096)
    conn.sendall(b"\x16\x03\x03\x40\x00")
    for _ in range(1200):
        time.sleep(0.5)
        conn.sendall(b"\x00")


def silent(conn: socket.socket) -> None:
    """Accept, read, never answer (until the client gives up or 10 minutes pass)."""
    conn.recv(65536)
    conn.settimeout(600)
    while conn.recv(65536):
        pass


# --- certificates ------------------------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    now: datetime.datetime,
    *,
    ca: bool,
    names: Sequence[str] = (),
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=7300))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if names:
        san = x509.SubjectAlternativeName([x509.DNSName(n) for n in names])
        builder = builder.add_extension(san, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(out: Path, stem: str, chain: list[x509.Certificate], key: ec.EllipticCurvePrivateKey
           ) -> tuple[Path, Path]:  # fmt: skip
    pem = serialization.Encoding.PEM
    chain_file, key_file = out / f"{stem}-chain.pem", out / f"{stem}.key"
    chain_file.write_bytes(b"".join(c.public_bytes(pem) for c in chain))
    key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return chain_file, key_file


def long_chain(out: Path, now: datetime.datetime, length: int) -> tuple[Path, Path]:
    """A leaf for ``localhost`` and ``length - 1`` CA certificates above it, each signed by
    the next (the last is self-signed): (chain file, leaf key file)."""
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(length)]
    subjects = ["localhost", *(f"Hostile CA {i}" for i in range(1, length))]
    chain = []
    for i in range(length):
        above = min(i + 1, length - 1)
        names = ["localhost"] if i == 0 else []
        chain.append(
            _certificate(
                subjects[i], keys[i], subjects[above], keys[above], now, ca=i > 0, names=names
            )
        )
    return _write(out, "long", chain, keys[0])


def huge_certificate(out: Path, now: datetime.datetime, size: int) -> tuple[Path, Path]:
    """A self-signed leaf for ``localhost`` whose SAN list makes it at least ``size`` bytes
    (DER)."""
    key = ec.generate_private_key(ec.SECP256R1())
    count = size // 24 + 1
    names = ["localhost", *(f"n{i:06d}.huge.example.test" for i in range(count))]
    cert = _certificate("localhost", key, "localhost", key, now, ca=False, names=names)
    assert len(cert.public_bytes(serialization.Encoding.DER)) >= size
    return _write(out, f"huge{size}", [cert], key)


class TlsServer:
    """A threaded TLS server on 127.0.0.1 (a kernel-chosen port) serving one chain; after a
    handshake it answers one HTTP request with ``200`` and ``body``, all at once or, after
    its first ``at_once`` bytes, dripped ``drip`` bytes at a time every ``interval`` s."""

    def __init__(
        self,
        chain: Path,
        key: Path,
        *,
        body: bytes = b"",
        drip: int = 0,
        at_once: int = 0,
        interval: float = 0.5,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(chain, key)
        self.body, self.drip, self.at_once, self.interval = body, drip, at_once, interval
        self.server = socket.create_server((host, port))
        self.port = int(self.server.getsockname()[1])

    def __enter__(self) -> TlsServer:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=_handle, args=(self._serve, conn), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            tls = self.context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            return
        with tls:
            tls.recv(65536)
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(self.body)}\r\n"
            response = head.encode() + b"Content-Type: text/plain\r\nConnection: close\r\n\r\n"
            response += self.body
            if not self.drip:
                tls.sendall(response)
                return
            tls.sendall(response[: self.at_once])
            for start in range(self.at_once, len(response), self.drip):
                tls.sendall(response[start : start + self.drip])
                time.sleep(self.interval)


# --- DNS -------------------------------------------------------------------------------

Zone = dict[str, list[tuple[str, str]]]
"""Owner name (absolute, lower-case) -> (type, rdata text) records."""

SPF_DEPTH = 50
MANY = 30
CHAIN_LENGTH = 30
SLOW_SMTP = "127.0.0.3"
"""Where ``python -m servers.hostile smtp`` listens on port 25 (inside a namespace)."""


def fault_zones() -> Zone:
    """The names :class:`HostileDns` serves (every zone's NS is ns.<zone> at 127.0.0.1).

    - ``good.test``: SPF, DMARC, no MX (null MX), nothing hostile;
    - ``tc.test``: every answer has TC=1 over UDP; over TCP the server hangs up;
    - ``tctcp.test``: every answer has TC=1 and no records, over UDP and TCP alike;
    - ``loop.test``: CNAME loops: MX host, ``_dmarc``, ``_mta-sts`` and ``www`` form a->b->a
      pairs; the SPF TXT includes a name that is a CNAME to itself;
    - ``chain.test``: the same names at the head of CNAME chains of :data:`CHAIN_LENGTH`;
    - ``spfdeep.test``: an include chain :data:`SPF_DEPTH` deep;
    - ``spfloop.test``: include loops (a->b->a, and the domain including itself);
    - ``manymx.test``: :data:`MANY` MX hosts, the most preferred with :data:`MANY` addresses;
    - ``slowmx.test``: one MX, at :data:`SLOW_SMTP`, where ``smtp`` mode drips a greeting that
      never ends (``220-`` lines).
    """
    zone: Zone = {}

    def add(owner: str, rdtype: str, text: str) -> None:
        zone.setdefault(owner.lower().rstrip(".") + ".", []).append((rdtype, text))

    for apex in ("good.test", "tc.test", "tctcp.test", "loop.test", "chain.test", "spfdeep.test",
                 "spfloop.test", "manymx.test", "slowmx.test"):  # fmt: skip
        add(apex, "SOA", f"ns.{apex}. hostmaster.{apex}. 1 3600 600 86400 60")
        add(apex, "NS", f"ns.{apex}.")
        add(f"ns.{apex}", "A", "127.0.0.1")
    add("good.test", "TXT", '"v=spf1 -all"')
    add("good.test", "MX", "0 .")
    add("_dmarc.good.test", "TXT", '"v=DMARC1; p=reject"')
    add("tc.test", "MX", "10 mx.tc.test.")
    add("tc.test", "TXT", '"v=spf1 -all"')
    add("tctcp.test", "TXT", '"v=spf1 -all"')
    add("loop.test", "MX", "10 mx.loop.test.")
    add("loop.test", "TXT", '"v=spf1 include:self.loop.test -all"')
    add("self.loop.test", "CNAME", "self.loop.test.")
    for name in ("mx", "_dmarc", "_mta-sts", "www", "_smtp._tls"):
        add(f"{name}.loop.test", "CNAME", f"{name}-b.loop.test.")
        add(f"{name}-b.loop.test", "CNAME", f"{name}.loop.test.")
    add("chain.test", "MX", "10 mx.chain.test.")
    add("chain.test", "TXT", '"v=spf1 -all"')
    for name in ("mx", "_dmarc", "_mta-sts", "www"):
        hops = [f"{name}.chain.test", *(f"{name}-{i}.chain.test" for i in range(CHAIN_LENGTH))]
        for here, there in itertools.pairwise(hops):
            add(here, "CNAME", f"{there}.")
        add(hops[-1], "TXT", '"v=DMARC1; p=reject"' if name == "_dmarc" else '"v=STSv1; id=1"')
        add(hops[-1], "A", "127.0.0.1")
    add("spfdeep.test", "TXT", '"v=spf1 include:s1.spfdeep.test -all"')
    for i in range(1, SPF_DEPTH):
        add(f"s{i}.spfdeep.test", "TXT", f'"v=spf1 include:s{i + 1}.spfdeep.test -all"')
    add(f"s{SPF_DEPTH}.spfdeep.test", "TXT", '"v=spf1 -all"')
    add("spfloop.test", "TXT", '"v=spf1 include:a.spfloop.test include:spfloop.test -all"')
    add("a.spfloop.test", "TXT", '"v=spf1 include:b.spfloop.test -all"')
    add("b.spfloop.test", "TXT", '"v=spf1 include:a.spfloop.test -all"')
    add("slowmx.test", "MX", "10 mx.slowmx.test.")
    add("slowmx.test", "TXT", '"v=spf1 -all"')
    add("mx.slowmx.test", "A", f"{SLOW_SMTP}")
    for i in range(MANY):
        add("manymx.test", "MX", f"{i + 1} mx{i}.manymx.test.")
        add(f"mx{i}.manymx.test", "A", f"127.0.1.{i + 1}")
        add("mx0.manymx.test", "A", f"127.0.2.{i + 1}")
    return zone


class HostileDns:
    """Answers from a :data:`Zone` as a resolver would (the CNAME chain in the answer, up
    to 64 hops, loops included), over UDP on every address and over TCP on ``tcp`` ones.

    Names under ``tc.test``, and every name but the root on the ``truncate`` addresses,
    get an empty answer with TC=1 over UDP; over TCP the server reads the question and
    hangs up. Names under ``tctcp.test`` get an empty answer with TC=1 over both. A name
    outside every zone is REFUSED (so a liveness question is answered).
    """

    def __init__(self, zone: Zone, *, truncate: Sequence[str] = ()) -> None:
        self.zone = zone
        self.truncate = set(truncate)
        self.apexes = {owner for owner, rows in zone.items() if any(t == "SOA" for t, _ in rows)}

    def answer(self, wire: bytes, address: str, tcp: bool) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except Exception:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA | dns.flags.RA
        if not query.question:
            response.set_rcode(dns.rcode.FORMERR)
            return response.to_wire()
        question = query.question[0]
        name = question.name.to_text().lower()
        truncated = name.endswith("tc.test.") or (address in self.truncate and name != ".")
        if truncated or name.endswith("tctcp.test."):
            if tcp and truncated:
                return None
            response.flags |= dns.flags.TC
            return response.to_wire()
        apex = next((a for a in self.apexes if name == a or name.endswith("." + a)), None)
        if apex is None:
            response.set_rcode(dns.rcode.REFUSED)
            return response.to_wire()
        self._fill(response, name, question.rdtype, apex)
        return response.to_wire(max_size=65535 if tcp else 1232)

    def _fill(
        self, response: dns.message.Message, name: str, rdtype: dns.rdatatype.RdataType, apex: str
    ) -> None:
        wanted = dns.rdatatype.to_text(rdtype)
        for _ in range(64):
            records = self.zone.get(name, [])
            cname = [text for kind, text in records if kind == "CNAME"]
            if cname and wanted != "CNAME":
                response.answer.append(dns.rrset.from_text(name, 60, "IN", "CNAME", cname[0]))
                name = cname[0].lower()
                continue
            found = [text for kind, text in records if kind == wanted]
            if found:
                response.answer.append(dns.rrset.from_text(name, 60, "IN", wanted, *found))
                return
            break
        if name not in self.zone and not response.answer:
            response.set_rcode(dns.rcode.NXDOMAIN)
        soa = [text for kind, text in self.zone[apex] if kind == "SOA"]
        response.authority.append(dns.rrset.from_text(apex, 60, "IN", "SOA", *soa))

    def serve(self, udp: Sequence[str], tcp: Sequence[str], port: int) -> None:
        """Listen and answer until killed; print ``ready`` when listening."""
        for address in udp:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((address, port))
            threading.Thread(target=self._udp, args=(sock, address), daemon=True).start()
        for address in tcp:
            server = socket.create_server((address, port))
            threading.Thread(target=self._tcp, args=(server, address), daemon=True).start()
        print("ready", flush=True)
        threading.Event().wait()

    def _udp(self, sock: socket.socket, address: str) -> None:
        while True:
            wire, peer = sock.recvfrom(65535)
            reply = self.answer(wire, address, tcp=False)
            if reply is not None:
                sock.sendto(reply, peer)

    def _tcp(self, server: socket.socket, address: str) -> None:
        while True:
            conn, _ = server.accept()
            threading.Thread(target=self._tcp_one, args=(conn, address), daemon=True).start()

    def _tcp_one(self, conn: socket.socket, address: str) -> None:
        with conn:
            conn.settimeout(10)
            try:
                size = struct.unpack("!H", conn.recv(2))[0]
                reply = self.answer(conn.recv(size), address, tcp=True)
                if reply is not None:
                    conn.sendall(struct.pack("!H", len(reply)) + reply)
            except (OSError, struct.error):
                pass


# --- network namespaces ------------------------------------------------------------------


class Namespace:
    """A network namespace of the test's own (``ta12-<name>-<pid>``) with only its loopback
    up: nothing run inside can reach anything but its own 127.0.0.0/8 (needs root)."""

    def __init__(self, name: str) -> None:
        self.name = f"ta12-{name}-{os.getpid()}"
        self.processes: list[subprocess.Popen[str]] = []

    def __enter__(self) -> Namespace:
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        subprocess.run([*self.prefix, "ip", "link", "set", "lo", "up"], check=True)
        return self

    def __exit__(self, *_: object) -> None:
        for process in self.processes:
            process.kill()
            process.wait()
        subprocess.run(["ip", "netns", "delete", self.name], check=False)

    @property
    def prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]

    def start(self, command: Sequence[str], cwd: Path) -> subprocess.Popen[str]:
        """Start a server inside; return once it printed ``ready`` (killed at exit)."""
        process = subprocess.Popen(
            [*self.prefix, *command], cwd=cwd, stdout=subprocess.PIPE, text=True
        )
        self.processes.append(process)
        assert process.stdout is not None
        line = process.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"{command}: did not start (exit status {process.poll()})")
        return process


def endless_greeting(conn: socket.socket) -> None:
    """``220-`` continuation lines, ten a second, for about 17 minutes: an SMTP greeting that
    never completes, each line well within any read timeout."""
    for _ in range(10_000):
        conn.sendall(b"220-still greeting\r\n")
        time.sleep(0.1)


def _serve_smtp() -> None:
    with tcp_server(endless_greeting, SLOW_SMTP, 25):
        print("ready", flush=True)
        threading.Event().wait()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m servers.hostile")
    parser.add_argument("what", choices=["dns", "smtp"])
    parser.add_argument("--udp", nargs="+", default=["127.0.0.1"])
    parser.add_argument("--tcp", nargs="*", default=["127.0.0.1"])
    parser.add_argument("--truncate", nargs="*", default=[])
    parser.add_argument("--port", type=int, default=53)
    args = parser.parse_args(argv)
    if args.what == "smtp":
        _serve_smtp()
    HostileDns(fault_zones(), truncate=args.truncate).serve(args.udp, args.tcp, args.port)


if __name__ == "__main__":
    main(sys.argv[1:])
