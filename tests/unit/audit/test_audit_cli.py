"""`voxgate audit verify` and `voxgate audit show` on trail files (no anchor: no API server)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from voxgate.audit import AuditRecord, AuditTrail, Subject
from voxgate.cli import audit, main

WriteTrail = Callable[[Path, int], list[AuditRecord]]
Clock = Callable[[], datetime]
JOB = Subject("TrainingJob", "team-a", "asr-small", "5b0e7c9e-4a0c-4f49-9b8e-2f0f3b1f6a01")


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    # Until the lead registers the module in main.COMMAND_GROUPS; harmless afterwards.
    if audit not in main.COMMAND_GROUPS:
        monkeypatch.setattr(main, "COMMAND_GROUPS", (*main.COMMAND_GROUPS, audit))


def test_verify_an_intact_trail_exits_0(
    tmp_path: Path, write_trail: WriteTrail, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "audit.jsonl"
    records = write_trail(path, 4)
    assert main.main(["audit", "verify", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{path}: intact, 4 records, head seq 4 {records[-1].digest}" in out


def test_verify_names_the_first_broken_record_in_one_line_and_exits_1(
    tmp_path: Path, write_trail: WriteTrail, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "audit.jsonl"
    write_trail(path, 6)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b'"actor":"operator"', b'"actor":"mallory"')
    del lines[4]
    path.write_bytes(b"".join(lines))
    assert main.main(["audit", "verify", str(path)]) == 1
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert out.startswith(f"{path}: BROKEN at line 3 (seq 3): digest does not match")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["audit", "verify", "{dir}/missing.jsonl"], "no audit trail file"),
        (["audit", "verify", "{file}", "--anchor-configmap", "no-slash"], "NAMESPACE/NAME"),
        (["audit", "verify", "{file}", "--anchor-configmap", "a/b/c"], "NAMESPACE/NAME"),
        (["audit", "verify", "{file}", "--kubeconfig", "{dir}/kc"], "only used with"),
        (
            ["audit", "verify", "{file}", "--anchor-configmap", "ns/a", "--kubeconfig", "{dir}/kc"],
            "cannot load kubeconfig",
        ),
        (["audit", "verify", "{file}", "--anchor-replica", "voxgate-0"], "NAMESPACE/POD"),
        (["audit", "verify", "{file}", "--anchor-replica", "ns/" + "p" * 240], "too long"),
        (
            [
                "audit",
                "verify",
                "{file}",
                "--anchor-replica",
                "ns/voxgate-0",
                "--kubeconfig",
                "{dir}/kc",
            ],
            "cannot load kubeconfig",
        ),
        (["audit", "show", "{file}", "--subject", "team-a"], "NAMESPACE/NAME"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    tmp_path: Path,
    write_trail: WriteTrail,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    path = tmp_path / "audit.jsonl"
    write_trail(path, 1)
    filled = [arg.format(dir=tmp_path, file=path) for arg in argv]
    assert main.main(filled) == 2
    err = capsys.readouterr().err
    assert err.startswith("voxgate: error: ") and err.count("\n") == 1
    assert message in err


def test_show_prints_a_table_and_filters(
    tmp_path: Path, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "audit.jsonl"
    other = Subject("TrainingJob", "team-b", "tts", "u-2")
    with AuditTrail(path, clock=clock) as trail:
        trail.record("decision.allowed", "alice", JOB, {"decisionId": "d-1"})
        trail.record("ledger.reserved", "operator", JOB, {"epsilon": 1.5})
        trail.record("decision.denied", "bob", other, {"codes": ["DPRequired"]})
        trail.record("ledger.charged", "operator", JOB, {"epsilon": 1.5})

    assert main.main(["audit", "show", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["SEQ", "TIME", "EVENT", "ACTOR", "SUBJECT", "DETAILS"]
    assert len(lines) == 5
    assert "decision.denied" in lines[3] and "team-b/tts" in lines[3]
    assert 'codes=["DPRequired"]' in lines[3]

    assert main.main(["audit", "show", str(path), "--subject", "team-a/asr-small"]) == 0
    seqs = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]]
    assert seqs == ["1", "2", "4"]

    assert main.main(["audit", "show", str(path), "--event", "ledger.*"]) == 0
    seqs = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]]
    assert seqs == ["2", "4"]

    argv = ["audit", "show", str(path), "--event", "decision.denied", "--event", "ledger"]
    assert main.main(argv) == 0
    seqs = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]]
    assert seqs == ["2", "3", "4"]


def test_show_stops_at_a_break_and_exits_1(
    tmp_path: Path, write_trail: WriteTrail, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "audit.jsonl"
    write_trail(path, 5)
    lines = path.read_bytes().splitlines(keepends=True)
    del lines[2]
    path.write_bytes(b"".join(lines))
    assert main.main(["audit", "show", str(path)]) == 1
    captured = capsys.readouterr()
    assert [line.split()[0] for line in captured.out.splitlines()[1:]] == ["1", "2"]
    assert "BROKEN at line 3 (seq 4)" in captured.err


def test_one_anchor_at_a_time(
    tmp_path: Path, write_trail: WriteTrail, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "audit.jsonl"
    write_trail(path, 1)
    argv = ["audit", "verify", str(path), "--anchor-replica", "ns/voxgate-0"]
    with pytest.raises(SystemExit) as exited:
        main.main([*argv, "--anchor-configmap", "ns/voxgate-audit-anchor"])
    assert exited.value.code == 2
    assert "not allowed with argument --anchor-replica" in capsys.readouterr().err
