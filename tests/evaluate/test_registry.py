"""One registry: every check id of the catalogue is implemented exactly once, and every
registered check reads one kind of facts."""

from __future__ import annotations

from typer.testing import CliRunner

import tlsaudit.evaluate  # noqa: F401  (registers every check)
from tlsaudit.cli import app
from tlsaudit.evaluate.check import REGISTRY, Addresses, TlsView
from tlsaudit.evaluate.mailview import MailView
from tlsaudit.models.dns import DnsFacts
from tlsaudit.profiles import builtin_ids, load_checks, load_profile


def test_every_catalogue_id_is_registered_and_nothing_else() -> None:
    assert sorted(REGISTRY) == sorted(load_checks())


def test_checks_read_one_kind_of_facts() -> None:
    kinds = {c.reads for c in REGISTRY.values()}
    assert kinds == {TlsView, Addresses, DnsFacts, MailView}
    assert {c.check_id.split(".")[0] for c in REGISTRY.values() if c.reads is MailView} == {"mail"}
    assert {c.check_id.split(".")[0] for c in REGISTRY.values() if c.reads is DnsFacts} == {"dns"}


def test_every_builtin_profile_sets_a_rule_for_every_check() -> None:
    for profile_id in builtin_ids():
        assert set(load_profile(profile_id).rules) == set(REGISTRY), profile_id


def test_profiles_show_lists_the_registry_against_the_catalogue() -> None:
    result = CliRunner().invoke(app, ["profiles", "show", "cryptrec-high"], env={"NO_COLOR": "1"})
    total = len(load_checks())
    assert f"Checks: {total} of {total} catalogue ids implemented" in result.stdout
    assert "not implemented" not in result.stdout
