"""Asset lists in: a TOML asset file or a plain list of targets, as entries of a batch.

An asset file (``examples/assets.toml`` documents every key) lists TLS endpoints
(``[[endpoint]]``) and mail domains (``[[domain]]``) with settings per entry, per group
(``[groups.NAME]``) and for the whole file (``[defaults]``); ``exclude`` drops entries by
glob. A plain list holds one ``tlsaudit scan`` target per line, ``#`` starts a comment.

Mistakes in the file's structure (TOML syntax, unknown keys, wrong types, unknown group or
profile, a missing CA file) are :class:`AssetError` s that name file, line and key: ``run``
refuses such a file and ``assets check`` lists them all. A target that does not parse is
kept as an entry with an ``error``: ``run`` records it as an error row, like ``scan`` does.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import sys
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tlsaudit.engine import check_domain
from tlsaudit.errors import InputError, TlsauditError
from tlsaudit.inventory import STARTTLS_PROTOCOLS, Target, list_lines, parse_resolver, parse_target
from tlsaudit.profiles import load_profile

Kind = Literal["tls", "domain"]
ZONE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
ZONE_RULE = "a zone name is 1-63 letters, digits, '_', '.' or '-', starting with a letter or digit"


@dataclass(frozen=True)
class AssetError:
    """One mistake in an asset file, where it is and what is wrong."""

    source: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class AssetFileError(TlsauditError):
    """An asset file that cannot be used; ``errors`` holds every mistake found."""

    def __init__(self, errors: Sequence[AssetError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


@dataclass(frozen=True)
class Settings:
    """What an entry is scanned and judged with; None = the command line's default."""

    profile: str | None = None
    timeout: float | None = None
    ca_file: Path | None = None
    resolver: str | None = None
    trust_anchor: Path | None = None
    sni: str | None = None
    ip: str | None = None
    starttls: str | None = None
    dkim_selectors: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    zone: str | None = None
    """The network zone whose workers scan the entry (distributed runs); None = any."""


@dataclass(frozen=True)
class Entry:
    """One line of work in a batch: a TLS target or a mail domain."""

    key: str
    """Stable identity across runs: ``https://host:port``, ``smtp://host:25 sni=… ip=…``,
    ``domain:example.go.jp``; history, ``diff`` and ``--resume`` key on it."""
    kind: Kind
    target: str
    """As written: a ``tlsaudit scan`` target or a domain name."""
    where: str
    """``file:line`` of the entry."""
    settings: Settings = field(default_factory=Settings)
    error: str | None = None
    """Why the entry cannot be scanned (a malformed target): an error row in a run."""

    @property
    def host(self) -> str:
        """What per-host politeness counts: the address connected to, else the name."""
        if self.settings.ip:
            return self.settings.ip
        if self.kind == "domain":
            return self.target.lower()
        try:
            return parse_target(self.target).host
        except InputError:
            return self.target

    def to_json(self) -> dict[str, Any]:
        """The entry as JSON data (a distributed run's job carries it to a worker)."""
        data: dict[str, Any] = json.loads(json.dumps(asdict(self), default=str))
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Entry:
        """The entry :meth:`to_json` made."""
        raw = dict(data["settings"])
        for key in ("ca_file", "trust_anchor"):
            raw[key] = Path(raw[key]) if raw[key] else None
        raw["dkim_selectors"] = tuple(raw["dkim_selectors"])
        return cls(**{**data, "settings": Settings(**raw)})


@dataclass(frozen=True)
class AssetList:
    source: str
    sha256: str
    entries: list[Entry]
    excluded: int = 0
    errors: list[AssetError] = field(default_factory=list)
    """Structural mistakes: the list must not be run while there are any."""

    @property
    def problems(self) -> list[str]:
        """Every mistake, structural or per entry, as ``file:line: key: message``."""
        lines = [str(e) for e in self.errors]
        lines += [f"{e.where}: {e.error}" for e in self.entries if e.error]
        return lines


# --- the asset file's shape -----------------------------------------------------------


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: str | None = None
    timeout: float | None = Field(default=None, gt=0)
    ca_file: str | None = None
    resolver: str | None = None
    trust_anchor: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    zone: str | None = Field(default=None, pattern=ZONE_PATTERN)


