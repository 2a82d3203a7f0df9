"""Re-record ``tests/evaluate/mail/facts/*.json`` from the mail test zones.

Run from the repository root, with knotd, unbound and aiosmtpd installed::

    python tests/evaluate/mail/record_mail_facts.py [NAME ...]

Starts the DNS harness of the mail tests (tests/maildns/conftest.py: the same loopback
addresses and lock) and the loopback mail servers, scans the domain of every scenario of
:data:`SCENARIOS` (or of those named) with the mail tests' options plus the scenario's
overrides, and writes its facts. Review the diff of the case results afterwards: a changed
fact must be a deliberate one.
"""

from __future__ import annotations

import sys
import tempfile
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TESTS))

from maildns.conftest import LOCK, LOCK_WAIT, _exclusive, _serve  # noqa: E402
from maildns.mail.conftest import NOW, harness_options  # noqa: E402
from servers.smtp import MailServers  # noqa: E402
from tlsaudit.scan.mail import MxCache, scan_mail  # noqa: E402

FACTS = Path(__file__).resolve().parent / "facts"
DKIM_SELECTORS = ("rsa1024", "rsa2048", "ed", "revoked", "testing", "sha1")

SCENARIOS: dict[str, tuple[str, dict[str, Any]]] = {
    "mail-good": ("mail-good.test", {"dkim_selectors": ("s1",)}),
    "sub.mail-good": ("sub.mail-good.test", {}),
    "null-mx": ("null-mx.test", {}),
    "spf-lookups": ("spf-lookups.test", {}),
    "spf-loop": ("spf-loop.test", {}),
    "spf-two": ("spf-two.test", {"dkim_selectors": ("s1",)}),
    "noinclude.spf-two": ("noinclude.spf-two.test", {}),
    "spf-plusall": ("spf-plusall.test", {"dkim_selectors": ("s1",)}),
    "incall.spf-plusall": ("incall.spf-plusall.test", {}),
    "spf-void": ("spf-void.test", {}),
    "v6.spf-void": ("v6.spf-void.test", {}),
    "spf-legacy": ("spf-legacy.test", {}),
    "split.spf-legacy": ("split.spf-legacy.test", {}),
    "spf-macro": ("spf-macro.test", {}),
    "dmarc-none": ("dmarc-none.test", {}),
    "dmarc-rua": ("dmarc-rua.test", {}),
    "dmarc-multi": ("dmarc-multi.test", {}),
    "sub.dmarc-multi": ("sub.dmarc-multi.test", {}),
    "a.b.org-dmarc": ("a.b.org-dmarc.test", {}),
    "mail.city.x.lgjp-like": ("mail.city.x.lgjp-like.test", {}),
    "dkim-keys": ("dkim-keys.test", {"dkim_selectors": DKIM_SELECTORS}),
    "dkim-ed": ("dkim-ed.test", {"dkim_selectors": ("s1",)}),
    "bimi-bad": ("bimi-bad.test", {}),
    "syntax.bimi-bad": ("syntax.bimi-bad.test", {}),
    "two.bimi-bad": ("two.bimi-bad.test", {}),
    "case.bimi-bad": ("case.bimi-bad.test", {}),
    "declined.bimi-bad": ("declined.bimi-bad.test", {}),
}
"""Facts file name -> (domain, overrides of the mail tests' options)."""


def main(names: list[str]) -> None:
    unknown = sorted(set(names) - set(SCENARIOS))
    if unknown:
        raise SystemExit(f"unknown scenario(s): {', '.join(unknown)}")
    wanted = names or list(SCENARIOS)
    FACTS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tlsaudit-record-mail-") as workdir:
        dns_dir = Path(workdir) / "dns"
        dns_dir.mkdir()
        with (
            _exclusive(LOCK, LOCK_WAIT),
            contextmanager(_serve)(dns_dir) as env,
            MailServers(Path(workdir), now=NOW),
        ):
            options = harness_options(env)
            for name in wanted:
                domain, overrides = SCENARIOS[name]
                facts = scan_mail(domain, replace(options, **overrides), cache=MxCache())
                path = FACTS / f"{name}.json"
                text = facts.model_dump_json(indent=1, exclude_defaults=True)
                path.write_text(text + "\n", encoding="utf-8")
                print(path)


if __name__ == "__main__":
    main(sys.argv[1:])
