"""The JSON keyring: versions, retirement rules, file permissions and clear errors."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from voxgate.keys.file_provider import FileProvider
from voxgate.keys.model import check_kek_id
from voxgate.sealed.errors import (
    KekExists,
    KekInUse,
    KeyStoreError,
    UnknownKek,
    UnknownKekVersion,
)


def test_create_rotate_and_read_versions(keyring: FileProvider) -> None:
    assert keyring.create("speech") == 1
    assert keyring.rotate("speech") == 2
    assert keyring.rotate("speech") == 3
    assert keyring.latest_version("speech") == 3
    keys = [keyring.get("speech", v) for v in (1, 2, 3)]
    assert all(len(k) == 32 and isinstance(k, bytearray) for k in keys)
    assert len({bytes(k) for k in keys}) == 3
    assert [v.version for v in keyring.versions("speech")] == [1, 2, 3]
    assert keyring.kek_ids() == ["speech"]


def test_the_keyring_file_is_private(keyring: FileProvider) -> None:
    keyring.create("speech")
    assert stat.S_IMODE(keyring.path.stat().st_mode) == 0o600
    keyring.rotate("speech")
    assert stat.S_IMODE(keyring.path.stat().st_mode) == 0o600


def test_a_readable_keyring_is_refused(keyring: FileProvider) -> None:
    keyring.create("speech")
    keyring.path.chmod(0o644)
    with pytest.raises(KeyStoreError, match=r"accessible by group or others \(mode 0644\)"):
        keyring.get("speech", 1)


def test_retire_removes_key_material_and_numbers_are_never_reused(keyring: FileProvider) -> None:
    keyring.create("speech")
    first = bytes(keyring.get("speech", 1))
    keyring.rotate("speech")
    keyring.retire("speech", 1)
    assert first.hex() not in keyring.path.read_text()
    assert [v.version for v in keyring.versions("speech")] == [2]
    with pytest.raises(UnknownKekVersion, match="version 1 was retired"):
        keyring.get("speech", 1)
    assert keyring.rotate("speech") == 3
    with pytest.raises(UnknownKekVersion, match="version 1 was already retired"):
        keyring.retire("speech", 1)


def test_the_newest_version_cannot_be_retired(keyring: FileProvider) -> None:
    keyring.create("speech")
    with pytest.raises(KekInUse, match="is the newest; rotate before retiring it"):
        keyring.retire("speech", 1)
    assert keyring.latest_version("speech") == 1


def test_unknown_names_versions_and_duplicates_are_named(keyring: FileProvider) -> None:
    keyring.create("speech")
    with pytest.raises(UnknownKek, match="no KEK 'other' in keyring"):
        keyring.get("other", 1)
    with pytest.raises(UnknownKekVersion, match="version 9 does not exist"):
        keyring.get("speech", 9)
    with pytest.raises(KekExists, match="already exists"):
        keyring.create("speech")


def test_a_missing_or_malformed_keyring_is_a_clear_error(tmp_path: Path) -> None:
    missing = FileProvider(tmp_path / "none.json")
    with pytest.raises(KeyStoreError, match="does not exist"):
        missing.latest_version("speech")
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"formatVersion": 1, "keks": {"x": {"versions": 3}}}))
    broken.chmod(0o600)
    with pytest.raises(KeyStoreError, match="is malformed"):
        FileProvider(broken).get("x", 1)


def test_tampered_key_material_is_refused(keyring: FileProvider) -> None:
    keyring.create("speech")
    document = json.loads(keyring.path.read_text())
    document["keks"]["speech"]["versions"]["1"]["key"] = "c2hvcnQ="
    keyring.path.write_text(json.dumps(document))
    with pytest.raises(KeyStoreError, match="is not 32 bytes"):
        keyring.get("speech", 1)


@pytest.mark.parametrize("name", ["Speech", "a_b", "-x", "", "x" * 64])
def test_kek_names_are_dns_labels(name: str) -> None:
    with pytest.raises(KeyStoreError, match="is not a DNS label"):
        check_kek_id(name)
