"""Fixtures of the DNS tests: a profile with only the DNS rule set; short status names."""

from __future__ import annotations

import pytest

from tlsaudit.models.findings import Status
from tlsaudit.profiles import Profile, load_profile

PASS, FAIL, WARN, INFO, UNKNOWN = (
    Status.PASS,
    Status.FAIL,
    Status.WARN,
    Status.INFO,
    Status.UNKNOWN,
)


@pytest.fixture(scope="session")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Profile:
    """The DNS rule set included by a profile, as the CRYPTREC profiles include it."""
    path = tmp_path_factory.mktemp("profile") / "dns-only.toml"
    path.write_text('id = "dns-only"\nname = "DNS"\nversion = "test"\ninclude = ["dns"]\n')
    return load_profile(path)
