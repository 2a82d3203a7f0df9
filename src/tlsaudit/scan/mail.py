"""Gather the facts of a mail domain: records, SMTP dialogues, TLS scans, MTA-STS policy.

DNS questions are asked by running the evaluator's own record walkers (SPF, DMARC,
report authorisations) over a recording :data:`~tlsaudit.records.dnsview.Lookup`, so
the facts hold exactly the answers the evaluation reads. MX hosts are probed in
parallel, each host's addresses one connection at a time, and results are cached per
host for the run (:class:`MxCache`).
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import NamedTuple

import dns.name

from tlsaudit.models.dns import DnsAnswer, DnsStatus
from tlsaudit.models.facts import Endpoint, ErrorReason, Observed
from tlsaudit.models.mail import (
    HttpFetch,
    InjectionProbe,
    MailFacts,
    MxAddress,
    MxHost,
    SmtpFacts,
    Submission,
)
from tlsaudit.records import bimi, dkim, dmarc, mtasts, spf
from tlsaudit.records.dnsview import normalise, txt
from tlsaudit.scan import smtp
from tlsaudit.scan.dnsquery import lookup
from tlsaudit.scan.options import ScanOptions
from tlsaudit.scan.pool import DaemonPool
from tlsaudit.scan.tls import scan_endpoints

MAX_POLICY = 65536
"""Largest MTA-STS policy body read (RFC 8461 lets senders cap it)."""
IMPLICIT_TLS_PORTS = frozenset({465})
MAX_PARALLEL_HOSTS = 8
"""MX hosts probed at the same time (each host sees one connection at a time)."""
MAX_MX_HOSTS = 10
"""MX hosts checked, the most preferred first: a domain that lists hundreds cannot hold a
scan. The others' address questions are not asked, and their answers say why."""
MAX_HOST_ADDRESSES = 10
"""Addresses of one MX or submission host probed; the others are listed as not probed."""


@dataclass(frozen=True)
class MailOptions:
    """What ``tlsaudit domain`` probes, on top of the shared scan options."""

    scan: ScanOptions = field(default_factory=ScanOptions)
    dkim_selectors: tuple[str, ...] = ()
    """Selectors to look up first (the organisation knows its own)."""
    common_selectors: bool = True
    """Also probe :data:`~tlsaudit.records.dkim.COMMON_SELECTORS`."""
    relay_test: bool = False
    """Opt-in open-relay probe on every MX address (stops at RCPT TO; never DATA)."""
    relay_recipient: str = "relay-test@example.com"
    """External recipient of the relay probe: use an address whose domain has working MX."""
    relay_sender: str | None = None
    """External sender of the relay probe; default ``tlsaudit-probe@<helo>``."""
    starttls_injection_test: bool = False
    """Opt-in STARTTLS command-injection probe (CVE-2011-0411) on every MX address that
    offers STARTTLS: ``STARTTLS`` and ``RSET`` pipelined in one write; never DATA."""
    mx_port: int = 25
    submission_ports: tuple[int, ...] = (587, 465)
    """Ports where SMTP AUTH is checked (465: implicit TLS)."""
    submission_hosts: tuple[str, ...] = ()
    """Hosts whose submission ports are checked; default: the MX hosts."""
    helo: str | None = None
    """Name sent in EHLO; default: this machine's FQDN."""
    greeting_timeout: float = 30.0
    """Seconds to wait for a (deliberately slow) SMTP greeting."""
    tls_scan: bool = True
    """Judge each MX's TLS with the TLS scanner (as ``tlsaudit scan`` does)."""

    @property
    def ehlo_name(self) -> str:
        return self.helo or socket.getfqdn()

    def selectors(self) -> list[str]:
        """Every selector to probe: the given ones first, then the common ones."""
        common = dkim.COMMON_SELECTORS if self.common_selectors else ()
        return list(dict.fromkeys([*self.dkim_selectors, *common]))

    def given_selectors(self) -> list[str]:
        """The selectors the user gave (a key missing there is a finding, not a guess)."""
        return list(dict.fromkeys(self.dkim_selectors))