class _GroupSpec(_Spec):
    ports: list[int] | None = None
    starttls: str | None = None
    dkim_selectors: list[str] | None = None
    exclude: list[str] = Field(default_factory=list)


class _EndpointSpec(_Spec):
    target: str
    group: str | None = None
    ports: list[int] | None = None
    sni: str | None = None
    ip: str | None = None
    starttls: str | None = None


class _DomainSpec(_Spec):
    name: str
    group: str | None = None
    dkim_selectors: list[str] | None = None


class _FileSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    defaults: _GroupSpec = Field(default_factory=_GroupSpec)
    groups: dict[str, _GroupSpec] = Field(default_factory=dict)
    endpoint: list[_EndpointSpec] = Field(default_factory=list)
    domain: list[_DomainSpec] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)


# --- loading --------------------------------------------------------------------------


def load_assets(path: str) -> AssetList:
    """An asset file (``*.toml``) or a plain list (any other name; ``-`` = stdin)."""
    if path == "-":
        data = sys.stdin.buffer.read()
        return _plain(path, data)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from exc
    if path.endswith(".toml"):
        return _toml(path, data)
    return _plain(path, data)


def _plain(source: str, data: bytes) -> AssetList:
    entries: list[Entry] = []
    errors: list[AssetError] = []
    seen: dict[str, str] = {}
    for number, raw in list_lines(source, data):
        entry = _tls_entry(raw, f"{source}:{number}", Settings())
        if entry.key in seen:
            errors.append(AssetError(source, number, raw, f"duplicate of line {seen[entry.key]}"))
            continue
        seen[entry.key] = str(number)
        entries.append(entry)
    return AssetList(source, _sha256(data), entries, errors=errors)


def _toml(source: str, data: bytes) -> AssetList:
    digest = _sha256(data)
    try:
        text = data.decode("utf-8")
        document = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise AssetFileError([AssetError(source, None, "", f"not UTF-8 ({exc.reason})")]) from exc
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        line = int(match.group(1)) if match else None
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise AssetFileError([AssetError(source, line, "", f"invalid TOML: {message}")]) from exc
    lines = _KeyLines(text)
    try:
        spec = _FileSpec.model_validate(document)
    except ValidationError as exc:
        errors = [
            AssetError(source, lines.find(e["loc"]), _key_name(e["loc"]), _message(e))
            for e in exc.errors()
        ]
        return AssetList(source, digest, [], errors=errors)
    base = Path(source).parent
    resolver = _Resolver(source, base, lines)
    entries = list(resolver.entries(spec))
    patterns = [*spec.exclude]
    kept = [e for e in entries if not _excluded(e, patterns + resolver.excludes(e))]
    return AssetList(source, digest, kept, len(entries) - len(kept), resolver.errors)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _excluded(entry: Entry, patterns: list[str]) -> bool:
    names = (entry.key, entry.target, entry.host)
    return any(fnmatch.fnmatchcase(n.lower(), p.lower()) for p in patterns for n in names)


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if error["type"] == "missing":
        return "required key is missing"
    if error["type"] == "string_pattern_mismatch" and error["loc"][-1] == "zone":
        return ZONE_RULE
    return str(error["msg"])


def _key_name(loc: Sequence[str | int]) -> str:
    """``('endpoint', 2, 'ports', 0)`` -> ``endpoint #3.ports[0]``."""
    out = ""
    for index, part in enumerate(loc):
        if isinstance(part, int):
            tables = index == 1 and loc[0] in ("endpoint", "domain")
            out += f" #{part + 1}" if tables else f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


class _KeyLines:
    """Line numbers of tables and keys in TOML text (tomllib keeps no positions)."""

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?")
    _NAME = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
    _KEY = re.compile(rf"^\s*({_NAME}(?:\s*\.\s*{_NAME})*)\s*=")

    def __init__(self, text: str) -> None:
        self.lines: dict[tuple[str | int, ...], int] = {}
        counts: dict[str, int] = {}
        table: tuple[str | int, ...] = ()
        for number, line in enumerate(text.splitlines(), start=1):
            if header := self._HEADER.match(line):
                names = tuple(_unquote(p) for p in header.group(2).split("."))
                if header.group(1) == "[[":
                    index = counts.get(".".join(names), 0)
                    counts[".".join(names)] = index + 1
                    table = (*names, index)
                else:
                    table = names
                self.lines.setdefault(table, number)
            elif key := self._KEY.match(line):
                names = tuple(_unquote(p) for p in re.split(r"\s*\.\s*", key.group(1)))
                self.lines.setdefault((*table, *names), number)

    def find(self, loc: Sequence[str | int]) -> int | None:
        path = tuple(loc)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


