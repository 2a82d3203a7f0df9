"""tlsaudit: audit TLS, mail and DNS configuration against CRYPTREC profiles."""

__version__ = "0.1.0"
