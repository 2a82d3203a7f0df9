import json, time
from tlsaudit.scan.dns import scan_dns


def test_smoke(dns_env):
    print("startup", dns_env.startup_seconds)
    out = {}
    for zone in [
        "good-dns.test.",
        "broken-dnssec.test.",
        "single-ns.test.",
        "lame.test.",
        "stale.test.",
        "timeout.test.",
        "openres.test.",
        "dane-good.test.",
    ]:
        t = time.monotonic()
        facts = scan_dns(zone, dns_env.options())
        out[zone] = facts.model_dump(mode="json")
        print("==", zone, round(time.monotonic() - t, 2), "s")
        print(" delegation", facts.delegation.model_dump(mode="json"))
        print(" child_ns", facts.child_ns.status, facts.child_ns.records)
        for ns in facts.nameservers:
            print(" ns", ns.name, ns.in_parent, ns.in_child, ns.glue, ns.addresses, ns.ipv6.status)
        for s in facts.servers:
            print(
                " srv",
                s.label,
                s.soa_udp.status,
                s.soa_udp.aa,
                s.soa_tcp.status,
                s.soa and s.soa.serial,
                s.ns_set,
                s.recursion_probe
                and (
                    s.recursion_probe.status,
                    s.recursion_probe.ra,
                    s.recursion_probe.aa,
                    s.recursion_probe.reason,
                ),
            )
        d = facts.dnssec
        print(" dnssec", d.state, d.reason, d.trust_anchor, d.resolver_ad)
        for c in d.chain:
            print("   step", c)
        print("  ds", d.ds, "\n  keys", d.dnskeys)
        for sig in d.signatures:
            print("  sig", sig.rrset, sig.key_tag, sig.expiration)
        print(" caa", facts.caa)
    json.dump(out, open("/tmp/facts.json", "w"), indent=1)
