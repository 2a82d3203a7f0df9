from __future__ import annotations

import time

from maildns.mail.conftest import Audit

CASES = [
    ("mail-good.test", {"dkim_selectors": ("s1",), "tls_scan": True}),
    ("sts-mismatch.test", {"tls_scan": True}),
    ("sts-enforce.test", {}),
    ("dane-good.test", {}),
    ("dane-bad.test", {}),
    ("dane-unsigned.test", {}),
    ("mail.city.x.lgjp-like.test", {}),
    ("a.b.org-dmarc.test", {}),
    ("spf-lookups.test", {}),
    ("spf-loop.test", {}),
    ("spf-two.test", {}),
    ("noinclude.spf-two.test", {}),
    ("spf-plusall.test", {}),
    ("incall.spf-plusall.test", {}),
    ("spf-void.test", {}),
    ("v6.spf-void.test", {}),
    ("spf-legacy.test", {}),
    ("split.spf-legacy.test", {}),
    ("spf-macro.test", {}),
    ("dmarc-none.test", {}),
    ("dmarc-rua.test", {}),
    ("dmarc-multi.test", {}),
    ("sub.dmarc-multi.test", {}),
    ("dkim-keys.test", {"dkim_selectors": ("rsa1024", "rsa2048", "ed", "revoked", "testing", "sha1")}),
    ("dkim-ed.test", {"dkim_selectors": ("s1",)}),
    ("null-mx.test", {}),
    ("nostarttls.test", {}),
    ("relay-open.test", {"relay_test": True}),
    ("relay-closed.test", {"relay_test": True, "submission_hosts": ("smtp-tls.relay-closed.test", "smtp-clear.relay-closed.test"), "submission_ports": (587, 465)}),
]


def test_smoke(audit: Audit) -> None:
    for domain, kw in CASES:
        t = time.monotonic()
        facts, findings = audit(domain, **kw)
        print(f"===== {domain} {time.monotonic() - t:.2f}s")
        for f in findings:
            if f.status.value != "pass" and not f.check_id.startswith(("tls.", "crypto.")):
                print(" ", f.check_id, f.status.value, f.subject, "|", f.observed, "|", f.reason)
    assert False