class MxCache:
    """SMTP and TLS results per MX host, address and port for one run (probed once).

    Entries also key on what was probed (relay test, injection test, TLS scan), so a run
    that asks for more never reuses a result that lacks it.
    """

    def __init__(self) -> None:
        self._items: dict[tuple[str, str, int, bool, bool, bool], MxAddress] = {}
        self._lock = threading.Lock()

    def get(self, host: str, ip: str, options: MailOptions) -> MxAddress | None:
        with self._lock:
            return self._items.get(self._key(host, ip, options))

    def put(self, host: str, address: MxAddress, options: MailOptions) -> None:
        with self._lock:
            self._items[self._key(host, address.ip, options)] = address

    @staticmethod
    def _key(host: str, ip: str, options: MailOptions) -> tuple[str, str, int, bool, bool, bool]:
        probes = (options.relay_test, options.starttls_injection_test, options.tls_scan)
        return (normalise(host), ip, options.mx_port, *probes)


class _Recorder:
    """A live lookup that asks each question once and keeps every answer."""

    def __init__(self, options: ScanOptions) -> None:
        self.options = options
        self.answers: dict[tuple[str, str], DnsAnswer] = {}

    def __call__(self, name: str, rdtype: str) -> DnsAnswer:
        key = (normalise(name), rdtype.upper())
        if key not in self.answers:
            dnssec = rdtype.upper() == "TLSA"
            self.answers[key] = lookup(name, rdtype, self.options, want_dnssec=dnssec)
        return self.answers[key]

    def skip(self, name: str, rdtype: str, reason: str) -> None:
        """Record a question deliberately not asked, with the reason."""
        key = (normalise(name), rdtype.upper())
        self.answers[key] = DnsAnswer(
            name=name, rdtype=rdtype, status=DnsStatus.INVALID, reason=reason
        )


def to_ascii(domain: str) -> str:
    """A-label form, lower-case, without the trailing dot (IDNA 2008 when ``idna`` is there)."""
    return normalise(dns.name.from_unicode(domain.strip()).to_text())


def scan_mail(domain: str, options: MailOptions, *, cache: MxCache | None = None) -> MailFacts:
    """Every mail fact of ``domain``: records first, then the MX hosts and MTA-STS policy."""
    name = to_ascii(domain)
    started = datetime.now(UTC)
    dns_ = _Recorder(options.scan)
    _records(name, dns_, options)
    hosts = _mx_hosts(name, dns_)
    policy = _policy(name, dns_, options.scan)
    cache = cache or MxCache()
    mx = _probe_mx(name, hosts, options, cache)
    submission_hosts = list(options.submission_hosts) or [h.name for h in mx]
    submission = _probe_submission(submission_hosts, dns_, options)
    return MailFacts(
        domain=name,
        scanned_at=started,
        selectors=options.selectors(),
        given_selectors=options.given_selectors(),
        dns=list(dns_.answers.values()),
        mx=mx,
        mta_sts_policy=policy,
        submission=submission,
        relay_tested=options.relay_test,
        injection_tested=options.starttls_injection_test,
    )


def _records(domain: str, dns_: _Recorder, options: MailOptions) -> None:
    """Ask every record question the evaluation reads (SPF, DMARC, DKIM, MTA-STS, TLS-RPT,
    BIMI)."""
    for family in spf.Family:
        spf.walk_spf(domain, dns_, family)
    dns_(domain, "SPF")
    found = dmarc.discover(domain, dns_)
    for level in (found.policy_7489(), found.policy_9989()):
        if level is not None and level.record is not None:
            dmarc.report_authorisations(level.domain, level.record, dns_)
    for selector in options.selectors():
        dns_(f"{selector}._domainkey.{domain}", "TXT")
    dns_(f"_mta-sts.{domain}", "TXT")
    dns_(f"_smtp._tls.{domain}", "TXT")
    bimi.discover(domain, dns_)


class _Target(NamedTuple):
    preference: int
    host: str
    addresses: list[str]


def _mx_hosts(domain: str, dns_: _Recorder) -> list[_Target]:
    """Each MX target with its addresses, after its CNAME, A, AAAA and TLSA questions."""
    answer = dns_(domain, "MX")
    hosts: dict[str, int] = {}
    for record in answer.records if answer.ok else []:
        rank, _, target = record.partition(" ")
        host = normalise(target)
        if host and host not in hosts:
            hosts[host] = int(rank)
    checked = set(sorted(hosts, key=hosts.__getitem__)[:MAX_MX_HOSTS])
    why = (
        f"not asked: {domain} has {len(hosts)} MX hosts; the {MAX_MX_HOSTS} most preferred"
        " are checked"
    )
    out = []
    for host, preference in hosts.items():
        if host not in checked:
            for rdtype in ("CNAME", "A", "AAAA"):
                dns_.skip(host, rdtype, why)
            continue
        dns_(host, "CNAME")
        addresses = [a for t in ("A", "AAAA") for a in dns_(host, t).records]
        dns_(f"_25._tcp.{host}", "TLSA")
        out.append(_Target(preference, host, addresses))
    return out


