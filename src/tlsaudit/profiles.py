"""Policy profiles kept as data (profiles/*.toml): loading, inheritance and validation.

The built-in folder (``profiles/`` of the repository, ``tlsaudit/profile_data`` when
installed) is laid out by kind: selectable profiles at its top; ``rules/`` the abstract
rule sets they build on (``cryptrec-common``, ``mail-auth``, ``mail-transport``, ``dns``);
``checks/`` the check catalogue; ``lists/`` reference lists (the e-Government list
editions, the DNS root trust anchors).

A profile is a TOML file with an ``id``, a ``name``, a ``version`` and ``[rules."<check
id>"]`` tables. Text shared by every profile (title, citations, remediation, which
parameters a rule takes) lives in the check catalogue; a profile sets the level, the
parameters and any extra citations. ``extends = "<id>"`` (or a path) inherits another
profile or rule set and overrides single rules; ``include = ["<id>", ...]`` merges rule
sets (e.g. the mail and DNS rules) under the profile's own rules.
Every problem is reported as one line naming the file, the key and what is wrong.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import Field, ValidationError

from tlsaudit.errors import ProfileError
from tlsaudit.models.facts import Model
from tlsaudit.models.findings import Citation, Level, Text
from tlsaudit.models.report import ProfileRef

DEFAULT_PROFILE = "cryptrec-high"
EGOV_LIST = "egov-list-2022r2"
RULE_SETS = "rules"
CATALOGUE = "checks"
LISTS = "lists"


class Check(Model):
    """Catalogue entry of a check id: the text every profile shares, and the parameters a
    profile rule for it must set."""

    title: Text
    citations: list[Citation] = Field(default_factory=list)
    remediation: str | None = None
    params: list[str] = Field(default_factory=list)
    class_keys: list[str] | None = Field(
        default=None, description="The keys a rule's `classes` table must cover exactly."
    )


class Outcome(Model):
    """How one case of a rule is judged. ``level = None`` (or absent) means the case passes."""

    level: Level | None = None
    reading: Literal["strict"] | None = None
    note: str | None = Field(default=None, description="Why the strict reading was taken.")


class Threshold(Model):
    """Values strictly below ``below`` violate the rule at ``level``."""

    below: int
    level: Level


class Rule(Model):
    level: Level
    reading: Literal["strict"] | None = None
    note: str | None = None
    citations: list[Citation] = Field(
        default_factory=list, description="Profile-specific citations, added to the check's own."
    )
    # Parameters; the check catalogue says which ones a rule for a check must set.
    classes: dict[str, Outcome] | None = None
    thresholds: list[Threshold] | None = None
    allowed: list[str] | None = None
    min_bits: int | None = None
    other_level: Level | None = None
    absent_level: Level | None = None
    max_bits: int | None = None
    horizon: date | None = None
    warn_days: int | None = None
    limit: int | None = None
    ciphers: list[str] | None = None
    key_exchanges: list[str] | None = None
    authentications: list[str] | None = None

    def params(self, shape: type[P]) -> P:
        """The rule's parameters as a typed ``shape`` (see :class:`Params`)."""
        return shape.model_validate({name: getattr(self, name) for name in shape.model_fields})


PARAMETERS = tuple(
    name for name in Rule.model_fields if name not in ("level", "reading", "note", "citations")
)


class Params(Model):
    """A typed view of the parameters a check reads, every one required: the loader checks
    that a rule sets each parameter its catalogue entry lists, and a test that every shape a
    check reads is covered by that list, so evaluators hold no defaults of their own."""


P = TypeVar("P", bound=Params)


class Limit(Params):
    limit: int


class LimitLevels(Params):
    limit: int
    other_level: Level


class OtherLevel(Params):
    other_level: Level


class AbsentLevel(Params):
    """The level of a record, answer or probe result that is absent (e.g. no MX record)."""

    absent_level: Level


class OtherAbsentLevels(Params):
    other_level: Level
    absent_level: Level


class Allowed(Params):
    allowed: list[str]


class Thresholds(Params):
    thresholds: list[Threshold]


class Classes(Params):
    classes: dict[str, Outcome]


class CipherRule(Params):
    """The suite classes' outcomes, and the components a suite may use at all."""

    classes: dict[str, Outcome]
    ciphers: list[str]
    key_exchanges: list[str]
    authentications: list[str]


class SizeBand(Params):
    """The 112-bit (LS-0003) size band and the last day it may be used."""

    min_bits: int
    max_bits: int
    horizon: date


class GroupRule(Params):
    allowed: list[str]
    min_bits: int
    other_level: Level


class KeySizeRule(Params):
    thresholds: list[Threshold]
    allowed: list[str]
    min_bits: int
    other_level: Level


