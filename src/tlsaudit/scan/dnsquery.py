"""A small typed layer over dnspython: every DNS question becomes one :class:`DnsAnswer`.

:func:`lookup` asks the configured resolver (``ScanOptions.resolver``) or, when none is
set, the system's resolvers. :func:`query_server` asks one server directly, e.g. an
authoritative server with RD=0. Both send EDNS0 (1232 octets), retry a truncated UDP
answer over TCP, and never raise for DNS or network failures: the outcome is the answer's
``status`` (mail-dns.md §6.1), with the reason text, flags, server and timing.
:func:`axfr_probe` asks one server for a zone transfer and stops after a few records.
"""

from __future__ import annotations

import socket
import threading
import time
from contextlib import closing
from functools import cache

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.rrset
import dns.xfr

from tlsaudit.models.dns import AxfrProbe, AxfrStatus, DnsAnswer, DnsStatus
from tlsaudit.scan.options import ScanOptions

EDNS_PAYLOAD = 1232
"""EDNS buffer size of DNS Flag Day 2020."""
UDP_ATTEMPTS = 2
"""UDP tries per server; each waits half of the timeout."""
AXFR_RECORD_LIMIT = 100
"""Records of an allowed zone transfer read before it is cut off (after that message)."""

_RCODE_STATUS = {
    dns.rcode.SERVFAIL: DnsStatus.SERVFAIL,
    dns.rcode.REFUSED: DnsStatus.REFUSED,
    dns.rcode.FORMERR: DnsStatus.FORMERR,
    dns.rcode.NOTIMP: DnsStatus.NOTIMP,
    dns.rcode.NOTAUTH: DnsStatus.NOTAUTH,
}
_NO_RETRY = frozenset({DnsStatus.ANSWER, DnsStatus.NODATA, DnsStatus.NXDOMAIN})


def lookup(
    name: str,
    rdtype: str,
    options: ScanOptions,
    *,
    want_dnssec: bool = False,
    checking_disabled: bool = False,
) -> DnsAnswer:
    """Ask the resolver (RD=1); the next system resolver is tried after a failure.

    ``want_dnssec`` sets DO (RRSIGs come back in ``rrsigs``; AD tells whether a
    validating resolver validated the answer); ``checking_disabled`` sets CD so a
    validating resolver returns data it considers bogus, for validating it ourselves.
    """
    servers = [options.resolver] if options.resolver else list(_system_resolvers())
    if not servers:
        return _unsent(name, rdtype, DnsStatus.NETWORK_ERROR, "no resolver configured")
    answer: DnsAnswer | None = None
    for host, port in servers:
        skipped = RESOLVERS.skip(host, port)
        if skipped is not None:
            answer = _unsent(name, rdtype, DnsStatus.TIMEOUT, skipped, server=host, port=port)
            continue
        answer = query_server(
            name,
            rdtype,
            host,
            tcp=False,
            recursion=True,
            timeout=options.timeout,
            port=port,
            want_dnssec=want_dnssec,
            checking_disabled=checking_disabled,
        )
        if answer.status is DnsStatus.TIMEOUT:
            RESOLVERS.timed_out(host, port, options.timeout)
        elif answer.responded:
            RESOLVERS.answered(host, port)
        if answer.status in _NO_RETRY:
            break
    assert answer is not None
    return answer


RESOLVER_RETRY_AFTER = 60.0
"""Seconds a resolver found dead is not asked; then one question may try it again."""


