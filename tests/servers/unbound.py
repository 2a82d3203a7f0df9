"""Unbound (Debian ``unbound``) for tests: a validating resolver, or an open one.

One :class:`UnboundServer` is one ``unbound -d`` process with its own config, log and
pid file in its work directory. Nothing it does has to leave loopback: stub and forward
zones name loopback servers, ``local_zones`` can answer every other name from a static
empty root, and the root hints name a loopback address, so even root priming stays local.
Unbound answers the reserved ``test.`` itself (a default local zone) unless
``local_zones`` makes it ``transparent``.

    resolver = UnboundServer(
        "resolver", [("127.0.6.53", 5053)], workdir,
        stubs={"test.": [("127.0.5.10", 53)]}, trust_anchor=ta_file,
        local_zones={".": "static", "test.": "transparent"},
        root_hint="127.0.5.10",
    )
    resolver.start(); resolver.wait_ready(); ...; resolver.stop()
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import dns.exception
import dns.message
import dns.query

from servers.daemon import Daemon, find_binary

Address = tuple[str, int]


def _addr(address: Address) -> str:
    return f"{address[0]}@{address[1]}"


class UnboundServer(Daemon):
    """One unbound process; see the module docstring for the knobs."""

    def __init__(
        self,
        name: str,
        interfaces: Sequence[Address],
        workdir: Path,
        *,
        root_hint: str,
        stubs: Mapping[str, Sequence[Address]] | None = None,
        forwards: Mapping[str, Sequence[Address]] | None = None,
        auth_zones: Mapping[str, Path] | None = None,
        trust_anchor: Path | None = None,
        local_zones: Mapping[str, str] | None = None,
    ) -> None:
        """``auth_zones`` maps zone names to zone files served authoritatively (AA) to
        clients; ``local_zones`` maps names to unbound local-zone types; ``trust_anchor``
        (DS or DNSKEY lines) turns validation on."""
        binary = find_binary("unbound", "unbound")
        self.root = workdir / name
        self.root.mkdir(parents=True, exist_ok=True)
        self.interfaces = list(interfaces)
        self.config = self.root / "unbound.conf"
        super().__init__(
            name, [binary, "-d", "-c", str(self.config)], self.root, self.root / "unbound.log"
        )
        self.config.write_text(
            self._render(
                root_hint,
                stubs or {},
                forwards or {},
                auth_zones or {},
                trust_anchor,
                local_zones or {},
            )
        )

    def ready(self) -> bool:
        """The first interface answers (``localhost.`` comes from unbound's own data)."""
        host, port = self.interfaces[0]
        query = dns.message.make_query("localhost.", "A")
        try:
            dns.query.udp(query, host, timeout=0.2, port=port)
        except (dns.exception.DNSException, OSError):
            return False
        return True

    def _render(
        self,
        root_hint: str,
        stubs: Mapping[str, Sequence[Address]],
        forwards: Mapping[str, Sequence[Address]],
        auth_zones: Mapping[str, Path],
        trust_anchor: Path | None,
        local_zones: Mapping[str, str],
    ) -> str:
        hints = self.root / "root.hints"
        hints.write_text(f". 3600000 NS a.root.invalid.\na.root.invalid. 3600000 A {root_hint}\n")
        server = [
            *(f"interface: {_addr(a)}" for a in self.interfaces),
            "do-daemonize: no",
            'username: ""',
            'chroot: ""',
            f'directory: "{self.root}"',
            f'pidfile: "{self.root / "unbound.pid"}"',
            f'logfile: "{self.log}"',
            "use-syslog: no",
            "verbosity: 1",
            "val-log-level: 2",
            "do-ip6: no",
            f"outgoing-interface: {self.interfaces[0][0]}",
            "access-control: 127.0.0.0/8 allow",
            "do-not-query-localhost: no",
            f'root-hints: "{hints}"',
            "module-config: " + ('"validator iterator"' if trust_anchor else '"iterator"'),
        ]
        if trust_anchor is not None:
            server.append(f'trust-anchor-file: "{trust_anchor}"')
        server += [f'local-zone: "{zone}" {kind}' for zone, kind in local_zones.items()]
        sections = ["server:", *(f"  {line}" for line in server)]
        for zone, path in auth_zones.items():
            sections += [
                "auth-zone:",
                f'  name: "{zone}"',
                f'  zonefile: "{path}"',
                "  for-downstream: yes",
                "  for-upstream: no",
                "  fallback-enabled: no",
            ]
        kinds = (("stub", "stub-addr", stubs), ("forward", "forward-addr", forwards))
        for kind, key, zones in kinds:
            for zone, addresses in zones.items():
                sections += [f"{kind}-zone:", f'  name: "{zone}"']
                sections += [f"  {key}: {_addr(a)}" for a in addresses]
        sections += ["remote-control:", "  control-enable: no"]
        return "\n".join(sections) + "\n"
