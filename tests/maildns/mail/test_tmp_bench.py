import time
from dataclasses import replace
from statistics import median

from tlsaudit.evaluate.mail import evaluate_mail
from tlsaudit.scan.mail import MailOptions, MxCache, scan_mail
from maildns.mail.conftest import NOW


def test_bench(mail_options: MailOptions, mail_profile) -> None:
    opts = replace(mail_options, common_selectors=True, dkim_selectors=("s1",), tls_scan=True,
                   relay_test=True, submission_ports=(587, 465))
    for domain in ("mail-good.test", "sts-enforce.test", "nostarttls.test"):
        scans, evals = [], []
        for _ in range(3):
            t = time.monotonic(); facts = scan_mail(domain, opts, cache=MxCache()); scans.append(time.monotonic() - t)
            t = time.monotonic(); f = evaluate_mail(facts, mail_profile, NOW); evals.append(time.monotonic() - t)
        print(domain, "scan median %.2fs" % median(scans), scans, "eval %.3fs" % median(evals), "dns questions", len(facts.dns), "findings", len(f))
    opts2 = replace(opts, tls_scan=False)
    t = time.monotonic(); scan_mail("mail-good.test", opts2, cache=MxCache()); print("no tls scan", time.monotonic() - t)
    assert False