class ResolverHealth:
    """Which resolvers stopped answering, so a dead one costs one timeout, not one per
    question (a mail scan asks about 50).

    When a question to a resolver times out, one liveness question goes to it (the root's
    NS, which any resolver answers at once, if only with REFUSED or a referral). If that
    times out too, the resolver is dead: for :data:`RESOLVER_RETRY_AFTER` seconds every
    question to it gets a ``timeout`` answer at once, naming why; the next system resolver,
    if any, is asked instead. A resolver slow on one name only is not dead: it answers the
    liveness question. Any response revives a resolver.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dead: dict[tuple[str, int], tuple[float, str]] = {}

    def skip(self, host: str, port: int) -> str | None:
        """Why a question to this resolver is not sent now (None: send it)."""
        with self._lock:
            found = self._dead.get((host, port))
            if found is None:
                return None
            until, reason = found
            if time.monotonic() >= until:
                del self._dead[(host, port)]  # half-open: the next question tries it
                return None
            return reason

    def timed_out(self, host: str, port: int, timeout: float) -> None:
        probe = query_server(
            ".", "NS", host, tcp=False, recursion=True, timeout=timeout / UDP_ATTEMPTS, port=port
        )
        if probe.responded:
            return
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        reason = (
            f"not asked: resolver {where} stopped answering (a question and a liveness check"
            f" got no response within {timeout:g} s); it is skipped for"
            f" {RESOLVER_RETRY_AFTER:g} s"
        )
        with self._lock:
            self._dead[(host, port)] = (time.monotonic() + RESOLVER_RETRY_AFTER, reason)

    def answered(self, host: str, port: int) -> None:
        with self._lock:
            self._dead.pop((host, port), None)

    def forget(self) -> None:
        """Every resolver is asked again (a new scan, or a test)."""
        with self._lock:
            self._dead.clear()


RESOLVERS = ResolverHealth()
"""The resolver health of this process (shared by every scan and thread)."""


def query_server(
    name: str,
    rdtype: str,
    server_ip: str,
    *,
    tcp: bool,
    recursion: bool,
    timeout: float,
    port: int = 53,
    want_dnssec: bool = False,
    checking_disabled: bool = False,
) -> DnsAnswer:
    """Ask one server directly over UDP (TCP after TC=1) or TCP, with RD as given."""
    try:
        qname = dns.name.from_text(name)
        qtype = dns.rdatatype.from_text(rdtype)
    except (dns.exception.DNSException, ValueError) as exc:
        return _unsent(name, rdtype, DnsStatus.INVALID, f"invalid question: {exc}")
    flags = (dns.flags.RD if recursion else 0) | (dns.flags.CD if checking_disabled else 0)
    query = dns.message.make_query(
        qname, qtype, use_edns=0, payload=EDNS_PAYLOAD, want_dnssec=want_dnssec, flags=flags
    )
    where = {"server": server_ip, "port": port}
    start = time.monotonic()
    transport = "tcp" if tcp else "udp"
    udp_truncated = False
    try:
        if tcp:
            response = dns.query.tcp(query, server_ip, timeout=timeout, port=port)
        else:
            response = _udp(query, server_ip, port, timeout)
            if response.flags & dns.flags.TC:
                udp_truncated, transport = True, "tcp"
                response = dns.query.tcp(query, server_ip, timeout=timeout, port=port)
    except (dns.exception.DNSException, OSError, EOFError) as exc:
        status = _failure_status(exc)
        reason = _describe(exc, timeout, transport)
        if udp_truncated:
            status, reason = DnsStatus.TRUNCATED, f"TC=1 over UDP, TCP retry failed: {reason}"
        elapsed = (time.monotonic() - start) * 1000
        return DnsAnswer(
            name=qname.to_text(),
            rdtype=dns.rdatatype.to_text(qtype),
            status=status,
            reason=reason,
            transport=transport,
            elapsed_ms=round(elapsed, 2),
            **where,
        )
    elapsed = (time.monotonic() - start) * 1000
    return _classify(
        response,
        qname,
        qtype,
        udp_truncated=udp_truncated,
        transport=transport,
        elapsed_ms=round(elapsed, 2),
        **where,
    )


def axfr_probe(
    zone: str,
    server_ip: str,
    *,
    timeout: float,
    port: int = 53,
    limit: int = AXFR_RECORD_LIMIT,
) -> AxfrProbe:
    """Ask one server for an AXFR of ``zone`` over TCP (one attempt, ``timeout`` in all).

    Reading stops after the message that brings the count to ``limit`` records (a message
    is at most 64 KiB), so a large zone is never pulled. A transfer that began is
    ``allowed`` even when it breaks off later; a server that hangs up without a response
    has ``refused``; timeouts and unreachable servers are an ``error``.
    """
    start = time.monotonic()
    records, complete, status = 0, False, AxfrStatus.ALLOWED
    rcode: str | None = None
    reason: str | None = None
    try:
        transfer = dns.query.xfr(
            server_ip, zone, timeout=timeout, lifetime=timeout, port=port, relativize=False
        )
        with closing(transfer):  # closing the generator closes its socket
            for message in transfer:
                records += sum(len(rrset) for rrset in message.answer)
                if records >= limit:
                    break
            else:
                complete = True
    except dns.xfr.TransferError as exc:
        rcode = dns.rcode.to_text(exc.rcode)
        status, reason = AxfrStatus.REFUSED, f"{rcode} from the server"
    except (dns.exception.DNSException, OSError, EOFError, ValueError) as exc:
        hung_up = isinstance(exc, EOFError | ConnectionResetError)  # after connecting
        status = AxfrStatus.REFUSED if hung_up else AxfrStatus.ERROR
        reason = _describe(exc, timeout, "tcp")
    if records:
        status = AxfrStatus.ALLOWED
    elapsed = round((time.monotonic() - start) * 1000, 2)
    return AxfrProbe(
        status=status,
        records=records,
        complete=complete,
        rcode=rcode,
        elapsed_ms=elapsed,
        reason=reason,
    )


def _udp(query: dns.message.Message, host: str, port: int, timeout: float) -> dns.message.Message:
    """Ask over UDP from a connected socket, so that an ICMP port unreachable comes back as
    ConnectionRefusedError at once (an unconnected socket never sees it: a timeout)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for attempt in range(UDP_ATTEMPTS):
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            sock.connect((host, port))
            try:
                return dns.query.udp(
                    query, host, timeout=timeout / UDP_ATTEMPTS, port=port, sock=sock
                )
            except dns.exception.Timeout:
                if attempt == UDP_ATTEMPTS - 1:
                    raise
    raise AssertionError("unreachable")


