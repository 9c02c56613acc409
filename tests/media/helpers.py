"""Shared helpers for the media tests: tones, frequency measurement, an in-memory link."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import numpy as np

from ata.media.session import MediaConfig, MediaSession

A = ("192.0.2.1", 40000)
B = ("192.0.2.2", 50000)
FRAME = 160


def tone(freq: float, n: int, amplitude: float = 8000.0, start: int = 0) -> np.ndarray:
    t = np.arange(start, start + n, dtype=np.float64)
    return np.rint(amplitude * np.sin(2 * math.pi * freq * t / 8000.0)).astype(np.int16)


def dominant_freq(x: np.ndarray, rate: int = 8000) -> float:
    x = x.astype(np.float64)
    x = x - x.mean()
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    k = int(np.argmax(spec))
    return k * rate / len(x)


def snr_db(x: np.ndarray, ref: np.ndarray) -> float:
    x = x.astype(np.float64)
    ref = ref.astype(np.float64)
    noise = np.sum((x - ref) ** 2)
    return 10 * math.log10(np.sum(ref**2) / max(noise, 1e-9))


def pair(**kw: object) -> tuple[MediaSession, MediaSession]:
    a = MediaSession(MediaConfig(local_ssrc=0x1111, remote_rtp=B, **kw))  # type: ignore[arg-type]
    b = MediaSession(MediaConfig(local_ssrc=0x2222, remote_rtp=A, **kw))  # type: ignore[arg-type]
    return a, b


class Link:
    """Frames from ``tx`` to ``rx`` over a simulated network with loss/delay/duplication."""

    def __init__(
        self,
        tx: MediaSession,
        rx: MediaSession,
        src: tuple[str, int],
        *,
        seed: int = 1,
        loss: float = 0.0,
        dup: float = 0.0,
        jitter_s: float = 0.0,
        base_delay: float = 0.005,
    ) -> None:
        self.tx, self.rx, self.src = tx, rx, src
        self.rng = random.Random(seed)
        self.loss, self.dup, self.jitter_s, self.base_delay = loss, dup, jitter_s, base_delay
        self.in_flight: list[tuple[float, int, bytes]] = []
        self._n = 0

    def send(self, frame: np.ndarray, now: float, **kw: object) -> list[bytes]:
        out = [d for d, _ in self.tx.send_frame(frame, now, **kw)]  # type: ignore[arg-type]
        for d in out:
            copies = 0 if self.rng.random() < self.loss else 1
            if copies and self.rng.random() < self.dup:
                copies = 2
            for _ in range(copies):
                at = now + self.base_delay + self.rng.random() * self.jitter_s
                self._n += 1
                self.in_flight.append((at, self._n, d))
        return out

    def deliver(self, now: float) -> None:
        due = sorted(p for p in self.in_flight if p[0] <= now)
        self.in_flight = [p for p in self.in_flight if p[0] > now]
        for at, _, d in due:
            self.rx.receive_rtp(d, self.src, at)


def run_one_way(
    frame_at: Callable[[int], np.ndarray],
    frames: int,
    link: Link,
    *,
    t0: float = 100.0,
) -> np.ndarray:
    """Send ``frames`` frames through ``link``, pulling one frame per tick; returns playout."""
    out = []
    for k in range(frames + 20):
        now = t0 + k * 0.02
        if k < frames:
            link.send(frame_at(k), now)
        link.deliver(now + 0.0199)
        out.append(link.rx.pull_frame(now + 0.0199))
    return np.concatenate(out)
