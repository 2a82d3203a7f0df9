"""One exception base per layer; every message is one line a user can act on."""


class TlsauditError(Exception):
    """Base of every error tlsaudit raises on purpose."""


class InputError(TlsauditError):
    """A target, option or file given by the user is malformed."""


class ProfileError(TlsauditError):
    """A profile is unknown, unreadable or invalid (the message names file, key, problem)."""


class ScanError(TlsauditError):
    """A scan could not start at all (not a per-observation failure)."""
