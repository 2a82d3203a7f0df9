"""Session-wide DNS servers for the mail and DNS tests, all on loopback.

Layout (addresses are fixed; authoritative servers listen on port 53 because NS records
carry no port):

=================  ===========================  ==========================================
127.0.5.10:53      knotd "parent"               ``test.`` (signed; its DS is the trust
                                                anchor), delegations generated here
127.0.0.2, .0.3,   knotd "primary"              every ``zones/*.zone`` and
127.0.1.2 :53                                   ``zones/mail/*.zone`` (``*.signed.zone``
                                                signed, DS in the parent); AXFR refused
                                                but for ``AXFR_OPEN_ZONES``
127.0.2.4:53       knotd "secondary"            ``zones/secondary/*.zone`` (the stale copy
                                                of stale.test); REFUSED for other zones
127.0.4.6:53       unbound "open"               ``openres.test`` as auth-zone; recurses for
                                                anyone by forwarding to the resolver
127.0.6.53:5053    unbound "resolver"           validating resolver: stub ``test.`` ->
                                                parent, trust anchor = parent DS, every
                                                other name answered from a static root
127.0.3.99         nothing                      the dead NS of timeout.test
=================  ===========================  ==========================================

Mail zone files (``zones/mail/<zone>.zone``, zone a child of ``test.``) may omit the SOA
and the apex NS: the SOA ``ns1.<zone>. hostmaster.<zone>.`` serial 1 and NS
``ns1``/``ns2`` -> 127.0.0.2/127.0.0.3 are added. The parent's NS + glue for every zone
come from the zone's own apex NS and in-zone addresses.

The addresses are fixed, so concurrent test sessions take turns: the servers run under
an exclusive lock (``$TMPDIR/tlsaudit-dns-env.lock``). Every test under this folder runs
with a guard that refuses to send a packet to any address outside 127.0.0.0/8.
"""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.name
import dns.zone
import pytest

from servers.daemon import Daemon
from servers.knot import KnotServer, Zone
from servers.unbound import UnboundServer
from tlsaudit.scan.dns import DnsOptions
from tlsaudit.scan.options import ScanOptions

ZONES_DIR = Path(__file__).resolve().parent / "zones"
MAIL_ZONES_DIR = ZONES_DIR / "mail"
SECONDARY_ZONES_DIR = ZONES_DIR / "secondary"

PARENT = "127.0.5.10"
PRIMARY = ("127.0.0.2", "127.0.0.3", "127.0.1.2")
SECONDARY = "127.0.2.4"
OPEN_RESOLVER = "127.0.4.6"
RESOLVER = ("127.0.6.53", 5053)
DEAD = "127.0.3.99"

BOGUS_DS_ZONES = frozenset({"broken-dnssec.test."})
"""Signed zones whose DS in the parent is altered so that it matches no DNSKEY."""
AXFR_OPEN_ZONES = frozenset({"axfr-open.test."})
"""Zones whose primary allows zone transfers (AXFR) to any loopback client."""
OPEN_RESOLVER_ZONES = ("openres.test.",)
"""Zones the open resolver also serves (from the same zone file)."""
DEFAULT_NS = (("ns1", "127.0.0.2"), ("ns2", "127.0.0.3"))
TTL = 300
LOCK = Path(tempfile.gettempdir()) / "tlsaudit-dns-env.lock"
LOCK_WAIT = 600.0


@dataclass(frozen=True)
class DnsEnv:
    """What a test needs to use the DNS servers."""

    resolver: tuple[str, int]
    """Validating resolver (address, port) that knows every test zone."""
    trust_anchor: Path
    """DS records of ``test.`` in master-file format (``--trust-anchor``)."""
    zones: tuple[str, ...]
    """Every zone delegated from ``test.`` (absolute names)."""
    workdir: Path
    startup_seconds: float
    """Wall time from the first config written to every server answering."""

    def options(self, timeout: float = 1.0) -> DnsOptions:
        """Scan options that use only this environment (short serial re-check)."""
        return DnsOptions(
            scan=ScanOptions(resolver=self.resolver, timeout=timeout),
            trust_anchor=self.trust_anchor,
            serial_recheck_delay=0.2,
        )


def zone_name(path: Path) -> str:
    """``good-dns.test.signed.zone`` -> ``good-dns.test.``."""
    return path.name.removesuffix(".zone").removesuffix(".signed") + "."


def load_zone(path: Path, *, complete: bool = False) -> Zone:
    """A zone file as a :class:`Zone`; ``complete`` adds a missing SOA and apex NS."""
    name = zone_name(path)
    header = f"$ORIGIN {name}\n$TTL {TTL}\n"
    text = header + path.read_text()
    if complete:
        parsed = _parse(name, text)
        extra = []
        if parsed.get_rdataset(name, "SOA") is None:
            extra.append(f"@ SOA ns1 hostmaster 1 3600 900 1209600 {TTL}")
        if parsed.get_rdataset(name, "NS") is None:
            extra += [f"@ NS {ns}" for ns, _ in DEFAULT_NS]
            extra += [f"{ns} A {address}" for ns, address in DEFAULT_NS]
        text = header + "".join(f"{line}\n" for line in extra) + path.read_text()
    signed = path.name.endswith(".signed.zone")
    return Zone(name, text, signed=signed, transfer=name in AXFR_OPEN_ZONES)