def _classify(
    response: dns.message.Message,
    qname: dns.name.Name,
    qtype: dns.rdatatype.RdataType,
    **extra: object,
) -> DnsAnswer:
    rcode = response.rcode()
    fields: dict[str, object] = {
        "name": qname.to_text(),
        "rdtype": dns.rdatatype.to_text(qtype),
        "rcode": dns.rcode.to_text(rcode),
        "aa": bool(response.flags & dns.flags.AA),
        "tc": bool(response.flags & dns.flags.TC),
        "ra": bool(response.flags & dns.flags.RA),
        "ad": bool(response.flags & dns.flags.AD),
        "edns": response.edns >= 0,
        "authority": _lines(response.authority),
        "additional": _lines(response.additional),
        **extra,
    }
    if fields["tc"] and extra.get("transport") == "tcp":  # never complete, even over TCP
        reason = "TC=1 over TCP: the server sent an incomplete answer"
        return DnsAnswer.model_validate({**fields, "status": DnsStatus.TRUNCATED, "reason": reason})
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        status = _RCODE_STATUS.get(rcode, DnsStatus.RCODE)
        reason = f"{dns.rcode.to_text(rcode)} from the server"
        return DnsAnswer.model_validate({**fields, "status": status, "reason": reason})
    if not isinstance(response, dns.message.QueryMessage):
        reason = "not a response to a query"
        return DnsAnswer.model_validate({**fields, "status": DnsStatus.INVALID, "reason": reason})
    try:
        chain = response.resolve_chaining()
    except dns.message.ChainTooLong:
        reason = _long_chain(response, qname)
        return DnsAnswer.model_validate(
            {**fields, "status": DnsStatus.CHAIN_TOO_LONG, "reason": reason}
        )
    except dns.message.AnswerForNXDOMAIN:
        reason = "NXDOMAIN with an answer"
        return DnsAnswer.model_validate(
            {**fields, "status": DnsStatus.ANSWER_FOR_NXDOMAIN, "reason": reason}
        )
    except dns.exception.DNSException as exc:
        return DnsAnswer.model_validate(
            {**fields, "status": DnsStatus.INVALID, "reason": f"malformed response: {exc}"}
        )
    if chain.canonical_name != qname:
        fields["canonical_name"] = chain.canonical_name.to_text()
    if chain.answer is not None:
        rrsigs = response.get_rrset(
            response.answer,
            chain.canonical_name,
            dns.rdataclass.IN,
            dns.rdatatype.RRSIG,
            covers=qtype,
        )
        return DnsAnswer.model_validate(
            {
                **fields,
                "status": DnsStatus.ANSWER,
                "records": [rdata.to_text() for rdata in chain.answer],
                "ttl": chain.answer.ttl,
                "rrsigs": [rdata.to_text() for rdata in rrsigs or ()],
            }
        )
    if rcode == dns.rcode.NXDOMAIN:
        return DnsAnswer.model_validate({**fields, "status": DnsStatus.NXDOMAIN})
    return DnsAnswer.model_validate({**fields, "status": _empty_status(response)})


