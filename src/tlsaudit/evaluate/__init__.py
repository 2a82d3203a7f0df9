"""Evaluation: pure functions from facts and a profile (and the time) to findings.

Every check is registered once under its id (:mod:`.check`); importing this package
registers them all, in report order per kind of facts.
"""

from tlsaudit.evaluate.dns import evaluate_dns
from tlsaudit.evaluate.mail import evaluate_mail
from tlsaudit.evaluate.tls import evaluate_consistency, evaluate_tls

__all__ = ["evaluate_consistency", "evaluate_dns", "evaluate_mail", "evaluate_tls"]
