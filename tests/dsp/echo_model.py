"""A synthetic 2-wire hybrid and speech-like test signals for the echo canceller tests and bench.

Hybrid: 4 ms bulk delay, then an 8 ms dispersive response (an exponentially decaying random
response, DC removed, like the G.168 echo path models), scaled for a given ERL, plus white line
noise at a given level. Far-end signals: a composite-source-like synthetic speech (voiced pitch
pulses through formant resonances, unvoiced noise, syllabic envelope, pauses), espeak-ng speech
when the program is installed, DTMF and dial tone.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ata.dsp.levels import SAMPLE_RATE, dbm0_to_amplitude, rms_dbm0, to_int16
from ata.dsp.wavio import read_wav


def hybrid_response(
    erl_db: float = 10.0, *, bulk_ms: float = 4.0, disp_ms: float = 8.0, seed: int = 7
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    bulk = round(bulk_ms * SAMPLE_RATE / 1000)
    n = round(disp_ms * SAMPLE_RATE / 1000)
    t = np.arange(n)
    disp = rng.normal(size=n) * np.exp(-t / (n / 4.0))
    disp -= disp.mean() * np.exp(-t / (n / 4.0)) / np.exp(-t / (n / 4.0)).mean()
    disp *= np.sqrt(10 ** (-erl_db / 10) / float(disp @ disp))
    return np.concatenate([np.zeros(bulk), disp])


def through_hybrid(
    far: np.ndarray,
    h: np.ndarray,
    *,
    noise_dbm0: float = -65.0,
    seed: int = 3,
    near_speech: np.ndarray | None = None,
) -> np.ndarray:
    """Near-end capture: echo of ``far`` + line noise (+ near-end talker)."""
    echo = np.convolve(np.asarray(far, dtype=np.float64), h)[: len(far)]
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, dbm0_to_amplitude(noise_dbm0) / np.sqrt(2), len(far))
    out = echo + noise
    if near_speech is not None:
        out = out + np.asarray(near_speech, dtype=np.float64)[: len(far)]
    return to_int16(out)


def _resonator_ir(freq: float, bw: float, n: int = 96) -> np.ndarray:
    r = np.exp(-np.pi * bw / SAMPLE_RATE)
    t = np.arange(n)
    return r**t * np.sin(2 * np.pi * freq / SAMPLE_RATE * (t + 1))


def synthetic_speech(seconds: float, *, level_dbm0: float = -15.0, seed: int = 1) -> np.ndarray:
    """Speech-like signal: syllables of voiced (pitch 100–220 Hz, formants) and unvoiced parts."""
    rng = np.random.default_rng(seed)
    total = round(seconds * SAMPLE_RATE)
    out = np.zeros(total)
    pos = 0
    while pos < total:
        syl = int(rng.uniform(0.12, 0.3) * SAMPLE_RATE)
        gap = int(rng.uniform(0.03, 0.25) * SAMPLE_RATE)
        end = min(total, pos + syl)
        n = end - pos
        if rng.random() < 0.75:
            pitch = rng.uniform(100, 220)
            exc = np.zeros(n)
            exc[(np.arange(0, n, SAMPLE_RATE / pitch)).astype(int)] = 1.0
            ir = sum(
                _resonator_ir(f, b) * a
                for f, b, a in (
                    (rng.uniform(300, 800), 80, 1.0),
                    (rng.uniform(900, 2200), 120, 0.6),
                    (rng.uniform(2300, 3300), 200, 0.3),
                )
            )
            seg = np.convolve(exc, ir)[:n]
        else:
            seg = np.convolve(rng.normal(size=n), _resonator_ir(rng.uniform(2000, 3500), 800, 32))[
                :n
            ]
        env = np.sin(np.pi * np.arange(n) / max(n, 1)) ** 0.5
        out[pos:end] = seg * env * rng.uniform(0.5, 1.0)
        pos = end + gap
    active = out[np.abs(out) > 0]
    scale = dbm0_to_amplitude(level_dbm0) / np.sqrt(2) / np.sqrt(np.mean(active**2))
    return out * scale


def espeak_speech(
    text: str, *, level_dbm0: float = -15.0, voice: str = "en-us"
) -> np.ndarray | None:
    """espeak-ng speech resampled to 8 kHz by sox, scaled to an active level; None if missing."""
    if not shutil.which("espeak-ng") or not shutil.which("sox"):
        return None
    with tempfile.TemporaryDirectory() as d:
        raw = Path(d) / "s.wav"
        wav8 = Path(d) / "s8.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-w", str(raw), text], check=True, capture_output=True
        )
        subprocess.run(
            ["sox", str(raw), "-r", "8000", "-b", "16", str(wav8)], check=True, capture_output=True
        )
        x = read_wav(wav8).astype(np.float64)
    active = x[np.abs(x) > 100]
    return x * (dbm0_to_amplitude(level_dbm0) / np.sqrt(2) / np.sqrt(np.mean(active**2)))


def level(x: np.ndarray) -> float:
    return rms_dbm0(x)
