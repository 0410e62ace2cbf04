"""Audio checks while sealing: measured figures, declared expectations, unsupported formats."""

from __future__ import annotations

import io
import struct
import wave
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from voxgate.sealed.audio import AudioChecks, AudioInfo, inspect_audio
from voxgate.sealed.errors import BadAudio
from voxgate.sealed.seal import MANIFEST_NAME
from voxgate.sealed.synthetic import write_wav

if TYPE_CHECKING:
    from tests.unit.sealed.conftest import Kit


def inspect(path: Path) -> AudioInfo:
    with path.open("rb") as handle:
        return inspect_audio(handle, path.name)


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_clipping_and_peak_are_measured_at_every_sample_width(tmp_path: Path, width: int) -> None:
    path = write_wav(tmp_path / "a.wav", width=width, channels=2, seconds=0.05, clip_every=10)
    info = inspect(path)
    samples = 800 * 2
    assert info.frames == 800
    assert info.sample_width_bits == 8 * width
    assert info.clipped_samples == samples // 10
    assert info.clipping_ppm == 100_000
    assert info.peak == (1 << (8 * width - 1)) - 1


def test_negative_full_scale_counts_as_clipping(tmp_path: Path) -> None:
    path = tmp_path / "neg.wav"
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(struct.pack("<4h", -32768, 0, 100, -32768))
    info = inspect(path)
    assert (info.clipped_samples, info.peak) == (2, 32768)


@pytest.mark.parametrize(
    ("head", "message"),
    [
        (b"fLaC\x00\x00\x00\x22" + bytes(40), "FLAC is not supported; convert it to PCM WAV"),
        (b"OggS" + bytes(40), "Ogg \\(Opus/Vorbis\\) is not supported"),
        (b"ID3\x04" + bytes(40), "MP3 is not supported"),
        (b"hello, this is a transcript\n", "not a WAV file"),
    ],
)
def test_other_formats_are_rejected_by_their_content(head: bytes, message: str) -> None:
    with pytest.raises(BadAudio, match=message):
        inspect_audio(io.BytesIO(head), "x.wav")


def test_float_wav_is_rejected_with_the_reason(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "f.wav")
    data = bytearray(path.read_bytes())
    data[20:22] = struct.pack("<H", 3)  # WAVE_FORMAT_IEEE_FLOAT
    with pytest.raises(BadAudio, match="only PCM WAV, format tag 1, is supported"):
        inspect_audio(io.BytesIO(bytes(data)), "f.wav")


def test_truncated_wav_data_is_rejected(tmp_path: Path) -> None:
    data = write_wav(tmp_path / "t.wav", seconds=0.1).read_bytes()
    with pytest.raises(BadAudio, match="truncated: header says 1600 frames, has 1000"):
        inspect_audio(io.BytesIO(data[: 44 + 2000]), "t.wav")


def test_checks_name_every_mismatch() -> None:
    info = inspect_audio(io.BytesIO(_wav_bytes(rate=44100, channels=2)), "m.wav")
    checks = AudioChecks(
        sample_rate_hz=16000, channels=1, sample_width_bits=24, min_duration_ms=500
    )
    assert checks.problems(info) == [
        "sample rate 44100, dataset declares 16000",
        "channels 2, dataset declares 1",
        "sample width bits 16, dataset declares 24",
        "duration 100 ms < minimum 500 ms",
    ]
    assert AudioChecks(sample_rate_hz=44100, channels=2).problems(info) == []


