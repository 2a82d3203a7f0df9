"""Knot DNS (Debian ``knot`` + ``knot-dnssecutils``) as an authoritative server for tests.

One :class:`KnotServer` is one ``knotd`` process in the foreground, listening on one or
more loopback addresses and serving every zone given to it on all of them (a server that
does not serve a zone answers REFUSED for it, and it refuses zone transfers unless the
zone asks for the ``open-transfer`` ACL: 127.0.0.0/8). Signed zones get one ECDSA P-256 key
(CSK) made with ``keymgr`` *before* the daemon starts, so the DS records are known in
advance and a parent zone can be written complete; knotd then signs on load.

    server = KnotServer("primary", ["127.0.0.2"], zones, workdir)
    server.prepare()            # config, zone files, keys
    ds = server.ds("example.test.")
    server.start(); server.wait_ready(); ...; server.stop()
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from servers.daemon import Daemon, DaemonError, find_binary

ALGORITHM = "ecdsap256sha256"
TRANSFER_ACL = "open-transfer"
"""ACL of the zones that allow AXFR (``Zone.transfer``): any client on 127.0.0.0/8."""


@dataclass(frozen=True)
class Zone:
    """A zone to serve: absolute name, complete master-file text, whether to sign it and
    whether to allow zone transfers (AXFR) to any loopback client."""

    name: str
    text: str
    signed: bool = False
    transfer: bool = False

    @property
    def file_name(self) -> str:
        return f"{self.name.rstrip('.')}.zone"


class KnotServer(Daemon):
    """One knotd serving ``zones`` on ``addresses`` (all on ``port``)."""

    def __init__(
        self,
        name: str,
        addresses: Sequence[str],
        zones: Sequence[Zone],
        workdir: Path,
        *,
        port: int = 53,
    ) -> None:
        binary = find_binary("knotd", "knot")
        self.root = workdir / name
        self.addresses = list(addresses)
        self.port = port
        self.zones = list(zones)
        self.config = self.root / "knot.conf"
        super().__init__(name, [binary, "-c", str(self.config)], self.root, self.root / "knotd.log")

    def prepare(self) -> None:
        """Write the configuration and zone files; make a key for every signed zone."""
        (self.root / "zones").mkdir(parents=True, exist_ok=True)
        (self.root / "run").mkdir(exist_ok=True)
        (self.root / "db").mkdir(exist_ok=True)
        for zone in self.zones:
            (self.root / "zones" / zone.file_name).write_text(zone.text)
        self.config.write_text(self._render_config())
        for zone in self.zones:
            if zone.signed:
                self._keymgr(zone.name, "generate", f"algorithm={ALGORITHM}", "ksk=yes", "zsk=yes")

    def ds(self, zone: str) -> list[str]:
        """The zone's DS records (SHA-256 digest) in master-file format."""
        lines = self._keymgr(zone, "ds").splitlines()
        return [line for line in lines if line.split()[4] == "2"]

    def ready(self) -> bool:
        """Every zone answers SOA authoritatively (signed ones with RRSIG) on the first address."""
        return all(self._serves(zone) for zone in self.zones)

    def _serves(self, zone: Zone) -> bool:
        query = dns.message.make_query(zone.name, "SOA", want_dnssec=zone.signed, flags=0)
        try:
            response = dns.query.udp(query, self.addresses[0], timeout=0.2, port=self.port)
        except (dns.exception.DNSException, OSError):
            return False
        signed = any(rrset.rdtype == dns.rdatatype.RRSIG for rrset in response.answer)
        return (
            response.rcode() == dns.rcode.NOERROR
            and bool(response.flags & dns.flags.AA)
            and signed == zone.signed
        )

    def _keymgr(self, zone: str, *args: str) -> str:
        command = [find_binary("keymgr", "knot"), "-c", str(self.config), zone, *args]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise DaemonError(f"{' '.join(command)} failed: {result.stderr or result.stdout}")
        return result.stdout

    def _render_config(self) -> str:
        listen = ", ".join(f"{address}@{self.port}" for address in self.addresses)
        user = "    user: root:root\n" if os.geteuid() == 0 else ""
        zones = "".join(
            f"  - domain: {zone.name}\n    file: {zone.file_name}\n"
            + ("    dnssec-signing: on\n    dnssec-policy: manual\n" if zone.signed else "")
            + (f"    acl: {TRANSFER_ACL}\n" if zone.transfer else "")
            for zone in self.zones
        )
        return (
            "server:\n"
            f"    rundir: {self.root / 'run'}\n"
            f"{user}"
            f"    listen: [ {listen} ]\n"
            "acl:\n"
            f"  - id: {TRANSFER_ACL}\n"
            "    address: 127.0.0.0/8\n"
            "    action: transfer\n"
            "log:\n"
            f"  - target: {self.log}\n"
            "    any: info\n"
            "database:\n"
            f"    storage: {self.root / 'db'}\n"
            "policy:\n"
            "  - id: manual\n"
            f"    algorithm: {ALGORITHM}\n"
            "    manual: on\n"
            "template:\n"
            "  - id: default\n"
            f"    storage: {self.root / 'zones'}\n"
            "    zonefile-sync: -1\n"
            "    journal-content: none\n"
            "zone:\n"
            f"{zones}"
        )
