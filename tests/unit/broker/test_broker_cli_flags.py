"""`voxgate unseal --broker ...`: flag checks and one-line errors that need no broker running."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from voxgate.cli.main import main
from voxgate.cli.unseal import expected_dataset
from voxgate.keys.file_provider import FileProvider
from voxgate.sealed.manifest import public_key_b64
from voxgate.sealed.seal import MANIFEST_NAME, SealKeys, SealOptions, seal_corpus
from voxgate.sealed.synthetic import write_wav


def seal(root: Path, dataset_id: str) -> tuple[Path, str]:
    """A one-file sealed corpus for `dataset_id`; returns its directory and public key."""
    root.mkdir(parents=True, exist_ok=True)
    keyring = FileProvider(root / "ring.json")
    keyring.create("speech")
    signing = Ed25519PrivateKey.generate()
    write_wav(root / "corpus" / "a.wav", seconds=0.05)
    out = root / f"sealed-{dataset_id.replace('/', '-')}"
    options = SealOptions(dataset_id, chunk_size=4096)
    seal_corpus(root / "corpus", out, options, SealKeys(keyring, "speech", signing), report=print)
    return out, public_key_b64(signing.public_key())


@pytest.fixture
def sealed(tmp_path: Path) -> tuple[Path, str]:
    return seal(tmp_path, "calls")


def unseal_argv(sealed: tuple[Path, str], *extra: str) -> list[str]:
    directory, public = sealed
    return [
        "unseal",
        "--manifest",
        str(directory / MANIFEST_NAME),
        "--shards",
        str(directory),
        "--out",
        str(directory.parent / "plain"),
        "--public-key",
        public,
        "--jobs",
        "1",
        *extra,
    ]


def one_line_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("voxgate: error: ") and err.count("\n") == 1, err
    return err


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_a_manifest_sealed_with_the_bare_name_matches_its_namespaced_dataset(
    tmp_path: Path,
) -> None:
    bare = (seal(tmp_path / "a", "calls")[0] / MANIFEST_NAME).read_bytes()
    full = (seal(tmp_path / "b", "speech-data/calls")[0] / MANIFEST_NAME).read_bytes()
    assert expected_dataset("speech-data/calls", bare) == "calls"
    assert expected_dataset("speech-data/calls", full) == "speech-data/calls"
    assert expected_dataset("speech-data/other", bare) == "speech-data/other"
    assert expected_dataset("speech-data/calls", b"not json") == "speech-data/calls"
    assert expected_dataset("calls", full) == "calls"
    assert expected_dataset(None, bare) is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--broker", "https://127.0.0.1:1"], "--broker needs --token-file"),
        (["--dek-source", "file:/x", "--token-file", "t"], "--token-file only goes with --broker"),
        (["--broker", "http://broker:8443", "--token-file", "t"], "is not https://"),
        (["--broker", "https://b:8443?x=1", "--token-file", "t"], "may not have a query"),
        (
            ["--broker", "https://b", "--token-file", "t", "--broker-attempts", "0"],
            "--broker-attempts must be at least 1",
        ),
        (
            ["--broker", "https://b", "--token-file", "t", "--dataset", "Bad/Name"],
            "--dataset: 'Bad/Name' is not NAMESPACE/NAME",
        ),
        (
            ["--broker", "https://b", "--token-file", "t", "--broker-ca", "/nonexistent/ca.pem"],
            "broker CA bundle /nonexistent/ca.pem does not exist",
        ),
    ],
)
def test_bad_broker_flags_are_one_line_errors(
    sealed: tuple[Path, str],
    extra: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert message in one_line_error(unseal_argv(sealed, *extra), capsys)


def test_a_ca_bundle_that_is_not_pem_is_a_one_line_error(
    sealed: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate\n")
    argv = unseal_argv(sealed, "--broker", "https://b", "--token-file", "t")
    err = one_line_error([*argv, "--broker-ca", str(bundle)], capsys)
    assert f"broker CA bundle {bundle} is not a readable PEM bundle" in err


def test_a_missing_token_file_is_a_one_line_error(
    sealed: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = unseal_argv(
        sealed,
        "--broker",
        f"https://127.0.0.1:{free_port()}",
        "--token-file",
        str(tmp_path / "no-token"),
        "--dataset",
        "speech-data/calls",
    )
    err = one_line_error(argv, capsys)
    assert f"cannot read token file {tmp_path / 'no-token'}: No such file or directory" in err
    assert not (tmp_path / "plain").exists() or not any((tmp_path / "plain").iterdir())


def test_a_closed_port_is_connection_refused_after_the_attempts(
    sealed: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = tmp_path / "token"
    token.write_text("eyJhbGciOiJFUzI1NiJ9.TOKEN-MARKER-do-not-print.sig\n")
    url = f"https://127.0.0.1:{free_port()}"
    argv = unseal_argv(
        sealed, "--broker", url, "--token-file", str(token), "--dataset", "speech-data/calls"
    )
    err = one_line_error([*argv, "--broker-attempts", "1"], capsys)
    assert f"key broker {url}: connection refused" in err
    assert "TOKEN-MARKER" not in err


def test_without_a_namespace_anywhere_the_broker_cannot_be_asked(
    sealed: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = tmp_path / "token"
    token.write_text("x.y.z")
    argv = unseal_argv(sealed, "--broker", "https://127.0.0.1:1", "--token-file", str(token))
    err = one_line_error(argv, capsys)
    assert "without a namespace" in err and "--dataset NAMESPACE/NAME" in err
