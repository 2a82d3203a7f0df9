"""DMARC (RFC 7489, RFC 9989/9990): record parsing, policy discovery, report destinations.

:func:`parse_dmarc` is a pure parser. :func:`discover` finds the policy record both ways
receivers do — RFC 7489 (the domain, then its Public Suffix List organisational domain)
and the RFC 9989 DNS tree walk — through a :data:`~tlsaudit.records.dnsview.Lookup`, so
the two can be compared (the ``lg.jp`` case). :func:`report_authorisations` checks
external report destinations at ``<domain>._report._dmarc.<destination>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from urllib.parse import unquote

from publicsuffixlist import PublicSuffixList

from tlsaudit.models.dns import DnsAnswer
from tlsaudit.records.dnsview import Lookup, normalise, txt
from tlsaudit.records.text import shorten

POLICIES = ("none", "quarantine", "reject")
MAX_WALK = 8
"""RFC 9989 tree walk: at most eight queries."""
MAX_URIS = 2
"""Receivers may ignore report URIs after the first two."""
REMOVED_TAGS = frozenset({"pct", "rf", "ri"})
"""Tags of RFC 7489 that RFC 9989 removed."""

_VERSION = re.compile(rb"v[ \t]*=[ \t]*DMARC1[ \t]*(;|$)")
_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_URI = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):(?P<rest>[^!]+)(?:!(?P<size>[0-9]+[kmgt]?))?"
)


def is_dmarc(text: bytes) -> bool:
    """Starts with ``v=DMARC1`` (version case-sensitive, RFC 9989 ABNF)."""
    return _VERSION.match(text) is not None


def select(answer: DnsAnswer) -> list[bytes]:
    return [t for t in txt(answer) if is_dmarc(t)]


@cache
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


def organisational_domain(domain: str) -> str:
    """RFC 7489 organisational domain: the registrable domain by the Public Suffix List."""
    name = normalise(domain)
    return _psl().privatesuffix(name) or name


@dataclass(frozen=True)
class ReportUri:
    text: str
    scheme: str
    address: str
    """For mailto: the mailbox; otherwise the rest of the URI."""
    host: str | None
    """Domain of a mailto address (where the authorisation record lives)."""


@dataclass(frozen=True)
class DmarcRecord:
    """A parsed record: ``errors`` make it invalid, ``warnings`` weaken it, ``notes`` inform."""

    text: str
    tags: dict[str, str]
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    rua: tuple[ReportUri, ...] = ()
    ruf: tuple[ReportUri, ...] = ()

    @property
    def p(self) -> str | None:
        return self.tags.get("p", "").lower() or None

    @property
    def sp(self) -> str | None:
        return self.tags.get("sp", "").lower() or None

    @property
    def np(self) -> str | None:
        return self.tags.get("np", "").lower() or None

    @property
    def pct(self) -> int:
        percent = parse_percent(self.tags.get("pct", "100"))
        return 100 if percent is None else percent

    @property
    def testing(self) -> bool:
        return self.tags.get("t", "n").lower() == "y"

    @property
    def psd(self) -> str | None:
        return self.tags.get("psd", "").lower() or None


def parse_percent(value: str) -> int | None:
    """``pct``: ASCII digits worth 0-100 (leading zeros allowed), else None. Never calls
    ``int()`` on more than three digits (a 5,000-digit value is out of range, not a crash)."""
    if not re.fullmatch("[0-9]+", value):
        return None
    significant = value.lstrip("0") or "0"
    return int(significant) if len(significant) <= 3 and int(significant) <= 100 else None


def parse_dmarc(record: bytes | str) -> DmarcRecord:
    """Parse one DMARC record and validate every tag it carries."""
    # bytes from DNS: a non-ASCII octet reads as U+FFFD; text is kept as given (so the
    # record written back from the parsed text parses the same)
    text = record.decode("ascii", "replace") if isinstance(record, bytes) else record
    errors: list[str] = []
    warnings: list[str] = []
    notes: list[str] = []
    if not record.isascii():
        errors.append("record is not ASCII")
    tags: dict[str, str] = {}
    order: list[str] = []
    for part in text.split(";"):
        if not part.strip():
            continue
        name, eq, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not eq or not _TAG_NAME.fullmatch(name):
            errors.append(f"'{shorten(part.strip())}' is not a tag=value pair")
            continue
        key = name.lower()
        if key != name and key != "v":
            warnings.append(f"tag name '{shorten(name)}' is not lower-case")
        if key in tags:
            errors.append(f"tag '{shorten(key)}' appears more than once")
            continue
        tags[key] = value
        order.append(key)
    if order[:1] != ["v"] or tags.get("v") != "DMARC1":
        errors.append("the first tag must be v=DMARC1")
    problems = _check_tags(tags, order)
    errors += problems[0]
    warnings += problems[1]
    notes += problems[2]
    rua = _uris(tags.get("rua"), "rua", errors, warnings)
    ruf = _uris(tags.get("ruf"), "ruf", errors, warnings)
    return DmarcRecord(
        text=text,
        tags=tags,
        errors=tuple(errors),
        warnings=tuple(warnings),
        notes=tuple(notes),
        rua=rua,
        ruf=ruf,
    )


_CHOICES = {
    "p": POLICIES,
    "sp": POLICIES,
    "np": POLICIES,
    "adkim": ("r", "s"),
    "aspf": ("r", "s"),
    "t": ("y", "n"),
    "psd": ("y", "n", "u"),
    "rf": ("afrf",),
}
_KNOWN = frozenset({"v", "rua", "ruf", "fo", "pct", "ri", *_CHOICES})


def _check_tags(tags: dict[str, str], order: list[str]) -> tuple[list[str], list[str], list[str]]:
    errors: list[str] = []
    warnings: list[str] = []
    notes: list[str] = []
    for key, choices in _CHOICES.items():
        if key in tags and tags[key].lower() not in choices:
            errors.append(f"{key}={shorten(tags[key])}: expected one of {', '.join(choices)}")
    if "p" not in tags:
        warnings.append("no p= tag: RFC 7489 receivers ignore the record")
    elif order[1:2] != ["p"]:
        warnings.append("p= is not the second tag (RFC 7489 readers expect it there)")
    if "pct" in tags and parse_percent(tags["pct"]) is None:
        errors.append(f"pct={shorten(tags['pct'])}: expected an integer 0-100")
    if "ri" in tags and not re.fullmatch("[0-9]+", tags["ri"]):
        errors.append(f"ri={shorten(tags['ri'])}: expected an integer")
    fo = [f.strip() for f in tags.get("fo", "0").split(":")]
    if any(f not in ("0", "1", "d", "s") for f in fo):
        errors.append(f"fo={shorten(tags['fo'])}: expected a colon list of 0, 1, d, s")
    elif {"0", "1"} <= set(fo):
        warnings.append("fo= lists both 0 and 1 (mutually exclusive in RFC 9989)")
    if "fo" in tags and "ruf" not in tags:
        notes.append("fo= has no effect without ruf=")
    removed = sorted(REMOVED_TAGS & set(tags))
    if removed:
        notes.append(
            f"{', '.join(removed)}: removed in RFC 9989 (still read by RFC 7489 receivers)"
        )
    unknown = [k for k in order if k not in _KNOWN]
    if unknown:
        notes.append(f"unknown tags ignored: {shorten(', '.join(unknown))}")
    return errors, warnings, notes


def _uris(
    value: str | None, tag: str, errors: list[str], warnings: list[str]
) -> tuple[ReportUri, ...]:
    if value is None:
        return ()
    out = []
    for item in (i.strip() for i in value.split(",")):
        match = _URI.fullmatch(item)
        if match is None:
            errors.append(f"{tag}: '{shorten(item)}' is not a URI")
            continue
        scheme = match.group("scheme").lower()
        address = unquote(match.group("rest"))
        host = None
        if scheme == "mailto":
            local, at, domain = address.rpartition("@")
            if not at or not local or "." not in domain:
                errors.append(f"{tag}: '{shorten(item)}' is not a mailto:local@domain address")
                continue
            host = normalise(domain)
        if match.group("size"):
            size = shorten(match.group("size"))
            warnings.append(f"{tag}: '!{size}' size limits are obsolete (RFC 9990)")
        out.append(ReportUri(text=item, scheme=scheme, address=address, host=host))
    if len(out) > MAX_URIS:
        warnings.append(f"{tag}: {len(out)} URIs; receivers may use only the first {MAX_URIS}")
    if any(u.scheme != "mailto" for u in out):
        warnings.append(f"{tag}: only mailto: URIs must be supported by receivers")
    return tuple(out)


# --- discovery ------------------------------------------------------------------------


@dataclass(frozen=True)
class DmarcName:
    """One ``_dmarc`` name queried: its answer and the DMARC records in it."""

    domain: str
    answer: DnsAnswer
    records: tuple[bytes, ...]

    @property
    def record(self) -> DmarcRecord | None:
        """The policy record when there is exactly one (several are all discarded)."""
        return parse_dmarc(self.records[0]) if len(self.records) == 1 else None


@dataclass
class Discovery:
    """How receivers find the policy of ``domain``."""

    domain: str
    levels: list[DmarcName] = field(default_factory=list)
    """The tree walk: the domain first, then its ancestors (at most :data:`MAX_WALK`)."""
    psl_org: str = ""
    psl_level: DmarcName | None = None
    """The organisational domain's level under RFC 7489 (None when it is the domain)."""

    @property
    def own(self) -> DmarcName:
        return self.levels[0]

    def policy_7489(self) -> DmarcName | None:
        """Where an RFC 7489 receiver takes the policy from (None: no usable record)."""
        for level in (self.own, self.psl_level):
            if level is not None and level.records:
                return level if level.record else None
        return None

    def policy_9989(self) -> DmarcName | None:
        """Where an RFC 9989 receiver takes the policy from: the first single record upward."""
        return next((lv for lv in self.levels if lv.record is not None), None)

    def org_9989(self) -> str | None:
        """RFC 9989 organisational domain from the records seen on the walk."""
        found = [(lv.domain, lv.record) for lv in self.levels if lv.record is not None]
        for index, (domain, record) in enumerate(found):
            if record.psd == "n":
                return domain
            if record.psd == "y":
                below = [lv.domain for lv in self.levels if lv.domain.endswith("." + domain)]
                return below[-1] if below else None
            if index == len(found) - 1:
                return domain
        return None

    @property
    def errors(self) -> list[DnsAnswer]:
        levels = [*self.levels, *([self.psl_level] if self.psl_level else [])]
        return [lv.answer for lv in levels if lv.answer.error is not None]