def _not_probed(ip: str, port: int, count: int) -> Observed[SmtpFacts]:
    detail = (
        f"{ip}:{port}: not probed: the host has {count} addresses; the first"
        f" {MAX_HOST_ADDRESSES} are probed"
    )
    return Observed[SmtpFacts].failed(ErrorReason.NOT_SCANNED, detail)


def _probe_mx(
    domain: str, targets: list[_Target], options: MailOptions, cache: MxCache
) -> list[MxHost]:
    """SMTP dialogue (and relay probe) per address, hosts in parallel but each host's
    addresses one connection at a time; then the TLS scans."""

    def probe(target: _Target) -> list[MxAddress]:
        count = len(target.addresses)
        return [
            cache.get(target.host, ip, options) or _probe_address(domain, target.host, ip, options)
            if number < MAX_HOST_ADDRESSES
            else MxAddress(
                ip=ip, port=options.mx_port, smtp=_not_probed(ip, options.mx_port, count)
            )
            for number, ip in enumerate(target.addresses)
        ]

    with DaemonPool(min(MAX_PARALLEL_HOSTS, len(targets) or 1)) as pool:
        dialogues = pool.map(probe, targets)
    probed = _scan_tls(targets, dialogues, options)
    for target, addresses in zip(targets, probed, strict=True):
        for address in addresses:
            cache.put(target.host, address, options)
    return [
        MxHost(name=t.host, preference=t.preference, addresses=addresses)
        for t, addresses in zip(targets, probed, strict=True)
    ]


def _probe_address(domain: str, host: str, ip: str, options: MailOptions) -> MxAddress:
    timeout = options.scan.timeout
    port = options.mx_port
    facts = smtp.dialogue(
        host,
        ip,
        port,
        helo=options.ehlo_name,
        timeout=timeout,
        greeting_timeout=options.greeting_timeout,
    )
    relay = None
    if options.relay_test:
        relay = smtp.relay_probe(
            ip,
            port,
            helo=options.ehlo_name,
            timeout=timeout,
            greeting_timeout=options.greeting_timeout,
            domain=domain,
            sender=options.relay_sender or f"tlsaudit-probe@{options.ehlo_name}",
            recipient=options.relay_recipient,
        )
    injection = None
    if options.starttls_injection_test:
        injection = _injection_probe(host, ip, facts, options)
    return MxAddress(ip=ip, port=port, smtp=facts, relay=relay, injection=injection)


def _injection_probe(
    host: str, ip: str, dialogue: Observed[SmtpFacts], options: MailOptions
) -> Observed[InjectionProbe]:
    """The injection probe, skipped (not applicable) where the dialogue saw no STARTTLS."""
    if dialogue.value is not None and not dialogue.value.starttls:
        detail = f"{ip}:{options.mx_port}: STARTTLS not offered"
        return Observed[InjectionProbe].failed(ErrorReason.NOT_APPLICABLE, detail)
    return smtp.injection_probe(
        host,
        ip,
        options.mx_port,
        helo=options.ehlo_name,
        timeout=options.scan.timeout,
        greeting_timeout=options.greeting_timeout,
    )


def _scan_tls(
    targets: list[_Target], probed: list[list[MxAddress]], options: MailOptions
) -> list[list[MxAddress]]:
    """Scan, in one batch, every address whose STARTTLS handshake worked (not yet scanned)."""
    if not options.tls_scan:
        return probed
    wanted = [
        (i, j, _endpoint(target.host, a))
        for i, (target, addresses) in enumerate(zip(targets, probed, strict=True))
        for j, a in enumerate(addresses)
        if a.tls is None and a.smtp.value and a.smtp.value.tls and a.smtp.value.tls.value
    ]
    polite = replace(options.scan, connections_per_server=1)  # one connection at a time per MX
    facts = scan_endpoints([endpoint for _, _, endpoint in wanted], polite)
    out = [list(addresses) for addresses in probed]
    for (i, j, _), tls in zip(wanted, facts, strict=True):
        out[i][j] = out[i][j].model_copy(update={"tls": tls})
    return out


def _endpoint(host: str, address: MxAddress) -> Endpoint:
    return Endpoint(
        host=host, port=address.port, ip=address.ip, sni=host, starttls="smtp", https=False
    )


