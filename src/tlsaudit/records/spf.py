"""SPF (RFC 7208): record selection, ABNF parsing and the worst-case lookup walk.

:func:`parse_spf` is a pure parser of one record's text. :func:`walk_spf` follows
``include`` and ``redirect`` through a :data:`~tlsaudit.records.dnsview.Lookup` the way
a receiver evaluates a client that matches nothing (the case that spends the whole
budget), counting DNS-querying terms and void lookups for an IPv4 and an IPv6 client.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from dataclasses import dataclass, field
from enum import StrEnum

from tlsaudit.models.dns import DnsAnswer
from tlsaudit.models.facts import ProbeError
from tlsaudit.records.dnsview import Lookup, normalise, txt
from tlsaudit.records.text import shorten

QUALIFIERS = "+-~?"
DNS_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})
MECHANISMS = DNS_MECHANISMS | {"all", "ip4", "ip6"}
RECORD_LETTERS = "slodiphv"
"""Macro letters allowed in a record; ``c``, ``r`` and ``t`` only in ``exp`` text (§7.2)."""
SIZE_HINT = 450
"""RFC 7208 §3.4: keep name + records under about 450 octets to fit a 512-octet answer."""
MAX_MX = 10
"""RFC 7208 §4.6.4: more than 10 MX records for one ``mx`` term is a permerror."""
MAX_QUERIES = 40
"""Safety cap on queries per walk (pyspf uses the same), so hostile records stay cheap."""

_MACRO = re.compile(r"%\{([a-z])([0-9]*)(r?)([.\-+,/_=]*)\}|%%|%_|%-", re.IGNORECASE | re.ASCII)
_MODIFIER = re.compile(r"([A-Za-z][A-Za-z0-9\-_.]*)=(.*)", re.DOTALL)
_CIDR = re.compile(
    r"(?P<spec>.*?)(?:/(?P<v4>0|[1-9][0-9]?))?(?://(?P<v6>0|[1-9][0-9]{0,2}))?", re.DOTALL
)
_TOPLABEL = re.compile(
    r"(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]+|[A-Za-z0-9]+-[A-Za-z0-9-]*[A-Za-z0-9]"
)
_TRAILING_MACRO = re.compile(r"(%\{[^}]*\}|%%|%_|%-)$")


class Family(StrEnum):
    """Address family of the simulated client: ``a`` and ``mx`` look up A or AAAA."""

    IPV4 = "ipv4"
    IPV6 = "ipv6"


@dataclass(frozen=True)
class Term:
    """One mechanism (``qualifier`` set) or modifier (``qualifier`` None) of a record."""

    text: str
    name: str
    """Lower-cased mechanism or modifier name."""
    qualifier: str | None
    target: str | None = None
    """domain-spec, network or modifier value."""

    @property
    def is_mechanism(self) -> bool:
        return self.qualifier is not None

    @property
    def queries_dns(self) -> bool:
        """Costs one of the ten DNS-querying terms (§4.6.4)."""
        return self.name in DNS_MECHANISMS if self.is_mechanism else self.name == "redirect"

    @property
    def has_macro(self) -> bool:
        return self.target is not None and "%" in self.target


@dataclass(frozen=True)
class SpfRecord:
    """A parsed record. ``errors`` are permerror causes; a record with errors is invalid."""

    text: str
    terms: tuple[Term, ...]
    errors: tuple[str, ...] = ()

    @property
    def mechanisms(self) -> tuple[Term, ...]:
        return tuple(t for t in self.terms if t.is_mechanism)

    @property
    def all(self) -> Term | None:
        return next((t for t in self.terms if t.is_mechanism and t.name == "all"), None)

    @property
    def redirect(self) -> Term | None:
        return next((t for t in self.terms if t.name == "redirect" and not t.is_mechanism), None)

    @property
    def dead_terms(self) -> tuple[Term, ...]:
        """Mechanisms after ``all`` (never evaluated, §5.1) and a redirect beside ``all``."""
        mechanisms = self.mechanisms
        index = next((i for i, t in enumerate(mechanisms) if t.name == "all"), None)
        if index is None:
            return ()
        dead = mechanisms[index + 1 :]
        return dead + ((self.redirect,) if self.redirect is not None else ())

    @property
    def uses_ptr(self) -> bool:
        return any(t.name == "ptr" for t in self.mechanisms)

    @property
    def uses_macro_p(self) -> bool:
        return any(
            m.group(1) and m.group(1).lower() == "p"
            for t in self.terms
            if t.target
            for m in _MACRO.finditer(t.target)
        )


def is_spf(text: bytes) -> bool:
    """A TXT record is SPF when it starts with ``v=spf1`` then a space or its end (§4.5)."""
    return text[:6].lower() == b"v=spf1" and (len(text) == 6 or text[6:7] == b" ")


def split_inside_term(strings: list[bytes]) -> bool:
    """True when a character-string boundary falls inside a term (``"…include:a" "b…"``)."""
    return any(
        left and right and not left.endswith(b" ") and not right.startswith(b" ")
        for left, right in itertools.pairwise(strings)
    )


def parse_spf(record: bytes | str) -> SpfRecord:
    """Parse one SPF record by the ABNF of RFC 7208 §12 (macros are parsed, not expanded)."""
    errors: list[str] = []
    if isinstance(record, bytes):
        try:
            text = record.decode("ascii")
        except UnicodeDecodeError:
            text = record.decode("ascii", "replace")
            errors.append("record is not 7-bit ASCII")
    else:
        text = record
    bad = sorted({c for c in text if not " " <= c <= "~"} - {"\ufffd"})
    if bad:
        shown = ", ".join(repr(c) for c in bad[:10]) + (
            f" and {len(bad) - 10} more" if len(bad) > 10 else ""
        )
        errors.append(f"characters other than printable ASCII and space: {shown}")
    if not is_spf(text.encode("ascii", "replace")):
        errors.append("record does not start with 'v=spf1'")
        return SpfRecord(text=text, terms=(), errors=tuple(errors))
    terms = []
    for token in text[6:].split(" "):
        if token:
            term, problems = _parse_term(token)
            terms.append(term)
            errors.extend(problems)
    errors.extend(
        f"modifier '{name}' appears more than once"
        for name in ("redirect", "exp")
        if sum(1 for t in terms if t.name == name and not t.is_mechanism) > 1
    )
    return SpfRecord(text=text, terms=tuple(terms), errors=tuple(errors))


def _parse_term(token: str) -> tuple[Term, list[str]]:
    modifier = _MODIFIER.fullmatch(token)
    if modifier:
        name, value = modifier.group(1).lower(), modifier.group(2)
        term = Term(text=token, name=name, qualifier=None, target=value)
        if name in ("redirect", "exp"):
            return term, [f"{shorten(token)}: {e}" for e in check_domain_spec(value)]
        errors = check_macro_string(value, letters="slodiphvcrt")
        return term, [f"{shorten(token)}: {e}" for e in errors]
    qualifier = token[0] if token[0] in QUALIFIERS else "+"
    body = token[1:] if token[0] in QUALIFIERS else token
    name = re.split(r"[:/]", body, maxsplit=1)[0].lower()
    rest = body[len(name) :]
    spec = _split_cidr(rest)[0] if name in ("a", "mx") else rest
    target = spec[1:] if spec.startswith(":") and len(spec) > 1 else None
    term = Term(text=token, name=name, qualifier=qualifier, target=target)
    if name not in MECHANISMS:
        hint = " (modifiers are written name=value)" if name in ("redirect", "exp") else ""
        return term, [f"{shorten(token)}: unknown mechanism '{shorten(name)}'{hint}"]
    return term, [f"{shorten(token)}: {e}" for e in _check_mechanism(name, rest)]


def _check_mechanism(name: str, rest: str) -> list[str]:
    if name == "all":
        return ["'all' takes no argument"] if rest else []
    if name in ("ip4", "ip6"):
        return _check_network(name, rest)
    spec, v4, v6 = _split_cidr(rest) if name in ("a", "mx") else (rest, None, None)
    errors = _check_cidr(v4, v6)
    if not spec:
        return ["a domain is required"] if name in ("include", "exists") else errors
    if not spec.startswith(":") or len(spec) == 1:
        return [*errors, "expected ':' and a domain"]
    return errors + check_domain_spec(spec[1:])


def _split_cidr(rest: str) -> tuple[str, str | None, str | None]:
    """``:domain/24//64`` → (``:domain``, ``24``, ``64``)."""
    match = _CIDR.fullmatch(rest)
    assert match is not None  # every part of the pattern is optional
    return match.group("spec"), match.group("v4"), match.group("v6")


