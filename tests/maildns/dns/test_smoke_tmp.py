import json, time
from datetime import UTC, datetime
from tlsaudit.scan.dns import scan_dns
from tlsaudit.evaluate.dns import evaluate_dns
from tlsaudit.profiles import load_profile

def test_smoke(dns_env, tmp_path):
    p = tmp_path / "p.toml"
    p.write_text('id = "t"\nname = "t"\nversion = "1"\ninclude = ["rules-dns"]\n')
    profile = load_profile(p)
    for zone in ["good-dns.test.", "broken-dnssec.test.", "single-ns.test.", "lame.test.", "stale.test.", "timeout.test.", "openres.test."]:
        t = time.monotonic()
        facts = scan_dns(zone, dns_env.options())
        print("==", zone, round(time.monotonic() - t, 2), "s")
        for f in evaluate_dns(facts, profile, datetime.now(UTC)):
            print(f"  {f.status.value:7} {f.check_id:22} {f.subject:40} | {f.observed} | {f.reason or ''}")
