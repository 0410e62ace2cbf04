"""KEK references as users type them: file:KEYRING#NAME and secret:NAMESPACE/NAME."""

from __future__ import annotations

from pathlib import Path

import pytest

from voxgate.keys.file_provider import FileProvider
from voxgate.keys.ref import KekLocation, StoreRef, open_store, parse_kek_ref
from voxgate.sealed.errors import KeyStoreError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("file:/keys/ring.json#speech", KekLocation(StoreRef("file", "/keys/ring.json"), "speech")),
        ("file:odd#dir/ring.json#k1", KekLocation(StoreRef("file", "odd#dir/ring.json"), "k1")),
        ("file:ring.json", KekLocation(StoreRef("file", "ring.json"), None)),
        (
            "secret:voxgate-system/speech",
            KekLocation(StoreRef("secret", "voxgate-system"), "speech"),
        ),
        ("secret:voxgate-system", KekLocation(StoreRef("secret", "voxgate-system"), None)),
    ],
)
def test_references_parse(text: str, expected: KekLocation) -> None:
    assert parse_kek_ref(text, need_name=False) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("speech", "is not file:PATH#NAME or secret:NAMESPACE/NAME"),
        ("vault:speech", "unknown store 'vault'"),
        ("file:ring.json#", "empty name after '#'"),
        ("secret:NS/speech", "'NS' is not a namespace name"),
        ("file:ring.json", "names no KEK"),
    ],
)
def test_bad_references_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(KeyStoreError, match=message):
        parse_kek_ref(text, need_name=True)


def test_a_file_store_opens_a_keyring(tmp_path: Path) -> None:
    store = open_store(StoreRef("file", str(tmp_path / "ring.json")))
    assert isinstance(store, FileProvider)
    assert store.path == tmp_path / "ring.json"