def _wav_bytes(rate: int, channels: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(bytes(2 * channels * rate // 10))
    return buffer.getvalue()


def mixed_corpus(kit: Kit) -> Path:
    src = kit.root / "mixed"
    write_wav(src / "good-1.wav", rate=16000)
    write_wav(src / "good-2.wav", rate=16000, channels=1)
    write_wav(src / "wrong-rate.wav", rate=8000)
    return src


def test_a_wrong_sample_rate_is_skipped_with_one_report_line_when_asked(kit: Kit) -> None:
    reports: list[str] = []
    options = kit.options(on_bad_audio="skip", checks=AudioChecks(sample_rate_hz=16000))
    result = kit.seal(mixed_corpus(kit), options=options, reports=reports)
    assert result.manifest is not None
    assert sorted(result.sources.values()) == ["good-1.wav", "good-2.wav"]
    assert reports == ["wrong-rate.wav: sample rate 8000, dataset declares 16000"]
    assert result.rejected == tuple(reports)
    assert result.manifest.checks.sample_rate_hz == 16000


def test_a_wrong_sample_rate_fails_the_run_and_leaves_nothing_when_asked(kit: Kit) -> None:
    reports: list[str] = []
    options = kit.options(on_bad_audio="fail", checks=AudioChecks(sample_rate_hz=16000))
    with pytest.raises(BadAudio, match="nothing was sealed"):
        kit.seal(mixed_corpus(kit), options=options, reports=reports)
    assert reports == ["wrong-rate.wav: sample rate 8000, dataset declares 16000"]
    assert not (kit.root / "sealed").exists()


def test_fail_mode_removes_shards_already_written(kit: Kit) -> None:
    src = kit.root / "late"
    for name in ("a.wav", "b.wav", "c.wav"):
        write_wav(src / name)
    write_wav(src / "z-clipped.wav", clip_every=20)  # 5% of samples at full scale, sealed last
    out = kit.root / "existing"
    out.mkdir()
    with pytest.raises(BadAudio):
        kit.seal(src, out, kit.options(checks=AudioChecks(max_clipping_ppm=10_000)))
    assert list(out.iterdir()) == []


def test_clipping_over_the_declared_maximum_is_reported(kit: Kit) -> None:
    src = kit.root / "clip"
    write_wav(src / "clean.wav")
    write_wav(src / "clipped.wav", clip_every=50)  # 2%
    reports: list[str] = []
    options = kit.options(on_bad_audio="skip", checks=AudioChecks(max_clipping_ppm=10_000))
    result = kit.seal(src, options=options, reports=reports)
    assert list(result.sources.values()) == ["clean.wav"]
    assert reports == ["clipped.wav: clipping 2.000% of samples > maximum 1.000%"]


def test_unsupported_files_and_symlinks_are_reported_never_silently_included(kit: Kit) -> None:
    src = kit.root / "odd"
    write_wav(src / "good.wav")
    (src / "notes.txt").write_text("speaker said hello")
    (src / "song.flac").write_bytes(b"fLaC" + bytes(100))
    (src / "link.wav").symlink_to(src / "good.wav")
    reports: list[str] = []
    result = kit.seal(src, options=kit.options(on_bad_audio="skip"), reports=reports)
    assert list(result.sources.values()) == ["good.wav"]
    assert sorted(reports) == [
        "link.wav: symbolic link; not followed",
        "notes.txt: not a WAV file (only PCM WAV can be checked and sealed)",
        "song.flac: FLAC is not supported; convert it to PCM WAV",
    ]


def test_check_only_reports_every_bad_file_and_writes_nothing(kit: Kit) -> None:
    reports: list[str] = []
    options = kit.options(check_only=True, checks=AudioChecks(sample_rate_hz=44100))
    result = kit.seal(mixed_corpus(kit), options=options, reports=reports)
    assert result.manifest is None
    assert result.checked_files == 3
    assert len(reports) == 3
    assert not (kit.root / "sealed").exists()


def test_nothing_passing_the_checks_is_an_error_not_an_empty_dataset(kit: Kit) -> None:
    options = kit.options(on_bad_audio="skip", checks=AudioChecks(sample_rate_hz=96000))
    with pytest.raises(BadAudio, match="no file passed the audio checks"):
        kit.seal(mixed_corpus(kit), options=options)
    assert not (kit.root / "sealed" / MANIFEST_NAME).exists()