def delegation(zone: Zone) -> list[str]:
    """NS and glue lines for the parent, from the zone's apex NS and in-zone addresses."""
    parsed = _parse(zone.name, zone.text)
    apex = dns.name.from_text(zone.name)
    lines = []
    for ns in parsed.find_rdataset(apex, "NS"):
        lines.append(f"{zone.name} {TTL} NS {ns.target}")
        if ns.target.is_subdomain(apex):
            for rdtype in ("A", "AAAA"):
                addresses = parsed.get_rdataset(ns.target, rdtype) or ()
                lines += [f"{ns.target} {TTL} {rdtype} {address}" for address in addresses]
    return lines


def _parse(name: str, text: str) -> dns.zone.Zone:
    return dns.zone.from_text(text, origin=name, relativize=False, check_origin=False)


def _bogus(ds: str) -> str:
    """The DS line with its digest reversed: same key tag and algorithm, no matching key."""
    *fields, digest = ds.split()
    return " ".join([*fields, digest[::-1]])


@contextmanager
def _exclusive(path: Path, wait: float) -> Iterator[None]:
    """Hold an exclusive lock on ``path``, waiting up to ``wait`` seconds for it."""
    deadline = time.monotonic() + wait
    with path.open("w") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    message = f"{path}: another test session holds the DNS servers"
                    raise RuntimeError(message) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _loopback_only(address: Any) -> None:
    if isinstance(address, tuple) and address:
        host = str(address[0])
        if ipaddress.ip_address(host.split("%")[0]) not in ipaddress.ip_network("127.0.0.0/8"):
            raise AssertionError(f"test tried to reach {host}: only 127.0.0.0/8 is allowed")


@pytest.fixture(scope="session", autouse=True)
def loopback_guard() -> Iterator[None]:
    """Every socket of the test process may only talk to 127.0.0.0/8."""
    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex
    sendto = socket.socket.sendto

    def guarded_connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _loopback_only(address)
        connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:  # dnspython's TCP
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _loopback_only(address)
        return connect_ex(self, address)

    def guarded_sendto(self: socket.socket, data: Any, *args: Any) -> int:
        _loopback_only(args[-1])
        return sendto(self, data, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", guarded_connect)
        patch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
        patch.setattr(socket.socket, "sendto", guarded_sendto)
        yield


@pytest.fixture(scope="session")
def dns_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DnsEnv]:
    """Start every DNS server once for the session; stop them by pid at the end."""
    with _exclusive(LOCK, LOCK_WAIT):
        yield from _serve(tmp_path_factory.mktemp("dns"))


def _serve(workdir: Path) -> Iterator[DnsEnv]:
    started = time.monotonic()
    mail = sorted(MAIL_ZONES_DIR.glob("*.zone")) if MAIL_ZONES_DIR.is_dir() else []
    children = [load_zone(p) for p in sorted(ZONES_DIR.glob("*.zone")) if p.name != "test.zone"]
    children += [load_zone(p, complete=True) for p in mail]
    primary = KnotServer("primary", PRIMARY, children, workdir)
    primary.prepare()
    parent_lines = []
    for zone in children:
        parent_lines += delegation(zone)
        if zone.signed:
            ds = primary.ds(zone.name)
            parent_lines += [_bogus(line) for line in ds] if zone.name in BOGUS_DS_ZONES else ds
    parent_text = (ZONES_DIR / "test.zone").read_text() + "\n".join(parent_lines) + "\n"
    parent = KnotServer("parent", [PARENT], [Zone("test.", parent_text, signed=True)], workdir)
    parent.prepare()
    trust_anchor = workdir / "trust-anchor.ds"
    trust_anchor.write_text("\n".join(parent.ds("test.")) + "\n")
    secondary_zones = [load_zone(p) for p in sorted(SECONDARY_ZONES_DIR.glob("*.zone"))]
    secondary = KnotServer("secondary", [SECONDARY], secondary_zones, workdir)
    secondary.prepare()
    resolver = UnboundServer(
        "resolver",
        [RESOLVER],
        workdir,
        root_hint=PARENT,
        stubs={"test.": [(PARENT, 53)]},
        trust_anchor=trust_anchor,
        local_zones={".": "static", "test.": "transparent"},
    )
    open_resolver = UnboundServer(
        "open",
        [(OPEN_RESOLVER, 53)],
        workdir,
        root_hint=PARENT,
        forwards={".": [RESOLVER]},
        local_zones={"test.": "transparent"},
        auth_zones={z: ZONES_DIR / f"{z.rstrip('.')}.zone" for z in OPEN_RESOLVER_ZONES},
    )
    daemons: list[Daemon] = [primary, parent, secondary, resolver, open_resolver]
    try:
        for daemon in daemons:
            daemon.start()
        for daemon in daemons:
            daemon.wait_ready()
        yield DnsEnv(
            resolver=RESOLVER,
            trust_anchor=trust_anchor,
            zones=tuple(zone.name for zone in children),
            workdir=workdir,
            startup_seconds=time.monotonic() - started,
        )
    finally:
        for daemon in reversed(daemons):
            daemon.stop()