def _long_chain(response: dns.message.Message, qname: dns.name.Name) -> str:
    """Why the answer's CNAME chain was not followed to its end: a loop, or its length."""
    targets = {
        rrset.name: rrset[0].target
        for rrset in response.answer
        if rrset.rdtype == dns.rdatatype.CNAME
    }
    chain = [qname]
    while chain[-1] in targets and len(chain) <= len(targets):
        chain.append(targets[chain[-1]])
    if chain[-1] in chain[:-1]:
        start = chain.index(chain[-1])
        return "CNAME loop: " + " → ".join(n.to_text() for n in chain[start:])
    shown = " → ".join([*(n.to_text() for n in chain[:3]), "...", chain[-1].to_text()])
    most = dns.message.MAX_CHAIN
    return f"CNAME chain too long: {len(chain) - 1} hops ({shown}); at most {most} are followed"


def _empty_status(response: dns.message.Message) -> DnsStatus:
    """NOERROR without an answer: a referral (NS, no SOA, not authoritative) or NODATA."""
    types = {rrset.rdtype for rrset in response.authority}
    referral = (
        dns.rdatatype.NS in types
        and dns.rdatatype.SOA not in types
        and not response.flags & dns.flags.AA
    )
    return DnsStatus.REFERRAL if referral else DnsStatus.NODATA


def _lines(section: list[dns.rrset.RRset]) -> list[str]:
    return [
        line
        for rrset in section
        if rrset.rdtype != dns.rdatatype.OPT
        for line in rrset.to_text().splitlines()
    ]


def _failure_status(exc: BaseException) -> DnsStatus:
    if isinstance(exc, dns.exception.Timeout):
        return DnsStatus.TIMEOUT
    if isinstance(exc, OSError | EOFError):
        return DnsStatus.NETWORK_ERROR
    return DnsStatus.INVALID


def _describe(exc: BaseException, timeout: float, transport: str) -> str:
    if isinstance(exc, dns.exception.Timeout):
        return f"no response within {timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):  # UDP: from a connected socket (see _udp)
        return "connection refused" + (" (ICMP port unreachable)" if transport == "udp" else "")
    if isinstance(exc, EOFError):
        return "connection closed before a response"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _unsent(
    name: str,
    rdtype: str,
    status: DnsStatus,
    reason: str,
    *,
    server: str | None = None,
    port: int | None = None,
) -> DnsAnswer:
    return DnsAnswer(
        name=name, rdtype=rdtype, status=status, reason=reason, server=server, port=port
    )


@cache
def _system_resolvers() -> tuple[tuple[str, int], ...]:
    """The system's resolvers (resolv.conf), read once."""
    try:
        resolver = dns.resolver.Resolver()
    except dns.exception.DNSException:
        return ()
    return tuple((str(server), resolver.port) for server in resolver.nameservers)
