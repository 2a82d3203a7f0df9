"""Evaluation: pure functions from facts and a profile (and the time) to findings."""

from tlsaudit.evaluate.certs import evaluate_certificates
from tlsaudit.evaluate.tls import evaluate_consistency, evaluate_tls

__all__ = ["evaluate_certificates", "evaluate_consistency", "evaluate_tls"]
