"""The TLS check catalogue, the three CRYPTREC profiles as part 1 encodes them, the
e-Government list data, and the loader's errors for user profiles."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from sslyze.plugins.openssl_cipher_suites.cipher_suites import (
    _RFC_NAME_TO_KEY_SIZE_MAPPING as SSLYZE_KEY_SIZES,
)

from tlsaudit.errors import ProfileError
from tlsaudit.evaluate.tls import classes_of
from tlsaudit.models.findings import Level
from tlsaudit.profiles import CipherRule, builtin_dir, builtin_ids, load_egov_list, load_profile
from tlsaudit.records.suites import SUITE_CLASSES, parse_suite

HIGH, REC, EXC = "cryptrec-high", "cryptrec-recommended", "cryptrec-exception"
PROFILES = (HIGH, REC, EXC)
TLS_CHECKS = tomllib.loads((builtin_dir() / "checks" / "tls.toml").read_text("utf-8"))["checks"]
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
M, R, INFO, P = Level.MANDATORY, Level.RECOMMENDED, Level.INFORMATIONAL, None

# cryptrec.md part 1, per profile (high, recommended, exception).
PROTOCOL_LEVELS = {
    "tls.protocol.ssl2": (M, M, M),
    "tls.protocol.ssl3": (M, M, M),
    "tls.protocol.tls1_0": (M, M, R),
    "tls.protocol.tls1_1": (M, M, R),
    "tls.protocol.modern": (M, M, M),
    "tls.protocol.tls1_3": (M, R, INFO),
}
CLASS_LEVELS = {
    "pfs-aead": (P, P, P),
    "pfs-aead-short-tag": (P, P, P),  # part 1 §1.2: CCM_8 passes, in a class of its own
    "pfs-cbc": (M, P, P),
    "pfs-cbc-sha1": (M, R, P),
    "rsa-kx": (M, R, P),
    "3des": (M, M, R),
    "forbidden": (M, M, M),
}
DH_THRESHOLDS = ([(2048, M)], [(2048, M)], [(1024, M), (2048, R)])
STRICT = {
    HIGH: {"tls.protocol.tls1_3", "tls.cipher:pfs-cbc"},
    REC: set(),
    EXC: set(),
}


@pytest.mark.parametrize("check_id", TLS_CHECKS)
def test_catalogue_entry_is_complete(check_id: str) -> None:
    check = load_profile(HIGH).checks[check_id]
    assert check.title.en
    assert JAPANESE.search(check.title.ja)
    assert check.citations
    assert all(c.doc and c.ref for c in check.citations)
    assert check.remediation
    assert "nginx" in check.remediation
    assert "Apache" in check.remediation


@pytest.mark.parametrize("profile_id", PROFILES)
def test_profile_sets_every_tls_check(profile_id: str) -> None:
    profile = load_profile(profile_id)
    assert set(TLS_CHECKS) <= set(profile.rules)
    assert profile.version.startswith("tlsaudit ")
    assert profile.edition_names == ["GL-3001 3.1.1", "LS-0001-2022R2", "LS-0003-2022R1"]
    assert profile.ref.editions == profile.edition_names
    assert JAPANESE.search(profile.name)
    assert profile.description is not None
    assert profile_id in builtin_ids()


@pytest.mark.parametrize(("column", "profile_id"), list(enumerate(PROFILES)))
def test_profiles_encode_part_1(column: int, profile_id: str) -> None:
    rules = load_profile(profile_id).rules
    assert {c: rules[c].level for c in PROTOCOL_LEVELS} == {
        c: levels[column] for c, levels in PROTOCOL_LEVELS.items()
    }
    classes = rules["tls.cipher"].classes or {}
    assert tuple(classes) == SUITE_CLASSES
    assert {c: o.level for c, o in classes.items()} == {
        c: levels[column] for c, levels in CLASS_LEVELS.items()
    }
    thresholds = rules["tls.kex.dh_size"].thresholds or []
    assert [(t.below, t.level) for t in thresholds] == DH_THRESHOLDS[column]
    strict = {c for c, r in rules.items() if r.reading == "strict"} | {
        f"tls.cipher:{c}" for c, o in classes.items() if o.reading == "strict"
    }
    assert strict == STRICT[profile_id]
    assert all(o.note for o in classes.values() if o.reading == "strict")


def test_shared_rules_are_identical() -> None:
    high, rec, exc = (load_profile(p).rules for p in PROFILES)
    differing = {c for c in high if not high[c] == rec[c] == exc[c]}
    assert differing == {
        "tls.protocol.tls1_0",
        "tls.protocol.tls1_1",
        "tls.protocol.tls1_3",
        "tls.cipher",
        "tls.kex.dh_size",
    }


def test_egov_list_editions() -> None:
    """R2 (the default) is R1 plus the post-quantum table; R1 stays selectable."""
    current, r1 = load_egov_list(), load_egov_list("egov-list-2022r1")
    assert (current.id, current.edition, str(current.date)) == (
        "LS-0001-2022R2",
        "2022R2",
        "2026-03-30",
    )
    assert (r1.id, r1.edition, str(r1.date)) == ("LS-0001-2022R1", "2022R1", "2024-05-16")
    added = {e.name for e in current.entries} - {e.name for e in r1.entries}
    assert added == {"ML-KEM-768", "ML-KEM-1024"}
    assert current.classify("ML-KEM-768").list == "recommended"
    assert current.classify("ML-KEM-512").list == "unlisted"
    assert r1.classify("ML-KEM-768").list == "unlisted"
    assert all(load_profile(p).egov == current for p in PROFILES)


def test_certificate_and_group_rules_encode_part_1() -> None:
    """§1.3 and §1.4 as changed for the current editions: SHA-3 and SHA-512/256 signatures
    pass, ML-KEM groups (LS-0001-2022R2) pass, tls.kex.pqc is informational."""
    for profile_id in PROFILES:
        rules = load_profile(profile_id).rules
        assert rules["cert.signature.hash"].allowed == [
            *("sha256", "sha384", "sha512", "sha512-256", "sha3-256", "sha3-384", "sha3-512"),
            *("Ed25519", "Ed448"),
        ]
        groups = rules["tls.kex.group"].allowed or []
        pqc = ["X25519MLKEM768", "SecP256r1MLKEM768", "SecP384r1MLKEM1024", "MLKEM768"]
        assert set(pqc) <= set(groups)
        assert "MLKEM512" not in groups  # not on LS-0001-2022R2
        assert rules["tls.kex.pqc"].level is INFO
        assert rules["cert.key.size"].other_level is R  # DSA >= 2048, other curves


def test_egov_list() -> None:
    egov = load_egov_list("egov-list-2022r1")
    assert (egov.id, egov.edition, str(egov.date)) == ("LS-0001-2022R1", "2022R1", "2024-05-16")
    assert egov.describe("AES") == "AES: 電子政府推奨暗号リスト / 128ビットブロック暗号"
    assert egov.describe("SHA-1") == "SHA-1: 運用監視暗号リスト / ハッシュ関数"
    assert egov.classify("ChaCha20-Poly1305").category == "認証暗号"
    assert egov.classify("ChaCha20-Poly1305").list == "recommended"
    assert egov.classify("3-key Triple DES").list == "monitored"
    assert egov.classify("RSAES-PKCS1-v1_5").list == "monitored"
    assert egov.classify("CLEFIA").list == "candidate"
    assert egov.classify("ML-KEM-768").list == "unlisted"  # LS-0001-2022R2, a later file
    names = [e.name for e in egov.entries]
    assert len(names) == len(set(names))


def test_allowed_suites_use_listed_primitives_only() -> None:
    """A suite that passes or warns in some profile uses primitives of LS-0001 lists only."""
    egov = load_egov_list()
    policy = load_profile(HIGH).rules["tls.cipher"].params(CipherRule)
    for name in SSLYZE_KEY_SIZES:
        suite = parse_suite(name)
        if classes_of(suite, policy) != "forbidden":
            assert all(egov.classify(p).list != "unlisted" for p in suite.primitives), name


# ---------------------------------------------------------------- user profiles and loader errors


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return path


HEADER = 'id = "mine"\nname = "mine"\nversion = "1"\n'


def test_unknown_profile() -> None:
    with pytest.raises(ProfileError, match="no-such-profile: unknown profile"):
        load_profile("no-such-profile")


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (
            '[rules."tls.compression"]\nlevel = "mandatory"\nbogus = 1\n',
            r'rules."tls.compression".bogus: Extra inputs are not permitted',
        ),
        (
            '[rules."tls.compression"]\nlevel = "severe"\n',
            r'rules."tls.compression".level: Input should be',
        ),
        (
            '[rules."tls.kex.dh_size"]\nlevel = "mandatory"\n',
            r'rules."tls.kex.dh_size".thresholds: required for this check',
        ),
        (
            '[rules."tls.compression"]\nlevel = "mandatory"\nmin_bits = 3\n',
            r'rules."tls.compression".min_bits: not a parameter of this check',
        ),
        (
            '[rules."tls.no_such_check"]\nlevel = "mandatory"\n',
            r'rules."tls.no_such_check": unknown check id',
        ),
        (
            '[rules."tls.cipher"]\nlevel = "mandatory"\nclasses = { "pfs-aead" = {} }\n',
            r"classes: no outcome for class '3des'",
        ),
        (
            '[rules."tls.compression"]\nlevel = "mandatory"\nreading = "strict"\n',
            r'rules."tls.compression".note: a reading = "strict" rule needs a note',
        ),
    ],
    ids=["bad-key", "bad-level", "missing-param", "extra-param", "unknown-check", "class", "note"],
)
def test_invalid_rule(tmp_path: Path, rules: str, message: str) -> None:
    path = write(tmp_path, "mine.toml", HEADER + rules)
    with pytest.raises(ProfileError, match=re.escape(str(path)) + ".*" + re.escape(message)):
        load_profile(path)


def test_extends_loop(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", HEADER + 'extends = "b.toml"\n')
    write(tmp_path, "b.toml", HEADER + 'extends = "a.toml"\n')
    with pytest.raises(ProfileError, match="extends: inheritance loop"):
        load_profile(tmp_path / "a.toml")


def test_user_profile_extends_high_and_overrides_one_rule(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "agency.toml",
        'id = "agency"\nname = "Agency (高セキュリティ型 + CBC)"\nversion = "2026.1"\n'
        'extends = "cryptrec-high"\n\n'
        '[rules."tls.cipher".classes]\n"pfs-cbc" = { level = "recommended" }\n',
    )
    mine, high = load_profile(path), load_profile(HIGH)
    assert mine.id == "agency"
    assert mine.source == str(path)
    changed = {c for c in high.rules if mine.rules[c] != high.rules[c]}
    assert changed == {"tls.cipher"}
    classes, base = mine.rules["tls.cipher"].classes or {}, high.rules["tls.cipher"].classes or {}
    assert classes["pfs-cbc"].level is Level.RECOMMENDED
    assert classes["pfs-cbc"].reading is None
    assert {c: o for c, o in classes.items() if c != "pfs-cbc"} == {
        c: o for c, o in base.items() if c != "pfs-cbc"
    }
