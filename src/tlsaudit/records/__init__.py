"""Record grammars and walkers: pure parsers shared by scanning and evaluation.

SPF, DMARC, DKIM, BIMI, MTA-STS and DANE record grammars, the recorded-DNS lookup view
(record and replay), and the decomposition of cipher suites and named groups. Nothing here
touches the network or judges: ``scan/`` uses these to walk what it fetches, ``evaluate/``
to re-read recorded facts.
"""
