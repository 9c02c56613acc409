"""ITU-T G.711 µ-law and A-law companding by table lookup.

Theory of operation
-------------------
G.711 maps a 16-bit linear sample to an 8-bit code. The mapping only depends on the top 14
(µ-law) or 13 (A-law) bits, so encoding is one lookup in a 65 536-entry table indexed by the
sample's bit pattern (``int16`` viewed as ``uint16``), and decoding is one lookup in a
256-entry table. The tables are computed once at import with the segment arithmetic of the
ITU-T G.191 software tools (``g711.c``: one's complement of negative samples, µ-law bias 33
on the 14-bit magnitude, A-law even-bit inversion ``0x55``), so results are bit-exact with the
reference coder. Decoded values are the 16-bit left-justified reconstruction levels
(µ-law ±32124, A-law ±32256 at full scale).

All functions take and return numpy arrays and never modify their input; a 160-sample frame
costs one fancy-indexing operation (a few µs).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "ALAW_SILENCE",
    "ULAW_SILENCE",
    "alaw_decode",
    "alaw_encode",
    "ulaw_decode",
    "ulaw_encode",
]

ULAW_SILENCE: Final = 0xFF  # code of a zero sample (positive zero)
ALAW_SILENCE: Final = 0xD5


def _ulaw_encode_table() -> npt.NDArray[np.uint8]:
    lin = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.int16).astype(np.int32)
    negative = lin < 0
    # One's complement for negatives, drop the 2 least significant bits, add the bias.
    mag = np.where(negative, ~lin, lin) >> 2
    absno = np.minimum(mag + 33, 0x1FFF)
    # Segment number 1..8: 1 + position of the highest set bit of absno >> 6.
    seg = np.ones_like(absno)
    top = absno >> 6
    while np.any(top):
        seg += (top != 0).astype(np.int32)
        top = top >> 1
    high = 8 - seg
    low = 0x0F - ((absno >> seg) & 0x0F)
    code = (high << 4) | low
    code = np.where(negative, code, code | 0x80)
    table: npt.NDArray[np.uint8] = code.astype(np.uint8)
    return table


def _ulaw_decode_table() -> npt.NDArray[np.int16]:
    code = np.arange(256, dtype=np.int32)
    sign = np.where(code < 0x80, -1, 1)
    inv = ~code
    exponent = (inv >> 4) & 0x07
    mantissa = inv & 0x0F
    step = 4 << (exponent + 1)
    mag = (0x80 << exponent) + step * mantissa + step // 2 - 4 * 33
    table: npt.NDArray[np.int16] = (sign * mag).astype(np.int16)
    return table


def _alaw_encode_table() -> npt.NDArray[np.uint8]:
    lin = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.int16).astype(np.int32)
    negative = lin < 0
    ix = np.where(negative, ~lin, lin) >> 4  # 0 <= ix < 2048
    # Exponent: 0 for ix <= 15, else 1 + number of halvings until ix <= 31.
    exp = np.zeros_like(ix)
    big = ix > 15
    shifted = ix.copy()
    exp[big] = 1
    while np.any(shifted > 31):
        over = shifted > 31
        exp += over.astype(np.int32)
        shifted = np.where(over, shifted >> 1, shifted)
    code = np.where(big, (shifted - 16) + (exp << 4), ix)
    code = np.where(negative, code, code | 0x80)
    return (code ^ 0x55).astype(np.uint8)


def _alaw_decode_table() -> npt.NDArray[np.int16]:
    code = np.arange(256, dtype=np.int32)
    ix = (code ^ 0x55) & 0x7F
    exponent = ix >> 4
    mant = ix & 0x0F
    mant = np.where(exponent > 0, mant + 16, mant)
    mant = (mant << 4) + 8
    mant = np.where(exponent > 1, mant << np.maximum(exponent - 1, 0), mant)
    return np.where(code > 127, mant, -mant).astype(np.int16)


_ULAW_ENC: Final = _ulaw_encode_table()
_ULAW_DEC: Final = _ulaw_decode_table()
_ALAW_ENC: Final = _alaw_encode_table()
_ALAW_DEC: Final = _alaw_decode_table()
for _table in (_ULAW_ENC, _ULAW_DEC, _ALAW_ENC, _ALAW_DEC):
    _table.flags.writeable = False


def _as_index(samples: npt.NDArray[np.int16]) -> npt.NDArray[np.uint16]:
    arr = np.asarray(samples)
    if arr.dtype != np.int16:
        arr = arr.astype(np.int16)
    return np.ascontiguousarray(arr).view(np.uint16)


def ulaw_encode(samples: npt.NDArray[np.int16]) -> npt.NDArray[np.uint8]:
    """µ-law codes (uint8) of int16 ``samples``."""
    return _ULAW_ENC[_as_index(samples)]


def ulaw_decode(codes: npt.NDArray[np.uint8]) -> npt.NDArray[np.int16]:
    """int16 samples of µ-law ``codes`` (e.g. ``np.frombuffer(payload, np.uint8)``)."""
    return _ULAW_DEC[np.asarray(codes, dtype=np.uint8)]


def alaw_encode(samples: npt.NDArray[np.int16]) -> npt.NDArray[np.uint8]:
    """A-law codes (uint8) of int16 ``samples``."""
    return _ALAW_ENC[_as_index(samples)]


def alaw_decode(codes: npt.NDArray[np.uint8]) -> npt.NDArray[np.int16]:
    """int16 samples of A-law ``codes``."""
    return _ALAW_DEC[np.asarray(codes, dtype=np.uint8)]
