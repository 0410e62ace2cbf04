"""Audio checks while sealing: what each file is, and whether it matches what the dataset declares.

WAV (PCM, 8/16/24/32-bit) is read with the stdlib `wave` module in bounded blocks; other formats
are recognised by their magic bytes and rejected with a clear message, never sealed unchecked.
Sample arithmetic uses numpy (already a dependency of dp-accounting) to keep checks at disk speed.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from voxgate.sealed.errors import BadAudio, BadManifest

DEFAULT_MAX_CLIPPING_PPM = 10_000  # 1% of samples at full scale is clearly broken audio
_BLOCK_BYTES = 1 << 20

_OTHER_FORMATS = (
    (b"fLaC", "FLAC"),
    (b"OggS", "Ogg (Opus/Vorbis)"),
    (b"ID3", "MP3"),
    (b"\xff\xfb", "MP3"),
    (b"\xff\xf3", "MP3"),
    (b"\xff\xf2", "MP3"),
    (b"FORM", "AIFF"),
    (b"RIFX", "big-endian WAV"),
)


@dataclass(frozen=True)
class AudioInfo:
    """What one file holds; the manifest records it per shard."""

    format: str
    sample_rate_hz: int
    channels: int
    sample_width_bits: int
    frames: int
    peak: int  # largest absolute sample value, in the file's own integer scale
    clipped_samples: int  # samples at the most negative or most positive code

    @property
    def duration_ms(self) -> int:
        return self.frames * 1000 // self.sample_rate_hz

    @property
    def clipping_ppm(self) -> int:
        samples = self.frames * self.channels
        return self.clipped_samples * 1_000_000 // samples if samples else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "sampleRateHz": self.sample_rate_hz,
            "channels": self.channels,
            "sampleWidthBits": self.sample_width_bits,
            "frames": self.frames,
            "peak": self.peak,
            "clippedSamples": self.clipped_samples,
        }

    @classmethod
    def from_json(cls, data: Any) -> AudioInfo:
        fields = ("sampleRateHz", "channels", "sampleWidthBits", "frames", "peak", "clippedSamples")
        if not isinstance(data, dict) or data.get("format") != "wav":
            raise BadManifest("shard audio must be an object with format 'wav'")
        if set(data) != {"format", *fields}:
            raise BadManifest(f"shard audio needs exactly format, {', '.join(fields)}")
        values: list[int] = []
        for name in fields:
            value = data[name]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise BadManifest(f"shard audio {name} is not a non-negative integer")
            values.append(value)
        rate, channels, width, frames, peak, clipped = values
        if rate == 0 or channels == 0:
            raise BadManifest("shard audio has a zero sample rate or channel count")
        return cls("wav", rate, channels, width, frames, peak, clipped)


@dataclass(frozen=True)
class AudioChecks:
    """What the dataset declares; None means "not checked". Recorded in the manifest."""

    format: str = "wav"
    sample_rate_hz: int | None = None
    channels: int | None = None
    sample_width_bits: int | None = None
    min_duration_ms: int | None = None
    max_duration_ms: int | None = None
    max_clipping_ppm: int | None = DEFAULT_MAX_CLIPPING_PPM

    def problems(self, info: AudioInfo) -> list[str]:
        found = []
        if info.format != self.format:
            found.append(f"format {info.format}, dataset declares {self.format}")
        for label, want, got in (
            ("sample rate", self.sample_rate_hz, info.sample_rate_hz),
            ("channels", self.channels, info.channels),
            ("sample width bits", self.sample_width_bits, info.sample_width_bits),
        ):
            if want is not None and got != want:
                found.append(f"{label} {got}, dataset declares {want}")
        if self.min_duration_ms is not None and info.duration_ms < self.min_duration_ms:
            found.append(f"duration {info.duration_ms} ms < minimum {self.min_duration_ms} ms")
        if self.max_duration_ms is not None and info.duration_ms > self.max_duration_ms:
            found.append(f"duration {info.duration_ms} ms > maximum {self.max_duration_ms} ms")
        if self.max_clipping_ppm is not None and info.clipping_ppm > self.max_clipping_ppm:
            found.append(
                f"clipping {info.clipping_ppm / 1e4:.3f}% of samples > "
                f"maximum {self.max_clipping_ppm / 1e4:.3f}%"
            )
        return found

    def to_json(self) -> dict[str, Any]:
        declared = {
            "format": self.format,
            "sampleRateHz": self.sample_rate_hz,
            "channels": self.channels,
            "sampleWidthBits": self.sample_width_bits,
            "minDurationMs": self.min_duration_ms,
            "maxDurationMs": self.max_duration_ms,
            "maxClippingPpm": self.max_clipping_ppm,
        }
        return {key: value for key, value in declared.items() if value is not None}

    @classmethod
    def from_json(cls, data: Any) -> AudioChecks:
        names = {
            "sampleRateHz": "sample_rate_hz",
            "channels": "channels",
            "sampleWidthBits": "sample_width_bits",
            "minDurationMs": "min_duration_ms",
            "maxDurationMs": "max_duration_ms",
            "maxClippingPpm": "max_clipping_ppm",
        }
        if not isinstance(data, dict) or data.get("format") != "wav":
            raise BadManifest("audio checks must be an object with format 'wav'")
        unknown = set(data) - set(names) - {"format"}
        if unknown:
            raise BadManifest(f"unknown audio checks: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {"max_clipping_ppm": None}
        for key, attribute in names.items():
            value = data.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise BadManifest(f"audio check {key} must be an integer")
            if key in data:
                values[attribute] = value
        return cls(**values)


def inspect_audio(stream: IO[bytes], name: str) -> AudioInfo:
    """Read one file from its start; raises BadAudio for anything but intact PCM WAV."""
    head = stream.read(12)
    stream.seek(0)
    if not (head[:4] == b"RIFF" and head[8:12] == b"WAVE"):
        for magic, label in _OTHER_FORMATS:
            if head.startswith(magic):
                raise BadAudio(f"{name}: {label} is not supported; convert it to PCM WAV")
        raise BadAudio(f"{name}: not a WAV file (only PCM WAV can be checked and sealed)")
    try:
        with wave.open(stream, "rb") as reader:
            return _read_wav(reader, name)
    except (wave.Error, EOFError) as error:
        detail = str(error)
        if "unknown format" in detail:
            detail += " (only PCM WAV, format tag 1, is supported)"
        raise BadAudio(f"{name}: malformed or unsupported WAV: {detail}") from None


def _read_wav(reader: wave.Wave_read, name: str) -> AudioInfo:
    width = reader.getsampwidth()
    channels = reader.getnchannels()
    rate = reader.getframerate()
    if width not in (1, 2, 3, 4) or channels < 1 or rate < 1:
        raise BadAudio(f"{name}: WAV header has {width}-byte samples, {channels} ch, {rate} Hz")
    declared = reader.getnframes()
    frames_per_block = max(1, _BLOCK_BYTES // (width * channels))
    frames = peak = clipped = 0
    while block := reader.readframes(frames_per_block):
        usable = len(block) - len(block) % (width * channels)
        samples = _as_samples(block[:usable], width)
        frames += usable // (width * channels)
        if samples.size:
            low, high = _full_scale(width)
            clipped += int(np.count_nonzero(samples == low) + np.count_nonzero(samples == high))
            peak = max(peak, int(samples.max()), -int(samples.min()))
    if frames != declared:
        raise BadAudio(
            f"{name}: WAV data is truncated: header says {declared} frames, has {frames}"
        )
    return AudioInfo("wav", rate, channels, width * 8, frames, peak, clipped)


def _full_scale(width: int) -> tuple[int, int]:
    bits = width * 8
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def _as_samples(block: bytes, width: int) -> np.ndarray[Any, Any]:
    """Signed integer samples; WAV stores 8-bit unsigned and wider widths signed little-endian."""
    if width == 1:
        return np.frombuffer(block, dtype=np.uint8).astype(np.int16) - 128
    if width == 2:
        return np.frombuffer(block, dtype="<i2")
    if width == 4:
        return np.frombuffer(block, dtype="<i4")
    triples = np.frombuffer(block, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
    unsigned = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
    return (unsigned ^ 0x800000) - 0x800000
