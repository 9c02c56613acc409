"""G.711 against an independent scalar port of the ITU-T G.191 reference algorithm.

Every one of the 65 536 int16 inputs is encoded by both and compared; every code is decoded by
both. ``audioop`` (Python ≤ 3.12) is used as a second, independent cross-check.
"""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ata.media.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode

ALL_INT16 = np.arange(-32768, 32768, dtype=np.int32).astype(np.int16)


def _to_short(x: int) -> int:
    x &= 0xFFFF
    return x - 0x10000 if x & 0x8000 else x


def ref_ulaw_compress(lin: int) -> int:
    absno = ((~lin) >> 2) + 33 if lin < 0 else (lin >> 2) + 33
    absno = min(absno, 0x1FFF)
    i = absno >> 6
    segno = 1
    while i != 0:
        segno += 1
        i >>= 1
    high = 0x08 - segno
    low = 0x0F - ((absno >> segno) & 0x0F)
    out = (high << 4) | low
    if lin >= 0:
        out |= 0x80
    return out


def ref_ulaw_expand(log: int) -> int:
    sign = -1 if log < 0x80 else 1
    mantissa = ~log
    exponent = (mantissa >> 4) & 0x07
    segment = exponent + 1
    mantissa &= 0x0F
    step = 4 << segment
    return sign * ((0x80 << exponent) + step * mantissa + step // 2 - 4 * 33)


def ref_alaw_compress(lin: int) -> int:
    ix = (~lin) >> 4 if lin < 0 else lin >> 4
    if ix > 15:
        iexp = 1
        while ix > 16 + 15:
            ix >>= 1
            iexp += 1
        ix -= 16
        ix += iexp << 4
    if lin >= 0:
        ix |= 0x80
    return ix ^ 0x55


def ref_alaw_expand(log: int) -> int:
    ix = (log ^ 0x55) & 0x7F
    iexp = ix >> 4
    mant = ix & 0x0F
    if iexp > 0:
        mant += 16
    mant = (mant << 4) + 8
    if iexp > 1:
        mant <<= iexp - 1
    return mant if log > 127 else -mant


def test_ulaw_encode_matches_g191_for_all_inputs() -> None:
    ref = np.array([ref_ulaw_compress(int(x)) for x in ALL_INT16], dtype=np.uint8)
    got = ulaw_encode(ALL_INT16)
    assert got.dtype == np.uint8
    assert np.array_equal(got, ref)


def test_alaw_encode_matches_g191_for_all_inputs() -> None:
    ref = np.array([ref_alaw_compress(int(x)) for x in ALL_INT16], dtype=np.uint8)
    got = alaw_encode(ALL_INT16)
    assert got.dtype == np.uint8
    assert np.array_equal(got, ref)


def test_decode_matches_g191_for_all_codes() -> None:
    codes = np.arange(256, dtype=np.uint8)
    assert np.array_equal(ulaw_decode(codes), [ref_ulaw_expand(c) for c in range(256)])
    assert np.array_equal(alaw_decode(codes), [ref_alaw_expand(c) for c in range(256)])
    assert ulaw_decode(codes).dtype == np.int16
    assert int(ulaw_decode(codes).max()) == 32124
    assert int(alaw_decode(codes).max()) == 32256


def test_known_values() -> None:
    # Zero: µ-law 0xFF, A-law 0xD5; full-scale negative: µ-law 0x00, A-law 0x2A.
    x = np.array([0, -1, 32767, -32768], dtype=np.int16)
    assert ulaw_encode(x).tolist() == [0xFF, 0x7F, 0x80, 0x00]
    assert alaw_encode(x).tolist() == [0xD5, 0x55, 0xAA, 0x2A]


def test_decode_encode_is_identity_on_codes() -> None:
    codes = np.arange(256, dtype=np.uint8)
    assert np.array_equal(alaw_encode(alaw_decode(codes)), codes)
    # µ-law has two zeros (0x7F and 0xFF decode to 0); every other code round-trips.
    rt = ulaw_encode(ulaw_decode(codes))
    mask = codes != 0x7F
    assert np.array_equal(rt[mask], codes[mask])


@given(hnp.arrays(np.int16, st.integers(0, 400)))
def test_quantisation_error_is_bounded(x: np.ndarray) -> None:
    for enc, dec in ((ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)):
        y = dec(enc(x)).astype(np.int32)
        err = np.abs(y - x.astype(np.int32))
        # Error at most half a step; steps are ≤ 1/16 of the segment: ≤ 1/32·|x| + small.
        assert np.all(err <= np.abs(x.astype(np.int32)) // 16 + 140)


def test_input_not_modified_and_non_contiguous_ok() -> None:
    x = (np.arange(320, dtype=np.int32) * 97 - 16000).astype(np.int16)
    before = x.copy()
    strided = x[::2]
    assert np.array_equal(ulaw_encode(strided), ulaw_encode(strided.copy()))
    assert np.array_equal(x, before)


def _audioop():  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return importlib.import_module("audioop")
        except ImportError:
            return None


def test_cross_check_with_audioop() -> None:
    audioop = _audioop()
    if audioop is None:
        pytest.skip("audioop not available on this Python (removed in 3.13)")
    raw = ALL_INT16.astype("<i2").tobytes()
    a_ref = np.frombuffer(audioop.lin2alaw(raw, 2), dtype=np.uint8)
    assert np.array_equal(alaw_encode(ALL_INT16), a_ref)
    codes = np.arange(256, dtype=np.uint8).tobytes()
    assert np.array_equal(
        ulaw_decode(np.arange(256, dtype=np.uint8)),
        np.frombuffer(audioop.ulaw2lin(codes, 2), dtype="<i2"),
    )
    assert np.array_equal(
        alaw_decode(np.arange(256, dtype=np.uint8)),
        np.frombuffer(audioop.alaw2lin(codes, 2), dtype="<i2"),
    )
    # audioop's µ-law encoder (Sun g711.c) negates after the shift instead of taking the one's
    # complement: it can differ from G.191 only for negative samples, by one code step, at a
    # decision boundary. Everything else must agree.
    u_ref = np.frombuffer(audioop.lin2ulaw(raw, 2), dtype=np.uint8)
    ours = ulaw_encode(ALL_INT16)
    diff = ours != u_ref
    assert np.all(ALL_INT16[diff] < 0)
    assert np.all(np.abs(ours[diff].astype(int) - u_ref[diff].astype(int)) == 1)
    assert diff.mean() < 0.1