def walk_names(domain: str) -> list[str]:
    """The names an RFC 9989 tree walk queries: the domain, then upward, at most eight."""
    labels = normalise(domain).split(".")
    starts = [0, *range(max(1, len(labels) - (MAX_WALK - 1)), len(labels))]
    return [".".join(labels[i:]) for i in starts]


def _level(domain: str, lookup: Lookup) -> DmarcName:
    answer = lookup(f"_dmarc.{domain}", "TXT")
    return DmarcName(domain=domain, answer=answer, records=tuple(select(answer)))


def discover(domain: str, lookup: Lookup) -> Discovery:
    """Query ``_dmarc`` along the tree walk and at the PSL organisational domain."""
    name = normalise(domain)
    found = Discovery(domain=name, psl_org=organisational_domain(name))
    found.levels = [_level(n, lookup) for n in walk_names(name)]
    if found.psl_org != name:
        found.psl_level = next(
            (lv for lv in found.levels if lv.domain == found.psl_org), None
        ) or _level(found.psl_org, lookup)
    return found


def effective_policy(record: DmarcRecord, at_domain: bool) -> str:
    """The policy applied to mail from the domain: ``p`` at the domain itself, else ``sp``
    (then ``p``), lowered one step by ``t=y`` (RFC 9989)."""
    policy = (record.p if at_domain else record.sp or record.p) or "none"
    if policy not in POLICIES:  # an invalid value (an error of the record): nothing applies
        return "none"
    if record.testing and policy != "none":
        policy = POLICIES[POLICIES.index(policy) - 1]
    return policy


