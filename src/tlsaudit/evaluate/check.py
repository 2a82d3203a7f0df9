"""One way to write a check, and the one registry of every check id.

A check is a function registered with :func:`check` under its check id, declaring the
facts it reads (``TlsFacts``, ``Addresses``, ``DnsFacts``, ``MailView``). Given those
facts, the profile's rule for its id and the time, it yields :class:`Outcome` values: a
subject, the expected value, and a judgement whose level is always the rule's (``level``
or a level parameter such as ``other_level``), or the reason the fact is unknown or the
check does not apply. :func:`evaluate` runs every registered check of one kind of facts
whose id the profile has a rule for, in registration order, and turns outcomes into
findings (text, citations and remediation from the catalogue). Checks are pure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from tlsaudit.evaluate.base import Judgement, NotApplicable, Unknown, judge
from tlsaudit.models.facts import ProbeError, TlsFacts
from tlsaudit.models.findings import Finding
from tlsaudit.profiles import EgovList, Profile, Rule
from tlsaudit.profiles import Outcome as Case

F = TypeVar("F")


@dataclass(frozen=True)
class Outcome:
    """One judged subject of a check."""

    subject: str
    expected: str
    result: Judgement | ProbeError | Unknown | NotApplicable
    case: Case | None = None
    """The case of a class or threshold table that decided (its strict-reading note)."""
    reason: str | None = None


@dataclass(frozen=True)
class TlsView:
    """What a TLS or certificate check reads: one endpoint's facts, and the e-Government
    list edition of the profile that names their primitives."""

    facts: TlsFacts
    egov: EgovList


@dataclass(frozen=True)
class Addresses:
    """The reachable addresses of one name, compared by ``ipv6.consistency``."""

    endpoints: Sequence[TlsFacts]


Judge = Callable[[F, Rule, datetime], Iterable[Outcome]]


@dataclass(frozen=True)
class Check(Generic[F]):
    check_id: str
    reads: type[F]
    judge: Judge[F]


REGISTRY: dict[str, Check[Any]] = {}
"""Every registered check by id, in registration (report) order."""


def check(check_id: str, reads: type[F]) -> Callable[[Judge[F]], Judge[F]]:
    """Register a check function under ``check_id``; each id once only."""

    def register(judge_fn: Judge[F]) -> Judge[F]:
        if check_id in REGISTRY:
            raise RuntimeError(f"check {check_id} is registered twice")
        REGISTRY[check_id] = Check(check_id, reads, judge_fn)
        return judge_fn

    return register


def checks_reading(reads: type[F]) -> Iterator[Check[F]]:
    return (c for c in REGISTRY.values() if c.reads is reads)


def evaluate(facts: F, reads: type[F], profile: Profile, now: datetime) -> list[Finding]:
    """The findings of every registered check of ``reads`` the profile has a rule for."""
    return [
        judge(
            profile,
            registered.check_id,
            outcome.result,
            subject=outcome.subject,
            expected=outcome.expected,
            outcome=outcome.case,
            reason=outcome.reason,
        )
        for registered in checks_reading(reads)
        if (rule := profile.rule(registered.check_id)) is not None
        for outcome in registered.judge(facts, rule, now)
    ]