def _check_cidr(v4: str | None, v6: str | None) -> list[str]:
    errors = []
    if v4 is not None and int(v4) > 32:
        errors.append(f"IPv4 prefix length /{v4} is above 32")
    if v6 is not None and int(v6) > 128:
        errors.append(f"IPv6 prefix length /{v6} is above 128")
    return errors


def _check_network(name: str, rest: str) -> list[str]:
    if not rest.startswith(":") or len(rest) == 1:
        return ["an address is required"]
    address, _, prefix = rest[1:].partition("/")
    maximum = 32 if name == "ip4" else 128
    errors = []
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        errors.append(f"'{shorten(address)}' is not a valid address")
    else:
        if parsed.version != (4 if name == "ip4" else 6):
            family = "IPv4" if name == "ip4" else "IPv6"
            errors.append(f"'{shorten(address)}' is not an {family} address")
    has_prefix = bool(prefix) or rest.endswith("/")
    if has_prefix and (not re.fullmatch(r"0|[1-9][0-9]{0,2}", prefix) or int(prefix) > maximum):
        errors.append(f"prefix length '/{shorten(prefix)}' is not 0-{maximum}")
    return errors


def check_macro_string(value: str, letters: str = RECORD_LETTERS) -> list[str]:
    """Errors in a macro-string (§7.1): bad ``%`` escapes, letters, transformers."""
    errors, i = [], 0
    while i < len(value):
        if value[i] != "%":
            i += 1
            continue
        match = _MACRO.match(value, i)
        if match is None:
            errors.append(f"invalid macro at '{shorten(value[i : i + 8])}'")
            i += 1
            continue
        letter, digits = match.group(1), match.group(2)
        if letter and letter.lower() not in letters:
            errors.append(f"macro letter '{letter}' is not allowed here")
        if digits and not digits.strip("0"):  # never int(): the digits may be thousands long
            errors.append(f"macro '{shorten(match.group(0))}' has a zero transformer")
        i = match.end()
    return errors


