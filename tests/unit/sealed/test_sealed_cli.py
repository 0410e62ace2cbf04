"""`voxgate seal` and `voxgate unseal` through their handlers (one core: no processes)."""

from __future__ import annotations

import argparse
import base64
from pathlib import Path

import pytest

from voxgate.cli import keys, seal, unseal
from voxgate.cli.errors import UsageError
from voxgate.sealed.synthetic import write_wav


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="voxgate")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for group in (seal, unseal, keys):
        group.register(subparsers)
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


@pytest.fixture
def setup(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    ring = tmp_path / "ring.json"
    assert run("keys", "create", "--kek", f"file:{ring}#speech") == 0
    assert run("keys", "signing-key", "--out", str(tmp_path / "signing.pem")) == 0
    public = capsys.readouterr().out.strip().splitlines()[-1]
    corpus = tmp_path / "corpus"
    write_wav(corpus / "spk-a" / "1.wav", rate=16000, seconds=0.3)
    write_wav(corpus / "spk-b" / "2.wav", rate=16000, channels=2, seconds=0.2)
    return {
        "ring": str(ring),
        "kek": f"file:{ring}#speech",
        "key": str(tmp_path / "signing.pem"),
        "public": public,
        "corpus": str(corpus),
        "sealed": str(tmp_path / "sealed"),
        "plain": str(tmp_path / "plain"),
    }


def seal_args(s: dict[str, str], *extra: str) -> list[str]:
    return [
        "seal",
        s["corpus"],
        "--dataset",
        "demo",
        "--out",
        s["sealed"],
        "--kek",
        s["kek"],
        "--signing-key",
        s["key"],
        "--jobs",
        "1",
        "--chunk-size",
        "4KiB",
        *extra,
    ]


def unseal_args(s: dict[str, str], *extra: str) -> list[str]:
    return [
        "unseal",
        "--manifest",
        f"{s['sealed']}/manifest.json",
        "--shards",
        s["sealed"],
        "--out",
        s["plain"],
        "--dek-source",
        f"file:{s['ring']}",
        "--public-key",
        s["public"],
        "--jobs",
        "1",
        *extra,
    ]


def test_seal_then_unseal_through_the_cli(
    setup: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    index = tmp_path / "index.json"
    assert run(*seal_args(setup, "--expect-sample-rate", "16000", "--index-out", str(index))) == 0
    out = capsys.readouterr().out
    assert "sealed 2 files" in out and "under KEK speech v1" in out and "digest sha256:" in out
    assert oct(index.stat().st_mode & 0o777) == "0o600"
    assert run(*unseal_args(setup, "--dataset", "demo")) == 0
    assert "unsealed 2 files" in capsys.readouterr().out
    originals = sorted(p.read_bytes() for p in Path(setup["corpus"]).rglob("*.wav"))
    assert sorted(p.read_bytes() for p in Path(setup["plain"]).iterdir()) == originals
    assert len(base64.b64decode(setup["public"])) == 32


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"corpus": "/nonexistent/corpus"}, "corpus directory /nonexistent/corpus does not exist"),
        ({"kek": "file:RING#nokek"}, "no KEK 'nokek' in keyring"),
        ({"kek": "vault:x"}, "unknown store 'vault'"),
        ({"kek": "file:RING"}, "names no KEK"),
        ({"key": "/nonexistent/key.pem"}, "cannot read signing key /nonexistent/key.pem"),
    ],
)
def test_bad_seal_input_is_a_one_line_usage_error(
    setup: dict[str, str], change: dict[str, str], message: str
) -> None:
    values = {k: v.replace("RING", setup["ring"]) for k, v in change.items()}
    with pytest.raises(UsageError, match=message) as caught:
        run(*seal_args({**setup, **values}))
    assert "\n" not in str(caught.value)
    assert not Path(setup["sealed"]).exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--chunk-size", "12 parsecs"], "is not a number with an optional unit"),
        (["--chunk-size", "1KiB"], "--chunk-size must be within 4KiB..64MiB"),
        (["--expect-format", "flac"], "seals PCM WAV only"),
        (["--max-clipping", "2"], "--max-clipping is a ratio"),
        (["--jobs", "0"], "--jobs must be at least 1"),
        (["--expect-sample-rate", "8000"], "nothing was sealed"),
    ],
)
def test_bad_seal_flags_are_usage_errors(
    setup: dict[str, str], extra: list[str], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        run(*seal_args(setup, *extra))


def test_a_group_readable_signing_key_is_refused(setup: dict[str, str]) -> None:
    Path(setup["key"]).chmod(0o640)
    with pytest.raises(UsageError, match=r"accessible by group or others.*chmod 600"):
        run(*seal_args(setup))


def test_the_signing_key_may_come_from_the_environment(
    setup: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    args = seal_args(setup)
    del args[args.index("--signing-key") : args.index("--signing-key") + 2]
    with pytest.raises(UsageError, match="no signing key: pass --signing-key FILE or set"):
        run(*args)
    monkeypatch.setenv("VOXGATE_SIGNING_KEY", setup["key"])
    assert run(*args) == 0


def test_check_only_needs_no_keys_and_reports_failures(
    setup: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["seal", setup["corpus"], "--dataset", "demo", "--check-only", "--jobs", "1"]
    code = run(*args, "--expect-channels", "1")
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err == "voxgate seal: bad: spk-b/2.wav: channels 2, dataset declares 1\n"
    assert "checked 2 files: 1 failed" in captured.out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"public": "not base64!"}, "signing public key is not base64"),
        ({"public": base64.b64encode(bytes(32)).decode()}, "signed by key"),
        ({"sealed": "/nonexistent/sealed"}, "cannot read manifest"),
        ({"ring": "/nonexistent/ring.json"}, "keyring /nonexistent/ring.json does not exist"),
    ],
)
def test_bad_unseal_input_is_a_one_line_usage_error(
    setup: dict[str, str], change: dict[str, str], message: str
) -> None:
    assert run(*seal_args(setup)) == 0
    with pytest.raises(UsageError, match=message) as caught:
        run(*unseal_args({**setup, **change}))
    assert "\n" not in str(caught.value)
    plain = Path(setup["plain"])
    assert not plain.exists() or not any(plain.iterdir())


def test_unseal_of_another_dataset_than_expected_is_refused(setup: dict[str, str]) -> None:
    assert run(*seal_args(setup)) == 0
    with pytest.raises(UsageError, match="manifest is for dataset 'demo', expected 'other'"):
        run(*unseal_args(setup, "--dataset", "other"))
