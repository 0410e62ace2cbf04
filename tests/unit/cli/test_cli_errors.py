from __future__ import annotations

from pathlib import Path

import pytest

from voxgate.cli.main import main


def test_dev_up_into_a_foreign_directory_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    assert main(["dev", "--state-dir", str(tmp_path), "up"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("voxgate: error: ") and err.count("\n") == 1
    assert "not made by voxgate" in err
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_dev_env_without_a_running_plane_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dev", "--state-dir", str(tmp_path / "none"), "env"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "voxgate dev up" in err


def test_unknown_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["no-such-command"])
    assert exit_info.value.code == 2
