"""Sending-domain authentication: the SPF, DMARC, DKIM and BIMI checks (pure).

Every check reads a :class:`MailView`; records are re-read from the recorded DNS answers
by the same walkers the scanner ran. What several checks share is computed once per view
(:meth:`MailView.memo`): the SPF record and its walks, the DMARC policy in force, the DKIM
keys found. Every level is the rule's (``level``, a level parameter, or a class).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from tlsaudit.evaluate.base import Judgement, Unknown
from tlsaudit.evaluate.check import Outcome, check
from tlsaudit.evaluate.mailview import MailView, null_mx
from tlsaudit.models.dns import DnsAnswer
from tlsaudit.models.findings import Level
from tlsaudit.profiles import BitsRange, Classes, Limit, LimitLevels, OtherLevel, Rule
from tlsaudit.profiles import Outcome as Case
from tlsaudit.records import bimi, dkim, dmarc, spf
from tlsaudit.records.dnsview import normalise, txt, txt_strings


def _judged(violated: bool, level: Level, observed: str) -> Judgement:
    """``level`` when violated, else a pass; with the observed value."""
    return (level if violated else None, observed)


def _texts(records: list[bytes]) -> str:
    return " | ".join(r.decode("ascii", "replace") for r in records)


# --- SPF ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spf:
    """The domain's TXT answer read for SPF, and its one record when there is one."""

    answer: DnsAnswer
    strings: list[list[bytes]]
    """The character-strings of each v=spf1 record."""
    record: spf.SpfRecord | None
    """The parsed record when there is exactly one (valid or not)."""

    @property
    def records(self) -> list[bytes]:
        return [b"".join(s) for s in self.strings]

    @property
    def valid(self) -> spf.SpfRecord | None:
        """The one record, when receivers can evaluate it."""
        return self.record if self.record is not None and not self.record.errors else None

    @property
    def backs_dmarc(self) -> bool | None:
        """What SPF brings to ``mail.auth_any``: a usable record that is not ``+all``
        (None: the TXT lookup failed)."""
        if self.answer.error is not None:
            return None
        record = self.valid
        return record is not None and not (record.all is not None and record.all.qualifier == "+")


def _spf(view: MailView) -> Spf:
    def read() -> Spf:
        answer = view.lookup(view.domain, "TXT")
        strings = [s for s in txt_strings(answer) if spf.is_spf(b"".join(s))]
        record = spf.parse_spf(b"".join(strings[0])) if len(strings) == 1 else None
        return Spf(answer, strings, record)

    return view.memo("spf", read)


def _spf_answered(view: MailView) -> Spf | None:
    """The SPF reading when the TXT lookup answered (else ``mail.spf.present`` is unknown)."""
    found = _spf(view)
    return found if found.answer.error is None else None


@dataclass(frozen=True)
class Walks:
    """The worst-case walks for an IPv4 and an IPv6 client."""

    v4: spf.Walk
    v6: spf.Walk

    @property
    def both(self) -> tuple[spf.Walk, spf.Walk]:
        return (self.v4, self.v6)

    @property
    def errors(self) -> list[str]:
        """Failed lookups: the counts are then lower bounds."""
        return [e.detail for w in self.both for e in w.errors]

    def issues(self, problem: spf.Problem) -> list[str]:
        return sorted({i.detail for w in self.both for i in w.issues if i.problem is problem})

    def mx_over(self, limit: int) -> list[str]:
        """The ``mx`` terms whose name has more than ``limit`` MX records."""
        return sorted({m.detail for w in self.both for m in w.mx_terms if m.records > limit})


def _walks(view: MailView) -> Walks | None:
    """The walks of a valid record (None: no record receivers can evaluate)."""
    if _spf(view).valid is None:
        return None

    def walk(family: spf.Family) -> spf.Walk:
        return spf.walk_spf(view.domain, view.lookup, family)

    return view.memo("spf.walks", lambda: Walks(walk(spf.Family.IPV4), walk(spf.Family.IPV6)))


def _spf_subject(view: MailView) -> str:
    return f"{view.domain} TXT"