def check_domain_spec(spec: str) -> list[str]:
    """Errors in a domain-spec: macro syntax, and a domain-end that is a top label or macro."""
    errors = check_macro_string(spec)
    if _TRAILING_MACRO.search(spec):
        return errors
    name = spec[:-1] if spec.endswith(".") else spec
    head, dot, top = name.rpartition(".")
    if not dot or not head or not _TOPLABEL.fullmatch(top):
        errors.append(f"'{shorten(spec)}' does not end in a valid top label")
    elif "%" not in spec:
        labels = name.split(".")
        if any(not label or len(label) > 63 for label in labels) or len(name) > 253:
            errors.append(f"'{shorten(spec)}' has an empty or over-long label")
    return errors


# --- the walk -------------------------------------------------------------------------


class Problem(StrEnum):
    """What can go wrong below the top record; values are check-id suffixes."""

    LOOP = "loop"
    INCLUDE_TARGET = "include_target"
    MX_LIMIT = "mx_limit"
    PASS_ALL = "all"
    UNRESOLVED = "unresolved"


@dataclass(frozen=True)
class Issue:
    problem: Problem
    domain: str
    detail: str


@dataclass(frozen=True)
class MxTerm:
    """An ``mx`` term resolved on the walk, and how many MX records its name has."""

    domain: str
    term: str
    records: int

    @property
    def detail(self) -> str:
        return f"{self.domain}: '{self.term}' returns {self.records} MX records"