def _unquote(name: str) -> str:
    name = name.strip()
    return name[1:-1] if name[:1] in "\"'" and name[-1:] == name[:1] else name


class _Resolver:
    """Merges defaults, group and entry settings; collects mistakes with their lines."""

    def __init__(self, source: str, base: Path, lines: _KeyLines) -> None:
        self.source = source
        self.base = base
        self.lines = lines
        self.errors: list[AssetError] = []
        self._groups: dict[str, _GroupSpec] = {}
        self._defaults = _GroupSpec()
        self._profiles: dict[str, str | None] = {}
        self._entry_group: dict[str, str | None] = {}

    def error(self, loc: tuple[str | int, ...], message: str) -> None:
        self.errors.append(AssetError(self.source, self.lines.find(loc), _key_name(loc), message))

    def excludes(self, entry: Entry) -> list[str]:
        group = self._entry_group.get(entry.key)
        own = self._groups[group].exclude if group in self._groups else []
        return [*self._defaults.exclude, *own]

    def entries(self, spec: _FileSpec) -> Iterator[Entry]:
        self._defaults, self._groups = spec.defaults, spec.groups
        self._check_settings(("defaults",), spec.defaults)
        for name, group in spec.groups.items():
            self._check_settings(("groups", name), group)
        seen: dict[str, int | None] = {}
        for index, endpoint in enumerate(spec.endpoint):
            loc: tuple[str | int, ...] = ("endpoint", index)
            for entry in self._endpoint(loc, endpoint):
                if self._unique(entry, loc, seen):
                    yield entry
        for index, domain in enumerate(spec.domain):
            loc = ("domain", index)
            entry = self._domain(loc, domain)
            if self._unique(entry, loc, seen):
                yield entry

    def _unique(
        self, entry: Entry, loc: tuple[str | int, ...], seen: dict[str, int | None]
    ) -> bool:
        if entry.key in seen:
            self.error(loc, f"{entry.key} is listed twice (first at line {seen[entry.key]})")
            return False
        seen[entry.key] = self.lines.find(loc)
        return True

    def _group(self, loc: tuple[str | int, ...], name: str | None) -> _GroupSpec:
        if name is None:
            return _GroupSpec()
        if name not in self._groups:
            known = ", ".join(sorted(self._groups)) or "none defined"
            self.error((*loc, "group"), f"unknown group {name!r} (groups: {known})")
            return _GroupSpec()
        return self._groups[name]

    def _check_settings(self, loc: tuple[str | int, ...], spec: _Spec) -> None:
        if spec.profile is not None:
            self._profile(loc, spec.profile)
        for key in ("ca_file", "trust_anchor"):
            value = getattr(spec, key)
            if value is not None and not self._path(value).is_file():
                self.error((*loc, key), f"{value}: file not found")
        if spec.resolver is not None:
            try:
                parse_resolver(spec.resolver)
            except InputError as exc:
                self.error((*loc, "resolver"), str(exc))
        starttls = getattr(spec, "starttls", None)
        if starttls is not None and starttls not in STARTTLS_PROTOCOLS:
            known = ", ".join(STARTTLS_PROTOCOLS)
            self.error((*loc, "starttls"), f"unknown protocol {starttls!r} (known: {known})")
        for port in getattr(spec, "ports", None) or []:
            if not 0 < port < 65536:
                self.error((*loc, "ports"), f"port {port} is not between 1 and 65535")

    def _profile(self, loc: tuple[str | int, ...], name: str) -> str:
        resolved = name
        candidate = self._path(name)
        if name.endswith(".toml") or "/" in name:
            resolved = str(candidate)
        if resolved not in self._profiles:
            try:
                load_profile(resolved)
                self._profiles[resolved] = None
            except TlsauditError as exc:
                self._profiles[resolved] = str(exc)
        problem = self._profiles[resolved]
        if problem is not None:
            self.error((*loc, "profile"), problem)
        return resolved

    def _path(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base / path

    def _settings(
        self, loc: tuple[str | int, ...], entry: _Spec, group: _GroupSpec, **extra: Any
    ) -> Settings:
        layers: list[_Spec] = [self._defaults, group, entry]

        def pick(key: str) -> Any:
            return next((v for s in reversed(layers) if (v := getattr(s, key, None)) is not None),
                        None)  # fmt: skip

        profile = pick("profile")
        ca_file, trust_anchor = pick("ca_file"), pick("trust_anchor")
        tags: dict[str, str] = {}
        for layer in layers:
            tags.update(layer.tags)
        return Settings(
            profile=self._profile(loc, profile) if profile is not None else None,
            timeout=pick("timeout"),
            zone=pick("zone"),
            ca_file=self._path(ca_file) if ca_file else None,
            resolver=pick("resolver"),
            trust_anchor=self._path(trust_anchor) if trust_anchor else None,
            tags=tags,
            **extra,
        )

    def _endpoint(self, loc: tuple[str | int, ...], spec: _EndpointSpec) -> list[Entry]:
        self._check_settings(loc, spec)
        group = self._group(loc, spec.group)
        starttls = spec.starttls or group.starttls or self._defaults.starttls
        settings = self._settings(loc, spec, group, sni=spec.sni, ip=spec.ip, starttls=starttls)
        where = f"{self.source}:{self.lines.find((*loc, 'target')) or self.lines.find(loc)}"
        ports = spec.ports or group.ports or self._defaults.ports
        targets = [spec.target]
        if spec.ports and _names_port(spec.target):
            self.error((*loc, "ports"), "the target names a port already")
        elif ports and not _names_port(spec.target):
            targets = [_with_port(spec.target, port) for port in ports]
        entries = [_tls_entry(t, where, settings) for t in targets]
        for entry in entries:
            self._entry_group[entry.key] = spec.group
        return entries

    def _domain(self, loc: tuple[str | int, ...], spec: _DomainSpec) -> Entry:
        self._check_settings(loc, spec)
        group = self._group(loc, spec.group)
        selectors = spec.dkim_selectors or group.dkim_selectors or self._defaults.dkim_selectors
        settings = self._settings(loc, spec, group, dkim_selectors=tuple(selectors or ()))
        where = f"{self.source}:{self.lines.find((*loc, 'name')) or self.lines.find(loc)}"
        name = spec.name.strip().rstrip(".").lower()
        entry = Entry(f"domain:{name}", "domain", spec.name, where, settings)
        self._entry_group[entry.key] = spec.group
        problem = check_domain(spec.name)
        if problem is not None:
            return Entry(entry.key, "domain", spec.name, where, settings, problem)
        return entry


def _names_port(target: str) -> bool:
    netloc = target.split("://", 1)[-1].split("/", 1)[0]
    if netloc.count(":") > 1 and not netloc.startswith("["):
        return False  # a bare IPv6 address
    return re.search(r":\d+$", netloc) is not None


def _with_port(target: str, port: int) -> str:
    scheme, sep, rest = target.rpartition("://")
    host = rest.rstrip("/")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{scheme}{sep}{host}:{port}"


def _tls_entry(raw: str, where: str, settings: Settings) -> Entry:
    try:
        target = parse_target(raw, starttls=settings.starttls, sni=settings.sni, ip=settings.ip)
    except InputError as exc:
        return Entry(f"invalid:{raw}", "tls", raw, where, settings, str(exc))
    return Entry(entry_key(target), "tls", raw, where, settings)


def entry_key(target: Target) -> str:
    """``https://host:port`` (or the STARTTLS scheme), plus ``sni=`` and ``ip=`` when set."""
    host = f"[{target.host}]" if ":" in target.host else target.host
    key = f"{target.starttls or 'https'}://{host}:{target.port}"
    if target.sni:
        key += f" sni={target.sni}"
    if target.ip:
        key += f" ip={target.ip}"
    return key