class ExpiryRule(Params):
    warn_days: int
    other_level: Level


class AlgorithmRule(Params):
    """DNSSEC algorithms and digests: allowed pass, classes decide, others get other_level."""

    allowed: list[str]
    classes: dict[str, Outcome]
    other_level: Level
    thresholds: list[Threshold]


class SignatureRule(Params):
    warn_days: int
    limit: int
    other_level: Level


class BitsRange(Params):
    min_bits: int
    max_bits: int
    other_level: Level


class EgovEntry(Model):
    name: str
    category: str = Field(description="List category, e.g. 128ビットブロック暗号.")
    list: Literal["recommended", "candidate", "monitored", "unlisted"]
    note: str | None = None


EGOV_LIST_NAMES = {
    "recommended": "電子政府推奨暗号リスト",
    "candidate": "推奨候補暗号リスト",
    "monitored": "運用監視暗号リスト",
    "unlisted": "CRYPTREC暗号リスト外",
}


class EgovList(Model):
    """LS-0001: one entry per primitive; a later edition is a new file."""

    id: str
    edition: str
    date: date
    citation: Citation
    entries: list[EgovEntry]

    def classify(self, primitive: str) -> EgovEntry:
        for entry in self.entries:
            if entry.name == primitive:
                return entry
        return EgovEntry(name=primitive, category="", list="unlisted")

    def describe(self, primitive: str) -> str:
        entry = self.classify(primitive)
        where = EGOV_LIST_NAMES[entry.list]
        return f"{primitive}: {where}" + (f" / {entry.category}" if entry.category else "")


class Profile(Model):
    id: str
    name: str
    version: str
    description: Text | None = None
    abstract: bool = Field(default=False, description="A base profile that is not listed.")
    source: str = Field(description="File the profile was loaded from.")
    editions: dict[str, str] = Field(
        default_factory=dict,
        description="Document id -> edition encoded (GL-3001 = 3.1.1); LS-0001: the e-Gov list's.",
    )
    egov: EgovList
    checks: dict[str, Check]
    rules: dict[str, Rule]

    @property
    def edition_names(self) -> list[str]:
        """E.g. ["GL-3001 3.1.1", "LS-0001-2022R2", "LS-0003-2022R1"]."""
        named = {doc: e if e.startswith(doc) else f"{doc} {e}" for doc, e in self.editions.items()}
        named["LS-0001"] = self.egov.id
        return [named[doc] for doc in sorted(named)]

    @property
    def ref(self) -> ProfileRef:
        return ProfileRef(
            id=self.id, name=self.name, version=self.version, editions=self.edition_names
        )

    def rule(self, check_id: str) -> Rule | None:
        return self.rules.get(check_id)


def builtin_dir() -> Path:
    """The built-in profile folder: ``tlsaudit/profile_data/`` when installed, else
    ``profiles/`` of a source checkout (editable installs)."""
    installed = Path(str(resources.files("tlsaudit"))) / "profile_data"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parents[2] / "profiles"


def builtin_ids() -> list[str]:
    """Ids of the selectable built-in profiles (the top of the built-in folder)."""
    return [path.stem for path in sorted(builtin_dir().glob("*.toml"))]


def list_path(name: str) -> Path:
    """A reference list of the built-in folder (``lists/<name>``)."""
    return builtin_dir() / LISTS / name


def load_profile(name_or_path: str | Path = DEFAULT_PROFILE) -> Profile:
    """Load a built-in profile by id, or a user profile from a path."""
    path = _locate(str(name_or_path))
    merged = _merged(path, seen=())
    return _validate(path, merged)


def _locate(name: str) -> Path:
    candidate = Path(name)
    if candidate.suffix == ".toml" or "/" in name or candidate.exists():
        if not candidate.is_file():
            raise ProfileError(f"{name}: profile file not found")
        return candidate
    for folder in (builtin_dir(), builtin_dir() / RULE_SETS):
        path = folder / f"{name}.toml"
        if path.is_file():
            return path
    known = ", ".join(builtin_ids())
    raise ProfileError(f"{name}: unknown profile (built-in profiles: {known})")


@cache
def _read_cached(path: Path, mtime: float) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: invalid TOML: {exc}") from exc
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read: {exc.strerror}") from exc


def _read(path: Path) -> dict[str, Any]:
    try:
        mtime = path.stat().st_mtime
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read: {exc.strerror}") from exc
    return _read_cached(path.resolve(), mtime)


