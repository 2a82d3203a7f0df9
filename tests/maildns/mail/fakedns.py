"""An in-memory :data:`~tlsaudit.records.dnsview.Lookup` for the pure walker tests."""

from __future__ import annotations

from collections.abc import Mapping

from tlsaudit.models.dns import DnsAnswer, DnsStatus
from tlsaudit.records.dnsview import normalise


def quoted(text: str) -> str:
    """TXT presentation format, split into 255-octet character-strings."""
    chunks = [text[i : i + 255] for i in range(0, len(text), 255)] or [""]
    escaped = (c.replace("\\", "\\\\").replace('"', '\\"') for c in chunks)
    return " ".join(f'"{c}"' for c in escaped)


class FakeDns:
    """Answers from a dict; names with no record of any type (nor below) are NXDOMAIN."""

    def __init__(
        self,
        txt: Mapping[str, str | list[str]] | None = None,
        a: dict[str, str] | None = None,
        mx: dict[str, list[str]] | None = None,
    ) -> None:
        self.records: dict[tuple[str, str], list[str]] = {}
        self.failures: dict[tuple[str, str], DnsStatus] = {}
        self.asked: list[tuple[str, str]] = []
        for name, value in (txt or {}).items():
            texts = [value] if isinstance(value, str) else value
            self.add(name, "TXT", [quoted(t) for t in texts])
        for name, address in (a or {}).items():
            self.add(name, "A", [address])
        for name, hosts in (mx or {}).items():
            self.add(name, "MX", hosts)

    def add(self, name: str, rdtype: str, records: list[str]) -> None:
        self.records[(normalise(name), rdtype)] = records

    def fail(self, name: str, rdtype: str, status: DnsStatus = DnsStatus.TIMEOUT) -> None:
        self.failures[(normalise(name), rdtype)] = status

    def __call__(self, name: str, rdtype: str) -> DnsAnswer:
        key = (normalise(name), rdtype.upper())
        self.asked.append(key)
        absolute = key[0] + "."
        if key in self.failures:
            return DnsAnswer(name=absolute, rdtype=key[1], status=self.failures[key])
        if key in self.records:
            return DnsAnswer(
                name=absolute, rdtype=key[1], status=DnsStatus.ANSWER, records=self.records[key]
            )
        exists = any(n == key[0] or n.endswith("." + key[0]) for n, _ in self.records)
        status = DnsStatus.NODATA if exists else DnsStatus.NXDOMAIN
        return DnsAnswer(name=absolute, rdtype=key[1], status=status)
