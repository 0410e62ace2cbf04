"""`voxgate dp` and the budget table, through the real entry point and its error path."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from voxgate.cli import dp, main
from voxgate.cli.budget_view import budget_document, render_budget
from voxgate.privacy.accountant import epsilon
from voxgate.privacy.ledger import (
    Budget,
    charge,
    compact,
    new_entry,
    new_ledger,
    release,
    reserve,
    settle,
)
from voxgate.privacy.params import DPSGDParams

MNIST = ["--sample-rate", str(256 / 60000), "--steps", "14063", "--delta", "1e-5"]


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    # Until the lead registers the module in main.COMMAND_GROUPS; harmless afterwards.
    if dp not in main.COMMAND_GROUPS:
        monkeypatch.setattr(main, "COMMAND_GROUPS", (*main.COMMAND_GROUPS, dp))


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_epsilon_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["dp", "epsilon", "--noise", "1.1", *MNIST, "--output", "json"], capsys)
    assert code == 0
    document = json.loads(out)
    assert document["epsilon"] == epsilon(DPSGDParams(1.1, 256 / 60000, 14063, 1e-5))
    assert round(document["epsilon"], 2) == 2.60
    assert (document["accountant"], document["steps"]) == ("rdp", 14063)


def test_epsilon_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["dp", "epsilon", "--noise", "1.1", *MNIST, "--steps", "1e4"], capsys)
    assert code == 0
    rows = dict(line.split(maxsplit=1) for line in out.splitlines() if not line.startswith("n"))
    assert rows["epsilon"] == f"{epsilon(DPSGDParams(1.1, 256 / 60000, 10000, 1e-5)):.6g}"
    assert "steps             10000" in out


def test_noise_for_a_target(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["dp", "noise", "--target-epsilon", "3", *MNIST, "--output", "json"], capsys)
    assert code == 0
    document = json.loads(out)
    assert document["epsilon"] <= 3.0
    noise = document["noiseMultiplier"]
    assert epsilon(DPSGDParams(noise * 0.999, 256 / 60000, 14063, 1e-5)) > 3.0
    assert 0.9 < noise < 1.1  # 1.1 gives 2.6, so a little less noise reaches 3


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["dp", "epsilon", "--noise", "-1", *MNIST], "--noise: noise_multiplier must be"),
        (["dp", "epsilon", "--noise", "nan", *MNIST], "--noise: noise_multiplier must be"),
        (
            [
                "dp",
                "epsilon",
                "--noise",
                "1",
                "--sample-rate",
                "0",
                "--steps",
                "10",
                "--delta",
                "0.1",
            ],
            "--sample-rate: sample_rate must be in (0, 1]",
        ),
        (
            [
                "dp",
                "epsilon",
                "--noise",
                "1",
                "--sample-rate",
                "0.1",
                "--steps",
                "0",
                "--delta",
                "0.1",
            ],
            "--steps: steps must be an integer >= 1",
        ),
        (
            [
                "dp",
                "epsilon",
                "--noise",
                "1",
                "--sample-rate",
                "0.1",
                "--steps",
                "9",
                "--delta",
                "1",
            ],
            "--delta: delta must be in (0, 1)",
        ),
        (
            ["dp", "noise", "--target-epsilon", "-3", *MNIST],
            "--target-epsilon: target_epsilon must be",
        ),
        (
            [
                "dp",
                "noise",
                "--target-epsilon",
                "3",
                "--sample-rate",
                "0.1",
                "--steps",
                "10",
                "--delta",
                "0",
            ],
            "--delta: delta must be in (0, 1)",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(argv, capsys)
    assert code == 2
    assert out == ""
    assert err.startswith("voxgate: error: ") and err.count("\n") == 1
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["dp", "epsilon", "--noise", "lots", *MNIST],
        [
            "dp",
            "epsilon",
            "--noise",
            "1",
            "--sample-rate",
            "0.1",
            "--steps",
            "1.5",
            "--delta",
            "1e-5",
        ],
        ["dp", "epsilon", *MNIST],
        ["dp", "epsilon", "--noise", "1", *MNIST, "--accountant", "moments"],
    ],
)
def test_unparseable_input_exits_2_without_a_traceback(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def test_budget_table_and_json() -> None:
    limits = Budget(8.0, 1e-5, {"asr": 5.0, "tts": 3.0})
    ledger = new_ledger("speech-data", "clean", limits)
    for uid, grant in (("u1", "asr"), ("u2", "asr"), ("u3", "tts"), ("u4", "tts")):
        entry = new_entry(
            uid,
            job_namespace="team-a",
            job_name=f"train-{uid}",
            grant=grant,
            params=DPSGDParams(1.1, 0.004, 2000, 1e-5),
            at=T0,
        )
        ledger = reserve(ledger, entry, limits)
    ledger = settle(charge(ledger, "u1", T0), "u1", T0)
    ledger = release(charge(ledger, "u2", T0), "u3", T0)
    ledger = compact(ledger, max_settled=0)
    text = render_budget(ledger)
    assert text.splitlines()[0].startswith("SpeechDataset speech-data/clean")
    assert "remaining" in text and "GRANT" in text and "team-a/train-u2" in text
    assert "Charged" in text and "Reserved" in text
    assert "team-a/train-u1" not in text  # folded
    assert "2 earlier runs compacted (1 settled, 1 released)" in text
    document = budget_document(ledger)
    assert [entry["uid"] for entry in document["entries"]] == ["u2", "u4"]
    assert document["summary"]["runs"] == {"reserved": 1, "charged": 1, "settled": 1, "released": 1}
    json.dumps(document)  # all of it serialisable


def test_an_empty_ledger_says_so() -> None:
    text = render_budget(new_ledger("speech-data", "clean", Budget(8.0, 1e-5)))
    assert "no runs in the ledger" in text and "remaining  8" in text


def test_budget_with_a_missing_kubeconfig_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    absent = tmp_path / "kubeconfig"
    code, out, err = run(
        ["budget", "clean", "-n", "speech-data", "--kubeconfig", str(absent)], capsys
    )
    assert code == 2 and out == ""
    assert (
        err.startswith(f"voxgate: error: cannot load kubeconfig {absent}") and err.count("\n") == 1
    )