@dataclass
class Walk:
    """Result of a worst-case walk from one domain for one client family."""

    family: Family
    lookups: int = 0
    voids: int = 0
    issues: list[Issue] = field(default_factory=list)
    mx_terms: list[MxTerm] = field(default_factory=list)
    """Every ``mx`` term resolved (a profile may set its own MX limit)."""
    records: dict[str, SpfRecord] = field(default_factory=dict)
    """Records read, keyed by normalised domain (the top domain included)."""
    errors: list[ProbeError] = field(default_factory=list)
    """Lookups that failed (temperror): the counts are then lower bounds."""
    queries: int = 0
    truncated: bool = False
    """The walk stopped at :data:`MAX_QUERIES`."""


def select(answer: DnsAnswer) -> list[bytes]:
    """The SPF records of a TXT answer (joined strings)."""
    return [t for t in txt(answer) if is_spf(t)]


def walk_spf(domain: str, lookup: Lookup, family: Family) -> Walk:
    """Walk the SPF tree of ``domain`` as a receiver would for a non-matching client."""
    walk = Walk(family=family)
    _walk(normalise(domain), lookup, walk, path=(), via=None)
    return walk


def _walk(domain: str, lookup: Lookup, walk: Walk, path: tuple[str, ...], via: str | None) -> None:
    if domain in path:
        chain = " → ".join((*path, domain))
        walk.issues.append(Issue(Problem.LOOP, path[-1], f"{via} loop: {chain}"))
        return
    answer = _query(lookup, walk, domain, "TXT")
    if answer is None:
        return
    where = f"{via}:{domain}" if via else domain
    records = select(answer)
    if answer.error is not None:
        walk.errors.append(answer.error)
        return
    if via:
        walk.voids += answer.absent
    if not records:
        if via:
            walk.issues.append(Issue(Problem.INCLUDE_TARGET, path[-1], f"{where}: no SPF record"))
        return
    if len(records) > 1:
        if via:
            detail = f"{where}: {len(records)} SPF records"
            walk.issues.append(Issue(Problem.INCLUDE_TARGET, path[-1], detail))
        return
    record = parse_spf(records[0])
    walk.records.setdefault(domain, record)
    if record.errors:
        if via:
            detail = f"{where}: invalid SPF record ({record.errors[0]})"
            walk.issues.append(Issue(Problem.INCLUDE_TARGET, path[-1], detail))
        return
    here = (*path, domain)
    for term in record.mechanisms:
        if term.name == "all":
            if via == "include" and term.qualifier == "+":
                detail = f"{where} ends in +all: the include matches every client"
                walk.issues.append(Issue(Problem.PASS_ALL, domain, detail))
            return
        _term(term, domain, lookup, walk, here)
    if record.redirect is not None:
        walk.lookups += 1
        if record.redirect.has_macro:
            _unresolved(walk, domain, record.redirect)
        else:
            _walk(normalise(record.redirect.target or ""), lookup, walk, here, "redirect")


def _term(term: Term, domain: str, lookup: Lookup, walk: Walk, here: tuple[str, ...]) -> None:
    if not term.queries_dns:
        return
    walk.lookups += 1
    if term.has_macro or term.name == "ptr":
        if term.has_macro:
            _unresolved(walk, domain, term)
        return
    target = normalise(term.target or domain)
    if term.name == "include":
        _walk(target, lookup, walk, here, "include")
        return
    rdtype = {"a": "A" if walk.family is Family.IPV4 else "AAAA", "mx": "MX", "exists": "A"}
    answer = _query(lookup, walk, target, rdtype[term.name])
    if answer is None:
        return
    if answer.error is not None:
        walk.errors.append(answer.error)
        return
    walk.voids += answer.absent
    if term.name == "mx":
        mx = MxTerm(domain, term.text, len(answer.records))
        walk.mx_terms.append(mx)
        if mx.records > MAX_MX:
            walk.issues.append(Issue(Problem.MX_LIMIT, domain, mx.detail))


def _query(lookup: Lookup, walk: Walk, name: str, rdtype: str) -> DnsAnswer | None:
    if walk.queries >= MAX_QUERIES:
        walk.truncated = True
        return None
    walk.queries += 1
    return lookup(name, rdtype)


def _unresolved(walk: Walk, domain: str, term: Term) -> None:
    detail = f"{domain}: '{term.text}' depends on the message (macro); counted, not followed"
    walk.issues.append(Issue(Problem.UNRESOLVED, domain, detail))