def weaker(a: str | None, b: str | None) -> bool:
    """Policy ``a`` is weaker than ``b``."""
    return a in POLICIES and b in POLICIES and POLICIES.index(a) < POLICIES.index(b)


def _a_label(domain: str) -> str:
    """The domain in ASCII for a query name (as given when it has no valid A-label form)."""
    try:
        return normalise(domain).encode("idna").decode("ascii")
    except UnicodeError:
        return normalise(domain)


@dataclass(frozen=True)
class Authorisation:
    uri: ReportUri
    query: str
    answer: DnsAnswer | None
    """None when the destination is inside the organisation (no record needed)."""

    @property
    def authorised(self) -> bool | None:
        """True/False, or None when it could not be determined."""
        if self.answer is None:
            return True
        if self.answer.error is not None:
            return None
        return bool(select(self.answer))


def report_authorisations(
    policy_domain: str, record: DmarcRecord, lookup: Lookup
) -> list[Authorisation]:
    """External ``rua``/``ruf`` destinations and their ``_report._dmarc`` authorisation."""
    out = []
    org = organisational_domain(policy_domain)
    domain = _a_label(policy_domain)
    for uri in (*record.rua, *record.ruf):
        if uri.host is None:
            continue
        query = f"{domain}._report._dmarc.{uri.host}"
        internal = organisational_domain(uri.host) == org
        answer = None if internal else lookup(query, "TXT")
        out.append(Authorisation(uri=uri, query=query, answer=answer))
    return out
