"""Opening one ALSA PCM with pyalsaaudio (imported lazily), for :mod:`hal.alsa`.

:func:`alsaaudio_pcm` opens a non-blocking S16_LE 8 kHz PCM and checks that the device gave
what was asked for; :class:`Pcm` is the part of ``alsaaudio.PCM`` that :mod:`hal.alsa` uses, so
tests can stand in for a device (a :data:`PcmFactory`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from hal.audio import SAMPLE_RATE, AudioError


class AlsaDeviceError(AudioError):
    """The PCM could not be opened or configured, or cannot be polled (with the reason)."""


class Pcm(Protocol):
    """The part of ``alsaaudio.PCM`` this backend uses."""

    def read(self) -> tuple[int, bytes]: ...

    def write(self, data: bytes) -> int: ...

    def polldescriptors(self) -> list[tuple[int, int]]: ...

    def close(self) -> None: ...


PcmFactory = Callable[[str, str, int, int, int], Pcm]  # (kind, device, channels, period, periods)


def alsaaudio_pcm(kind: str, device: str, channels: int, period: int, periods: int) -> Pcm:
    """Open a non-blocking S16_LE 8 kHz PCM with pyalsaaudio (``kind``: capture/playback)."""
    try:
        import alsaaudio  # hardware library: imported lazily
    except ImportError as exc:
        raise AlsaDeviceError(f"pyalsaaudio is not installed: {exc}") from exc
    try:
        pcm: Any = alsaaudio.PCM(
            type=alsaaudio.PCM_CAPTURE if kind == "capture" else alsaaudio.PCM_PLAYBACK,
            mode=alsaaudio.PCM_NONBLOCK,
            device=device,
            rate=SAMPLE_RATE,
            channels=channels,
            format=alsaaudio.PCM_FORMAT_S16_LE,
            periodsize=period,
            periods=periods,
        )
    except alsaaudio.ALSAAudioError as exc:
        raise AlsaDeviceError(f"cannot open ALSA {kind} device {device!r}: {exc}") from exc
    info = pcm.info()
    if info.get("rate") != SAMPLE_RATE or info.get("channels") != channels:
        pcm.close()
        raise AlsaDeviceError(
            f"ALSA {kind} device {device!r} gave {info.get('rate')} Hz × "
            f"{info.get('channels')} ch, need {SAMPLE_RATE} Hz × {channels} ch"
        )
    result: Pcm = pcm
    return result


__all__ = ["AlsaDeviceError", "Pcm", "PcmFactory", "alsaaudio_pcm"]