@check("mail.spf.present", reads=MailView)
def spf_present(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    found = _spf(view)
    subject = _spf_subject(view)
    if found.answer.error is not None:
        yield Outcome(subject, "one v=spf1 record", Unknown(found.answer.detail))
        return
    count = len(found.records)
    observed = f"{count} v=spf1 record(s)"
    yield Outcome(subject, "a v=spf1 TXT record", _judged(not count, rule.level, observed))


@check("mail.spf.multiple", reads=MailView)
def spf_multiple(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    found = _spf_answered(view)
    if found is None or not found.records:
        return
    judged = _judged(len(found.records) > 1, rule.level, _texts(found.records))
    yield Outcome(_spf_subject(view), "exactly one v=spf1 record", judged)


@check("mail.spf.syntax", reads=MailView)
def spf_syntax(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    """RFC 7208 syntax at the rule level; a character-string boundary inside a term (a term
    may be glued to the next) at ``other_level``."""
    found = _spf_answered(view)
    if found is None or found.record is None:
        return
    record, subject = found.record, _spf_subject(view)
    yield Outcome(
        subject,
        "valid RFC 7208 syntax",
        _judged(bool(record.errors), rule.level, record.text),
        reason="; ".join(record.errors) or None,
    )
    if spf.split_inside_term(found.strings[0]):
        shown = " ".join(f'"{s.decode("ascii", "replace")}"' for s in found.strings[0])
        yield Outcome(
            subject,
            "character-string boundaries between terms",
            (rule.params(OtherLevel).other_level, shown),
            reason="strings are joined without a space: a term may be glued to the next",
        )


def _walk_problem(
    view: MailView, rule: Rule, expected: str, details: Callable[[Walks], list[str]]
) -> Iterator[Outcome]:
    """A problem the walks show (``details`` of each occurrence); unknown when they show
    none but a lookup failed."""
    walks = _walks(view)
    if walks is None:
        return
    subject = _spf_subject(view)
    problems = details(walks)
    if problems or not walks.errors:
        judged = _judged(bool(problems), rule.level, "; ".join(problems) or "none")
        yield Outcome(subject, expected, judged)
    else:
        yield Outcome(subject, expected, Unknown("; ".join(walks.errors)))


@check("mail.spf.lookups", reads=MailView)
def spf_lookups(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    walks = _walks(view)
    if walks is None:
        return
    limit = rule.params(Limit).limit
    subject, expected = _spf_subject(view), f"at most {limit}"
    lookups = max(w.lookups for w in walks.both)
    if walks.errors and lookups <= limit:
        reason = f"{lookups} counted before: {'; '.join(walks.errors)}"
        yield Outcome(subject, expected, Unknown(reason))
        return
    notes = walks.issues(spf.Problem.UNRESOLVED)
    if any(w.truncated for w in walks.both):
        notes.append(f"walk stopped after {spf.MAX_QUERIES} queries")
    observed = f"{lookups} DNS-querying terms (worst case)"
    judged = _judged(lookups > limit, rule.level, observed)
    yield Outcome(subject, expected, judged, reason="; ".join(notes) or None)


@check("mail.spf.void", reads=MailView)
def spf_void(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    """Void lookups above ``limit``: the rule level, ``other_level`` when only an IPv6
    client exceeds it."""
    walks = _walks(view)
    if walks is None:
        return
    params = rule.params(LimitLevels)
    v4, v6 = walks.v4.voids, walks.v6.voids
    subject, expected = _spf_subject(view), f"at most {params.limit} void lookups"
    if walks.errors and max(v4, v6) <= params.limit:
        yield Outcome(subject, expected, Unknown("; ".join(walks.errors)))
        return
    level = params.other_level if v4 <= params.limit < v6 else rule.level
    observed = f"IPv4 client: {v4}, IPv6 client: {v6}"
    yield Outcome(subject, expected, _judged(max(v4, v6) > params.limit, level, observed))


@check("mail.spf.mx_limit", reads=MailView)
def spf_mx_limit(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    limit = rule.params(Limit).limit
    expected = f"at most {limit} MX records per mx term"
    yield from _walk_problem(view, rule, expected, lambda walks: walks.mx_over(limit))


@check("mail.spf.loop", reads=MailView)
def spf_loop(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    loops = spf.Problem.LOOP
    yield from _walk_problem(view, rule, "no include/redirect loop", lambda w: w.issues(loops))


@check("mail.spf.include_target", reads=MailView)
def spf_include_target(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    targets = spf.Problem.INCLUDE_TARGET
    expected = "one valid record per target"
    yield from _walk_problem(view, rule, expected, lambda w: w.issues(targets))


_ALL_TERMS = {"fail": "-all", "softfail": "~all", "neutral": "?all", "pass": "+all"}
"""The ``mail.spf.all`` class of each terminal ``all``, most restrictive first."""


@check("mail.spf.all", reads=MailView)
def spf_all(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    """The terminal ``all`` (or its absence) and every include ending in ``+all``, judged
    by the rule's class table."""
    record, walks = _spf(view).valid, _walks(view)
    if record is None or walks is None:
        return
    classes = rule.params(Classes).classes
    allowed = [term for key, term in _ALL_TERMS.items() if classes[key].level is None]
    expected = " or ".join(allowed) or "none of " + ", ".join(_ALL_TERMS.values())
    if classes["pass"].level is not None:
        expected += ", and no include that matches every client"
    cases: list[tuple[str, str]] = []
    if record.all is not None:
        cases.append((_class_of(record.all), record.all.text))
    elif record.redirect is None:
        cases.append(("missing", "no all and no redirect (result neutral)"))
    cases += [("pass", detail) for detail in walks.issues(spf.Problem.PASS_ALL)]
    for key, observed in cases:
        case = classes[key]
        yield Outcome(_spf_subject(view), expected, (case.level, observed), case=case)


def _class_of(terminal: spf.Term) -> str:
    qualifier = terminal.qualifier or "+"
    return next(key for key, term in _ALL_TERMS.items() if term[0] == qualifier)


@check("mail.spf.ptr", reads=MailView)
def spf_ptr(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    if (record := _spf(view).valid) is not None:
        judged = _judged(record.uses_ptr, rule.level, record.text)
        yield Outcome(_spf_subject(view), "no ptr mechanism", judged)


@check("mail.spf.macro_p", reads=MailView)
def spf_macro_p(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    if (record := _spf(view).valid) is not None:
        judged = _judged(record.uses_macro_p, rule.level, record.text)
        yield Outcome(_spf_subject(view), "no %{p} macro", judged)


@check("mail.spf.dead_terms", reads=MailView)
def spf_dead_terms(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    if (record := _spf(view).valid) is not None:
        dead = record.dead_terms
        judged = _judged(bool(dead), rule.level, " ".join(t.text for t in dead) or "none")
        yield Outcome(_spf_subject(view), "nothing after all; no redirect beside all", judged)


@check("mail.spf.size", reads=MailView)
def spf_size(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    found = _spf(view)
    if found.valid is None:
        return
    limit = rule.params(Limit).limit
    size, tcp = len(found.valid.text), found.answer.udp_truncated
    observed = f"{size} octets" + ("; the TXT answer needed TCP (TC=1 over UDP)" * tcp)
    judged = _judged(size > limit or tcp, rule.level, observed)
    yield Outcome(_spf_subject(view), f"at most {limit} octets, answered over UDP", judged)


@check("mail.spf.rrtype99", reads=MailView)
def spf_rrtype99(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    """A type 99 record at the rule level; no answer to the question at ``other_level``
    (servers without support for the type may not answer)."""
    if _spf_answered(view) is None:
        return
    answer = view.lookup(view.domain, "SPF")
    subject, expected = f"{view.domain} SPF (type 99)", "no type 99 record"
    if answer.error is not None:
        reason = f"servers without support for the type may not answer: {answer.detail}"
        judged: Judgement = (rule.params(OtherLevel).other_level, "no answer")
        yield Outcome(subject, expected, judged, reason=reason)
        return
    observed = " ".join(answer.records) or "none"
    yield Outcome(subject, expected, _judged(answer.ok, rule.level, observed))


@check("mail.spf.senderid", reads=MailView)
def spf_senderid(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    found = _spf_answered(view)
    if found is None:
        return
    senderid = [t for t in txt(found.answer) if t.lower().startswith(b"spf2.0/")]
    observed = ", ".join(t.decode("ascii", "replace") for t in senderid) or "none"
    judged = _judged(bool(senderid), rule.level, observed)
    yield Outcome(_spf_subject(view), "no spf2.0/ records", judged)


# --- DMARC ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Dmarc:
    """How receivers find the domain's DMARC policy, and the record in force."""

    found: dmarc.Discovery
    old: dmarc.DmarcName | None
    """Where an RFC 7489 receiver takes the policy from."""
    new: dmarc.DmarcName | None
    """Where an RFC 9989 receiver takes the policy from."""
    failed: str | None
    """Why the policy could not be determined (None: it could)."""

    @property
    def at(self) -> dmarc.DmarcName | None:
        """The name whose record is in force (RFC 7489 first), None when none is or the
        policy could not be determined."""
        return None if self.failed else self.old or self.new

    @property
    def record(self) -> dmarc.DmarcRecord | None:
        return self.at.record if self.at is not None else None

    @property
    def valid(self) -> dmarc.DmarcRecord | None:
        """The record in force, when it is valid."""
        record = self.record
        return record if record is not None and not record.errors else None


def _dmarc(view: MailView) -> Dmarc:
    def discover() -> Dmarc:
        found = dmarc.discover(view.domain, view.lookup)
        old, new = found.policy_7489(), found.policy_9989()
        failed = None
        if found.own.answer.error is not None:
            failed = found.own.answer.detail
        elif old is None and new is None and found.errors:
            failed = "; ".join(a.detail for a in found.errors)
        return Dmarc(found, old, new, failed)

    return view.memo("dmarc", discover)


def _dmarc_subject(view: MailView) -> str:
    return f"_dmarc.{view.domain}"


@check("mail.dmarc.present", reads=MailView)
def dmarc_present(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    policy = _dmarc(view)
    expected = "one valid v=DMARC1 record"
    if policy.failed is not None:
        yield Outcome(_dmarc_subject(view), expected, Unknown(policy.failed))
        return
    if policy.at is None or policy.record is None:
        counts = [
            f"_dmarc.{lv.domain}: {len(lv.records)} records"
            for lv in policy.found.levels
            if len(lv.records) > 1
        ]
        observed = "; ".join(counts) + " (all discarded)" if counts else "no record"
        yield Outcome(_dmarc_subject(view), expected, (rule.level, observed))
        return
    where = "the domain" if policy.at.domain == view.domain else "an ancestor domain"
    subject = f"_dmarc.{policy.at.domain}"
    yield Outcome(subject, expected, (None, policy.record.text), reason=f"found at {where}")


@check("mail.dmarc.location", reads=MailView)
def dmarc_location(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    own = _dmarc(view).found.own.answer
    if own.error is not None:
        return
    domain = view.domain
    problems = []
    if any(dmarc.is_dmarc(t) for t in txt(view.lookup(domain, "TXT"))):
        problems.append(f"v=DMARC1 record at {domain} itself has no effect")
    if any(spf.is_spf(t) for t in txt(own)):
        problems.append(f"SPF text answers at _dmarc.{domain} (wildcard TXT?)")
    observed = "; ".join(problems) or "records only at _dmarc"
    judged = _judged(bool(problems), rule.level, observed)
    yield Outcome(_dmarc_subject(view), "DMARC only at _dmarc.<domain>", judged)


@check("mail.dmarc.syntax", reads=MailView)
def dmarc_syntax(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    """Invalid tags at the rule level; tags some readers misread (``warning``) and tags
    without effect (``note``: unknown or removed) by the rule's class table."""
    policy = _dmarc(view)
    record = policy.record
    if policy.at is None or record is None:
        return
    subject = f"_dmarc.{policy.at.domain}"
    judged = _judged(bool(record.errors), rule.level, record.text)
    yield Outcome(subject, "valid DMARC tags", judged, reason="; ".join(record.errors) or None)
    classes = rule.params(Classes).classes
    remarks = (
        ("warning", record.warnings, "tags as RFC 7489 and RFC 9989 readers expect"),
        ("note", record.notes, "only tags both RFCs define"),
    )
    for key, found, expected in remarks:
        if found:
            case = classes[key]
            result = (case.level, record.text)
            yield Outcome(subject, expected, result, case=case, reason="; ".join(found))


def _policy_expected(classes: dict[str, Case]) -> str:
    """E.g. "quarantine or reject, pct=100, no t=y", from the passing classes."""
    passing = [p for p in dmarc.POLICIES if classes[p].level is None]
    text = " or ".join(passing) or "none of " + ", ".join(dmarc.POLICIES)
    if classes["partial"].level is not None:
        text += ", pct=100"
    if classes["none"].level is not None:
        text += ", no t=y"
    return text


@check("mail.dmarc.policy", reads=MailView)
def dmarc_policy(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    """The effective policy (``p``, or ``sp`` from an ancestor; ``t=y`` one step lower) by
    the rule's class table; ``partial`` when pct is below 100."""
    policy = _dmarc(view)
    record = policy.valid
    if policy.at is None or record is None:
        return
    at = policy.at.domain
    effective = dmarc.effective_policy(record, at_domain=at == view.domain)
    classes = rule.params(Classes).classes
    case = classes["partial" if record.pct < 100 and effective != "none" else effective]
    tag = "p" if at == view.domain or not record.sp else "sp"
    notes = []
    if record.testing:
        notes.append("t=y lowers the policy one step")
    if record.pct < 100:
        notes.append(f"pct={record.pct}: applied to part of the mail by RFC 7489 receivers")
    observed = f"{tag}={record.tags.get(tag, '(none)')} → effective {effective}"
    yield Outcome(
        f"_dmarc.{at}",
        _policy_expected(classes),
        (case.level, observed),
        case=case,
        reason="; ".join(notes) or None,
    )


@check("mail.dmarc.subdomain", reads=MailView)
def dmarc_subdomain(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    """``sp``/``np`` not weaker than ``p``: judged where the record is the domain's own."""
    policy = _dmarc(view)
    record = policy.valid
    if policy.at is None or record is None or policy.at.domain != view.domain:
        return
    weak = [
        f"{t}={getattr(record, t)}"
        for t in ("sp", "np")
        if dmarc.weaker(getattr(record, t), record.p)
    ]
    observed = ", ".join(weak) or f"sp={record.sp or '(p)'}, np={record.np or '(sp)'}"
    judged = _judged(bool(weak), rule.level, observed)
    yield Outcome(_dmarc_subject(view), f"not weaker than p={record.p}", judged)


@check("mail.dmarc.rua", reads=MailView)
def dmarc_rua(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    policy = _dmarc(view)
    record = policy.valid
    if policy.at is None or record is None:
        return
    judged = _judged(not record.rua, rule.level, record.tags.get("rua", "no rua="))
    yield Outcome(f"_dmarc.{policy.at.domain}", "rua=mailto:...", judged)


@check("mail.dmarc.rua_auth", reads=MailView)
def dmarc_rua_auth(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    """Every external report destination authorised at ``_report._dmarc``."""
    policy = _dmarc(view)
    record = policy.valid
    if policy.at is None or record is None:
        return
    at = policy.at.domain
    for auth in dmarc.report_authorisations(at, record, view.lookup):
        if auth.answer is None:
            continue
        if auth.authorised is None:
            yield Outcome(auth.query, "v=DMARC1 record", Unknown(auth.answer.detail))
            continue
        observed = " ".join(auth.answer.records) or auth.answer.status.value
        expected = f"v=DMARC1 authorising reports for {at} to {auth.uri.text}"
        yield Outcome(auth.query, expected, _judged(not auth.authorised, rule.level, observed))


@check("mail.dmarc.orgdomain", reads=MailView)
def dmarc_orgdomain(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    """The same record under RFC 7489 (PSL organisational domain) and RFC 9989 (tree walk)
    discovery; nothing to compare at a PSL organisational domain with its own record."""
    policy = _dmarc(view)
    old, new = policy.old, policy.new
    if policy.record is None or (policy.found.psl_org == view.domain and old is not None):
        return
    observed = (
        f"RFC 7489 (PSL organisational domain {policy.found.psl_org}): {_where(old)}; "
        f"RFC 9989 tree walk: {_where(new)}"
    )
    differ = (old.domain if old else None) != (new.domain if new else None)
    reason = "protected under RFC 9989 only" if differ and old is None else None
    expected = "the same record under both discovery rules"
    yield Outcome(view.domain, expected, _judged(differ, rule.level, observed), reason=reason)


def _where(name: dmarc.DmarcName | None) -> str:
    return f"_dmarc.{name.domain}" if name else "none"


@check("mail.dmarc.receiving", reads=MailView)
def dmarc_receiving(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    """Not observable from outside: reported at the rule level beside a valid record."""
    if _dmarc(view).valid is None:
        return
    yield Outcome(
        view.domain,
        "inbound mail verified with SPF and DKIM under DMARC",
        (rule.level, "not observable"),
        reason="receiving-side checks cannot be seen from outside; verify by inspection",
    )


# --- DKIM -----------------------------------------------------------------------------


DKIM_HINT = (
    "absence at guessed selectors proves nothing; pass the domain's selectors with --dkim-selector"
)
_DKIM_EXPECTED = "a DKIM key at the domain's selectors"


@dataclass(frozen=True)
class Dkim:
    """The key records at the selectors probed, and the lookups that failed. DNS cannot
    list selectors: only a selector the user gave (``--dkim-selector``) can prove a key
    missing; a miss at the guessed ones proves nothing."""

    keys: list[tuple[str, dkim.DkimKey]]
    errors: dict[str, str]
    given: list[str]
    guessed: list[str]

    @property
    def live(self) -> list[tuple[str, dkim.DkimKey]]:
        return [(s, k) for s, k in self.keys if not k.revoked]

    @property
    def usable(self) -> list[tuple[str, dkim.DkimKey]]:
        return [(s, k) for s, k in self.live if not k.errors]

    @property
    def revoked(self) -> str | None:
        revoked = [s for s, k in self.keys if k.revoked]
        return f"revoked: {', '.join(revoked)}" if revoked else None

    @property
    def backs_dmarc(self) -> bool | None:
        """What DKIM brings to ``mail.auth_any``: a usable key (True), none at the selectors
        the user gave, which all answered (False), or undetermined (None)."""
        if self.usable:
            return True
        if self.given and not any(s in self.errors for s in self.given):
            return False
        return None

    @property
    def failed(self) -> list[str]:
        """Failed lookups at the selectors judged (the given ones, else the guessed)."""
        return [f"{s}: {self.errors[s]}" for s in (self.given or self.guessed) if s in self.errors]

    @property
    def why(self) -> str:
        """Why no key was found (for a DKIM leg that is not True)."""
        if self.backs_dmarc is False:
            return f"no key at the given selector(s): {', '.join(self.given)}"
        if self.failed:
            why = "DKIM lookup failed: " + "; ".join(self.failed)
        else:
            why = f"no key at the {len(self.guessed)} guessed selector(s)"
        return why if self.given else f"{why}; {DKIM_HINT}"


def _dkim(view: MailView) -> Dkim:
    def probe() -> Dkim:
        keys: list[tuple[str, dkim.DkimKey]] = []
        errors: dict[str, str] = {}
        for selector in view.facts.selectors:
            answer = view.lookup(f"{selector}._domainkey.{view.domain}", "TXT")
            if answer.error is not None:
                errors[selector] = answer.detail
            keys += [(selector, dkim.parse_dkim(t)) for t in txt(answer) if dkim.looks_like_key(t)]
        given = set(view.facts.given_selectors)
        mine = [s for s in view.facts.selectors if s in given]
        guessed = [s for s in view.facts.selectors if s not in given]
        return Dkim(keys, errors, mine, guessed)

    return view.memo("dkim", probe)


@check("mail.dkim.key", reads=MailView)
def dkim_key(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    """A usable key passes; no key at a given selector is a violation at the rule level;
    no key at guessed selectors only, or a failed lookup, is unknown."""
    found = _dkim(view)
    subject = f"_domainkey.{view.domain}"
    if found.usable:
        yield from _dkim_found(subject, found, rule.level)
    elif found.backs_dmarc is False:
        judged = (rule.level, found.why)
        yield Outcome(subject, _DKIM_EXPECTED, judged, reason=_dkim_missing(found))
    else:
        yield Outcome(subject, _DKIM_EXPECTED, Unknown(_dkim_unknown(found)))


def _dkim_found(subject: str, found: Dkim, level: Level) -> Iterator[Outcome]:
    """Usable keys pass; a given selector without any key record is still a violation."""
    listed = ", ".join(
        f"{s} ({k.key_type}{f' {k.bits}' if k.bits else ''})" for s, k in found.usable
    )
    yield Outcome(subject, _DKIM_EXPECTED, (None, listed), reason=found.revoked)
    with_key = {s for s, _ in found.keys}
    missing = [s for s in found.given if s not in with_key and s not in found.errors]
    if missing:
        observed = f"no key at the given selector(s): {', '.join(missing)}"
        yield Outcome(subject, _DKIM_EXPECTED, (level, observed), reason=f"keys found at: {listed}")


def _dkim_missing(found: Dkim) -> str | None:
    """The notes beside no key at the given selectors (which all answered)."""
    notes = [found.revoked]
    if found.guessed:
        notes.append(f"guessed selectors also tried: {', '.join(found.guessed)}")
    notes += [f"{s}: {found.errors[s]}" for s in found.guessed if s in found.errors]
    return "; ".join(n for n in notes if n) or None


def _dkim_unknown(found: Dkim) -> str:
    """Why no usable key proves nothing: a failed lookup, or a miss at guessed selectors."""
    if found.failed:
        notes = ["DKIM lookup failed: " + "; ".join(found.failed)]
    else:
        tried = ", ".join(found.guessed) or "none"
        notes = [f"no key at the {len(found.guessed)} guessed selector(s) tried: {tried}"]
    if found.given and found.guessed:
        notes.append(f"guessed selectors also tried: {', '.join(found.guessed)}")
    if not found.given:
        notes.append(DKIM_HINT)
    if found.revoked:
        notes.append(found.revoked)
    return "; ".join(notes)


@check("mail.dkim.key_size", reads=MailView)
def dkim_key_size(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    """RSA below ``min_bits`` or a broken record at the rule level; RSA above ``max_bits``
    (verifiers need not support it) and Ed25519 keys only at ``other_level``."""
    params = rule.params(BitsRange)
    found = _dkim(view)
    for selector, key in found.live:
        subject = f"{selector}._domainkey.{view.domain}"
        if key.errors:
            judged: Judgement = (rule.level, key.text)
            reason = "; ".join(key.errors)
            yield Outcome(subject, "a usable key record", judged, reason=reason)
        elif key.key_type == "rsa":
            large = key.bits is not None and key.bits > params.max_bits
            bad = key.bits is None or key.bits < params.min_bits or large
            level = params.other_level if large else rule.level
            expected = f"RSA {params.min_bits}-{params.max_bits} bits"
            yield Outcome(subject, expected, _judged(bad, level, f"RSA {key.bits} bits"))
        elif key.key_type == "ed25519":
            expected = f"RSA ≥ {params.min_bits} bits or Ed25519"
            yield Outcome(subject, expected, (None, "Ed25519"))
    usable = found.usable
    if usable and all(k.key_type == "ed25519" for _, k in usable):
        yield Outcome(
            f"_domainkey.{view.domain}",
            "an RSA key beside Ed25519",
            (params.other_level, "Ed25519 keys only"),
            reason="many receivers verify RSA signatures only",
        )


def _usable_keys(view: MailView) -> Iterator[tuple[str, dkim.DkimKey]]:
    """Each live key record without errors, with its subject."""
    for selector, key in _dkim(view).live:
        if not key.errors:
            yield f"{selector}._domainkey.{view.domain}", key


@check("mail.dkim.hash", reads=MailView)
def dkim_hash(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    for subject, key in _usable_keys(view):
        hashes = key.hashes
        observed = f"h={':'.join(hashes)}" if hashes else "h= absent (any)"
        judged = _judged(bool(hashes) and "sha256" not in hashes, rule.level, observed)
        yield Outcome(subject, "sha256 allowed", judged)


@check("mail.dkim.testing", reads=MailView)
def dkim_testing(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    for subject, key in _usable_keys(view):
        observed = f"t={key.tags.get('t', '')}" if "t" in key.tags else "t= absent"
        yield Outcome(subject, "no t=y", _judged(key.testing, rule.level, observed))


# --- the sending domain ---------------------------------------------------------------


@check("mail.auth_any", reads=MailView)
def auth_any(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    """DMARC, backed by SPF or DKIM. DMARC is required either way; an undetermined leg
    (a failed lookup, DKIM missed at guessed selectors) never counts as "no"."""
    expected = "DMARC record, and SPF or DKIM"
    policy, found = _dmarc(view), _dkim(view)
    has_dmarc = policy.valid is not None
    spf_ok, dkim_ok = _spf(view).backs_dmarc, found.backs_dmarc
    legs = [name for name, ok in (("SPF", spf_ok), ("DKIM", dkim_ok)) if ok]
    if legs and has_dmarc:
        yield Outcome(view.domain, expected, (None, f"DMARC + {' + '.join(legs)}"))
        return
    if policy.failed is not None:
        yield Outcome(view.domain, expected, Unknown("the DMARC lookup failed"))
        return
    undetermined = []
    if spf_ok is None:
        undetermined.append("SPF: the TXT lookup failed")
    if dkim_ok is None:
        undetermined.append(f"DKIM: {found.why}")
    if has_dmarc and undetermined:
        yield Outcome(view.domain, expected, Unknown("; ".join(undetermined)))
        return
    observed = f"DMARC: {'yes' if has_dmarc else 'no'}, SPF: {_leg(spf_ok)}, DKIM: {_leg(dkim_ok)}"
    reason = "DMARC is required whatever SPF and DKIM show" if undetermined else None
    yield Outcome(view.domain, expected, (rule.level, observed), reason=reason)


def _leg(ok: bool | None) -> str:
    return "could not determine" if ok is None else ("yes" if ok else "no")


@check("mail.nonsending", reads=MailView)
def nonsending(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    """The non-sending pattern (null MX, ``v=spf1 -all``, ``p=reject``), judged when the
    domain shows one part of it."""
    records = spf.select(view.lookup(view.domain, "TXT"))
    spf_none = len(records) == 1 and records[0].lower().split() == [b"v=spf1", b"-all"]
    null = null_mx(view)
    if not (null or spf_none):
        return
    record = _dmarc(view).record
    missing = []
    if not null:
        missing.append("null MX")
    if not spf_none:
        missing.append('"v=spf1 -all"')
    if record is None or record.p != "reject":
        missing.append("DMARC p=reject")
    observed = "missing: " + ", ".join(missing) if missing else "all three published"
    expected = "null MX, v=spf1 -all and p=reject together"
    yield Outcome(view.domain, expected, _judged(bool(missing), rule.level, observed))


# --- BIMI -----------------------------------------------------------------------------

_BIMI_EXPECTED = "no record, or one valid v=BIMI1 record under DMARC enforcement"


@check("mail.bimi", reads=MailView)
def bimi_record(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    """The BIMI assertion record (never a security control): absent, declined or usable at
    the rule level (informational); ``other_level`` when receivers would ignore it —
    broken, or DMARC not at enforcement (mail-dns.md §4.6: quarantine or reject, pct=100,
    sp not none)."""
    ignored = rule.params(OtherLevel).other_level
    found = bimi.discover(view.domain, view.lookup)
    answer = found.answer
    subject = normalise(answer.name)
    if answer.error is not None:
        yield Outcome(subject, _BIMI_EXPECTED, Unknown(answer.detail))
        return
    discarded = [t for t in txt(found.own) if bimi.looks_like_bimi(t) and not bimi.is_bimi(t)]
    if discarded:
        reason = "receivers discard records that do not start with exactly v=BIMI1"
        own = normalise(found.own.name)
        yield Outcome(own, _BIMI_EXPECTED, (ignored, _texts(discarded)), reason=reason)
    records = found.records
    if not records:
        if not discarded:
            yield Outcome(subject, _BIMI_EXPECTED, (rule.level, "no BIMI record"))
        return
    record = bimi.parse_bimi(records[0])
    problems = [f"{len(records)} v=BIMI1 records: receivers use none"] if len(records) > 1 else []
    problems += record.errors
    if problems:
        reason = "; ".join(problems)
        yield Outcome(subject, _BIMI_EXPECTED, (ignored, _texts(records)), reason=reason)
        return
    policy = _dmarc(view)
    if record.declined:
        note = "declined: l= and a= are empty"
    elif policy.failed is not None:
        reason = "the DMARC policy BIMI depends on could not be determined"
        yield Outcome(subject, _BIMI_EXPECTED, Unknown(reason))
        return
    elif blockers := _bimi_blockers(view.domain, policy):
        reason = "DMARC not at enforcement: " + ", ".join(blockers)
        yield Outcome(subject, _BIMI_EXPECTED, (ignored, record.text), reason=reason)
        return
    else:
        note = "DMARC at enforcement; logo and evidence not fetched"
    if found.organisational is not None:
        note += (
            f"; no record at {bimi.query_name(view.domain)}, the organisational domain's applies"
        )
    yield Outcome(subject, _BIMI_EXPECTED, (rule.level, record.text), reason=note)


def _bimi_blockers(domain: str, policy: Dmarc) -> list[str]:
    """Why receivers would show no logo under the DMARC policy in force (empty: none)."""
    record = policy.record
    if policy.at is None or record is None:
        return ["no DMARC record"]
    if record.errors:
        return ["the DMARC record is invalid"]
    effective = dmarc.effective_policy(record, at_domain=policy.at.domain == domain)
    blockers = [] if effective in ("quarantine", "reject") else [f"effective policy {effective}"]
    if record.pct < 100:
        blockers.append(f"pct={record.pct}")
    if record.sp == "none":
        blockers.append("sp=none")
    return blockers