def _merged(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    """The profile's own table deep-merged over the profile it extends."""
    if path.resolve() in seen:
        chain = " -> ".join(str(p) for p in (*seen, path))
        raise ProfileError(f"{path}: extends: inheritance loop ({chain})")
    data = _read(path)
    parent = data.get("extends")
    includes = data.get("include", [])
    if parent is not None and not isinstance(parent, str):
        raise ProfileError(f"{path}: extends: must be a profile id or a path")
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise ProfileError(f"{path}: include: must be a list of rule-set ids")
    base: dict[str, Any] = {}
    for ancestor in ([parent] if parent else []) + includes:
        inherited = _merged(_locate_parent(path, ancestor), (*seen, path.resolve()))
        base = _deep_merge(base, inherited)
    own = {k: v for k, v in data.items() if k not in ("extends", "include", "abstract")}
    return _deep_merge(base, own)


def _locate_parent(child: Path, parent: str) -> Path:
    relative = child.parent / parent
    if parent.endswith(".toml") and relative.is_file():
        return relative
    try:
        return _locate(parent)
    except ProfileError as exc:
        raise ProfileError(f"{child}: extends: {exc}") from exc


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    if "level" in over:  # a new level is a new judgement: an inherited reading does not apply
        out.pop("reading", None)
        out.pop("note", None)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _validate(path: Path, data: dict[str, Any]) -> Profile:
    checks = load_checks()
    egov = load_egov_list(str(data.get("egov_list", EGOV_LIST)), path)
    rules = data.get("rules")
    if not isinstance(rules, dict) or not rules:
        raise ProfileError(f"{path}: rules: a profile needs a [rules] table")
    for check_id, rule in rules.items():
        _check_rule(path, check_id, rule, checks)
    payload = {k: v for k, v in data.items() if k not in ("egov_list", "extends")}
    payload |= {"source": str(path), "egov": egov, "checks": checks}
    try:
        return Profile.model_validate(payload)
    except ValidationError as exc:
        raise ProfileError(f"{path}: {_first_error(exc)}") from exc


def _check_rule(path: Path, check_id: str, rule: Any, checks: dict[str, Check]) -> None:
    where = f'{path}: rules."{check_id}"'
    check = checks.get(check_id)
    if check is None:
        raise ProfileError(f"{where}: unknown check id")
    if not isinstance(rule, dict):
        raise ProfileError(f"{where}: must be a table")
    try:
        parsed = Rule.model_validate(rule)
    except ValidationError as exc:
        raise ProfileError(f"{where}.{_first_error(exc)}") from exc
    if parsed.classes is not None and check.class_keys is not None:
        unknown = set(parsed.classes) - set(check.class_keys)
        missing = set(check.class_keys) - set(parsed.classes)
        if unknown:
            raise ProfileError(f"{where}.classes: unknown class {sorted(unknown)[0]!r}")
        if missing:
            raise ProfileError(f"{where}.classes: no outcome for class {sorted(missing)[0]!r}")
    for name in PARAMETERS:
        wanted = name in check.params
        present = getattr(parsed, name) is not None
        if wanted and not present:
            raise ProfileError(f"{where}.{name}: required for this check")
        if present and not wanted:
            raise ProfileError(f"{where}.{name}: not a parameter of this check")
    if parsed.reading == "strict" and not parsed.note:
        raise ProfileError(f'{where}.note: a reading = "strict" rule needs a note')


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(part) for part in err["loc"])
    return f"{loc}: {err['msg']}"


def load_checks() -> dict[str, Check]:
    """The check catalogue: every file of the built-in ``checks/`` folder."""
    out: dict[str, Check] = {}
    for path in sorted((builtin_dir() / CATALOGUE).glob("*.toml")):
        for check_id, entry in _read(path).get("checks", {}).items():
            if check_id in out:
                raise ProfileError(f'{path}: checks."{check_id}": defined twice')
            try:
                out[check_id] = Check.model_validate(entry)
            except ValidationError as exc:
                raise ProfileError(f'{path}: checks."{check_id}".{_first_error(exc)}') from exc
    return out


def load_egov_list(name: str = EGOV_LIST, referrer: Path | None = None) -> EgovList:
    """An edition of the e-Government list; ``extends = "<edition>"`` adds its entries to
    those of an earlier edition (a later edition is a new file, not an edit)."""
    path = list_path(f"{name}.toml")
    if not path.is_file():
        where = f"{referrer}: egov_list" if referrer else name
        raise ProfileError(f"{where}: unknown e-Government list {name!r}")
    data = dict(_read(path))
    base = data.pop("extends", None)
    if base is not None:
        if not isinstance(base, str) or base == name:
            raise ProfileError(f"{path}: extends: must name another e-Government list")
        earlier = load_egov_list(base, path)
        data["entries"] = [e.model_dump() for e in earlier.entries] + data.get("entries", [])
    try:
        return EgovList.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(f"{path}: {_first_error(exc)}") from exc
