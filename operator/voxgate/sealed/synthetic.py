"""Synthetic WAV files (a tone plus noise) for tests, benchmarks and demos: no real speech."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np


def write_wav(
    path: Path,
    *,
    rate: int = 16000,
    channels: int = 1,
    width: int = 2,
    seconds: float = 0.1,
    clip_every: int = 0,
    seed: int = 1,
) -> Path:
    """A tone plus noise at 40% of full scale; with clip_every=n every n-th sample is clipped."""
    rng = np.random.default_rng(seed)
    frames = round(rate * seconds)
    full = (1 << (8 * width - 1)) - 1
    tone = np.sin(np.arange(frames * channels) / 7.0) * full * 0.4
    samples = (tone + rng.integers(-50, 51, frames * channels)).astype(np.int64)
    if clip_every:
        samples[::clip_every] = full
    if width == 1:
        data = (samples + 128).astype(np.uint8).tobytes()  # 8-bit WAV is unsigned
    else:
        little = samples.astype("<i8").view(np.uint8).reshape(-1, 8)
        data = little[:, :width].tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(width)
        writer.setframerate(rate)
        writer.writeframes(data)
    return path