def _probe_submission(hosts: list[str], dns_: _Recorder, options: MailOptions) -> list[Submission]:
    out = []
    for host in hosts:
        addresses = [a for t in ("A", "AAAA") for a in dns_(host, t).records]
        for number, ip in enumerate(addresses):
            for port in options.submission_ports:
                implicit = port in IMPLICIT_TLS_PORTS
                if number >= MAX_HOST_ADDRESSES:
                    facts = _not_probed(ip, port, len(addresses))
                else:
                    facts = smtp.dialogue(
                        host,
                        ip,
                        port,
                        helo=options.ehlo_name,
                        timeout=options.scan.timeout,
                        greeting_timeout=options.greeting_timeout,
                        implicit_tls=implicit,
                    )
                out.append(
                    Submission(host=host, ip=ip, port=port, implicit_tls=implicit, smtp=facts)
                )
    return out


def _policy(domain: str, dns_: _Recorder, options: ScanOptions) -> Observed[HttpFetch] | None:
    """Fetch the MTA-STS policy when an ``_mta-sts`` record asks for one."""
    if not any(mtasts.is_sts(t) for t in txt(dns_(f"_mta-sts.{domain}", "TXT"))):
        return None
    host = f"mta-sts.{domain}"
    answers = [dns_(host, t) for t in ("A", "AAAA")]
    addresses = [a for answer in answers for a in answer.records]
    if not addresses:
        errors = [a.error.detail for a in answers if a.error is not None]
        detail = "; ".join(errors) or f"{host} has no address"
        return Observed[HttpFetch].failed(ErrorReason.NAME_RESOLUTION, detail)
    return fetch_https(host, addresses[0], mtasts.POLICY_PATH, options)


POLICY_DEADLINE_FACTOR = 4
"""The whole MTA-STS policy fetch (connect, handshake, request, response) ends within this
many times ``--timeout``."""


def fetch_deadline(timeout: float) -> float:
    """Seconds one policy fetch may take in all: ``4 × timeout`` (20 s at 5 s)."""
    return POLICY_DEADLINE_FACTOR * timeout


def fetch_https(
    host: str, ip: str, path: str, options: ScanOptions, *, port: int = 443
) -> Observed[HttpFetch]:
    """GET ``https://host/path`` from ``ip``: certificate verified against the system store
    and ``options.ca_file``, no redirects followed, body capped at :data:`MAX_POLICY`.

    Every read waits at most ``options.timeout``, and the whole fetch ends by
    :func:`fetch_deadline`: a server that drips its answer is cut off there (a timeout)."""
    url = f"https://{host}{path}"
    context = ssl.create_default_context()
    if options.ca_file is not None:
        context.load_verify_locations(cafile=str(options.ca_file))
    deadline = fetch_deadline(options.timeout)
    expired = threading.Event()
    late = Observed[HttpFetch].failed(
        ErrorReason.TIMEOUT, f"{url}: timeout: no complete answer within {deadline:g} s"
    )
    try:
        with (
            socket.create_connection((ip, port), timeout=options.timeout) as raw,
            _cut_off(raw, deadline, expired),
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
            tls.sendall(request.encode("ascii"))
            response = http.client.HTTPResponse(tls)
            response.begin()
            body = response.read(MAX_POLICY + 1)
    except ssl.SSLCertVerificationError as exc:
        return Observed[HttpFetch].failed(
            ErrorReason.HANDSHAKE_FAILED, f"{url}: certificate not valid: {exc.verify_message}"
        )
    except (OSError, http.client.HTTPException) as exc:
        if expired.is_set():
            return late
        error = smtp.probe_error(exc) if isinstance(exc, OSError) else None
        reason = error.reason if error else ErrorReason.INVALID_ANSWER
        return Observed[HttpFetch].failed(reason, f"{url}: {exc}")
    if expired.is_set():  # cut off in the body: what came is not the whole policy
        return late
    return Observed.of(
        HttpFetch(
            url=url,
            ip=ip,
            status=response.status,
            content_type=response.getheader("Content-Type"),
            location=response.getheader("Location"),
            body=body[:MAX_POLICY].decode("utf-8", "replace"),
            truncated=len(body) > MAX_POLICY,
        )
    )


@contextmanager
def _cut_off(sock: socket.socket, seconds: float, expired: threading.Event) -> Iterator[None]:
    """Shut the connection of ``sock`` down after ``seconds`` (a blocked read then returns
    at once) and set ``expired``. It acts through a duplicate of the descriptor, which stays
    valid when ``sock`` is wrapped in TLS (wrapping detaches ``sock``)."""
    watched = sock.dup()

    def expire() -> None:
        expired.set()
        with suppress(OSError):
            watched.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        watched.close()
