"""`voxgate keys` through its handlers: lifecycle, retire safety, signing keys, bad input."""

from __future__ import annotations

import argparse
import base64
import stat
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from voxgate.cli import keys
from voxgate.cli.errors import UsageError
from voxgate.sealed.manifest import public_key_b64, read_manifest_unverified

if TYPE_CHECKING:
    from tests.unit.keys.conftest import Dataset


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="voxgate")
    keys.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["keys", *argv])
    code: int = args.handler(args)
    return code


def test_lifecycle_through_the_cli(
    dataset: Dataset, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ref = f"file:{dataset.keyring.path}#speech"
    signing = tmp_path / "signing.pem"
    pem = dataset.signing_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    signing.write_bytes(pem)
    signing.chmod(0o600)
    capsys.readouterr()

    assert run("rotate", "--kek", ref) == 0
    assert "added version 2" in capsys.readouterr().out

    with pytest.raises(UsageError, match="still uses KEK speech v1; rewrap it before retiring"):
        run("retire", "--kek", ref, "--version", "1", "--manifest", str(dataset.manifest))

    rewrap = ["rewrap", "--manifest", str(dataset.manifest), "--kek", ref]
    assert run(*rewrap, "--signing-key", str(signing)) == 0
    assert "KEK speech v1 -> speech v2" in capsys.readouterr().out

    assert run("retire", "--kek", ref, "--version", "1", "--manifest", str(dataset.manifest)) == 0
    assert run("list", "--kek", ref) == 0
    listing = capsys.readouterr().out.splitlines()[-1]
    assert listing.startswith("speech\tv2\t") and listing.endswith("(newest)")
    assert run("list", "--kek", f"file:{dataset.keyring.path}") == 0
    assert capsys.readouterr().out == "speech\n"
    assert read_manifest_unverified(dataset.manifest.read_bytes()).kek.version == 2


def test_retire_wants_the_manifests_to_check(dataset: Dataset) -> None:
    ref = f"file:{dataset.keyring.path}#speech"
    run("rotate", "--kek", ref)
    with pytest.raises(UsageError, match="name every manifest that might use the version"):
        run("retire", "--kek", ref, "--version", "1")
    assert run("retire", "--kek", ref, "--version", "1", "--unreferenced") == 0


def test_signing_key_pair(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "signing.pem"
    assert run("signing-key", "--out", str(out)) == 0
    public = capsys.readouterr().out.strip()
    assert len(base64.b64decode(public, validate=True)) == 32
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    key = load_pem_private_key(out.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    assert public_key_b64(key.public_key()) == public
    assert (tmp_path / "signing.pem.pub").read_text().strip() == public
    with pytest.raises(UsageError, match="already exists; refusing to overwrite"):
        run("signing-key", "--out", str(out))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["create", "--kek", "file:/nonexistent/dir/ring.json#k"], "directory .* does not exist"),
        (["rotate", "--kek", "file:RING#unknown"], "no KEK 'unknown' in keyring"),
        (["create", "--kek", "file:RING#Bad_Name"], "is not a DNS label"),
        (["create", "--kek", "secret:Bad_NS/k"], "is not a namespace name"),
        (
            ["retire", "--kek", "file:RING#speech", "--version", "9", "--unreferenced"],
            "version 9 does not exist",
        ),
        (
            [
                "rewrap",
                "--manifest",
                "/nonexistent/m.json",
                "--kek",
                "file:RING#speech",
                "--signing-key",
                "KEY",
            ],
            "cannot read manifest /nonexistent/m.json",
        ),
    ],
)
def test_bad_keys_input_is_a_one_line_usage_error(
    dataset: Dataset, tmp_path: Path, argv: list[str], message: str
) -> None:
    key = tmp_path / "k.pem"
    run("signing-key", "--out", str(key))
    argv = [a.replace("RING", str(dataset.keyring.path)).replace("KEY", str(key)) for a in argv]
    with pytest.raises(UsageError, match=message) as caught:
        run(*argv)
    assert "\n" not in str(caught.value)
