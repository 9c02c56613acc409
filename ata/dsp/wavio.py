"""Read and write 8 kHz mono WAV files: 16-bit PCM, and µ-law/A-law (format tags 7 and 6) on input.

The stdlib ``wave`` module only handles PCM, so the RIFF chunks are walked here; G.711 payloads
are expanded with :mod:`ata.media.g711`'s tables when that module is available.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from ata.dsp.levels import SAMPLE_RATE, Samples

_PCM = 1
_ALAW = 6
_ULAW = 7


class WavError(ValueError):
    """The file is not a WAV this module can read (with the reason)."""


def read_wav(path: str | Path, *, expect_rate: int = SAMPLE_RATE) -> Samples:
    """Return the samples of a mono WAV at ``expect_rate`` as int16."""
    data = Path(path).read_bytes()
    if len(data) < 12 or data[0:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise WavError(f"{path}: not a RIFF/WAVE file")
    pos = 12
    fmt: tuple[int, int, int, int] | None = None
    payload: bytes | None = None
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = data[pos + 8 : pos + 8 + size]
        if cid == b"fmt ":
            if len(body) < 16:
                raise WavError(f"{path}: truncated fmt chunk")
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", body)
            fmt = (tag, channels, rate, bits)
        elif cid == b"data":
            payload = body
            break
        pos += 8 + size + (size & 1)
    if fmt is None or payload is None:
        raise WavError(f"{path}: missing fmt or data chunk")
    tag, channels, rate, bits = fmt
    if channels != 1:
        raise WavError(f"{path}: {channels} channels, need mono")
    if rate != expect_rate:
        raise WavError(f"{path}: sample rate {rate} Hz, need {expect_rate} Hz")
    if tag == _PCM and bits == 16:
        return np.frombuffer(payload[: len(payload) // 2 * 2], dtype="<i2").astype(np.int16)
    if tag in (_ULAW, _ALAW) and bits == 8:
        from ata.media import g711

        codes = np.frombuffer(payload, dtype=np.uint8)
        return g711.ulaw_decode(codes) if tag == _ULAW else g711.alaw_decode(codes)
    raise WavError(f"{path}: unsupported format tag {tag} with {bits} bits")


def write_wav(path: str | Path, samples: Samples, *, rate: int = SAMPLE_RATE) -> None:
    """Write int16 mono samples as a 16-bit PCM WAV."""
    pcm = np.asarray(samples, dtype="<i2").tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, _PCM, 1, rate, rate * 2, 2, 16)
    header += b"data" + struct.pack("<I", len(pcm))
    Path(path).write_bytes(header + pcm)
