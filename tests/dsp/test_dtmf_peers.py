"""pi-ata's DTMF checked by independent implementations: spandsp (libspandsp.so.2 via ctypes)
and multimon-ng must decode what pi-ata generates; pi-ata must decode what spandsp generates."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import pytest

from ata.dsp.dtmf import DIGITS, DtmfGenerator, decode_digits
from tests.dsp.dtmf_support import multimon_decode, spandsp_decode, ulaw_round_trip
from tests.peers import require_binary, require_library


@pytest.fixture(scope="module")
def spandsp() -> str:
    return require_library("spandsp")


@pytest.mark.parametrize(
    ("level", "twist", "on_ms", "off_ms"),
    [(-10.0, 0.0, 50, 50), (-11.0, 2.0, 100, 100), (-25.0, 3.0, 60, 60), (-6.0, -4.0, 70, 50)],
)
def test_spandsp_decodes_pi_ata_dtmf(
    spandsp: str, level: float, twist: float, on_ms: int, off_ms: int
) -> None:
    gen = DtmfGenerator(level_dbm0=level, twist_db=twist, on_ms=on_ms, off_ms=off_ms)
    audio = ulaw_round_trip(gen.render(DIGITS * 2))
    assert spandsp_decode(spandsp, audio) == DIGITS * 2


def test_multimon_decodes_pi_ata_dtmf(tmp_path: Path) -> None:
    require_binary("multimon-ng")
    require_binary("sox")
    gen = DtmfGenerator(level_dbm0=-8.0, twist_db=2.0, on_ms=80, off_ms=80)
    audio = ulaw_round_trip(gen.render(DIGITS))
    assert multimon_decode(audio, tmp_path) == DIGITS


def test_pi_ata_decodes_spandsp_dtmf(spandsp: str) -> None:
    lib = ctypes.CDLL(spandsp)
    lib.dtmf_tx_init.restype = ctypes.c_void_p
    lib.dtmf_tx_init.argtypes = [ctypes.c_void_p]
    lib.dtmf_tx_put.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    lib.dtmf_tx.restype = ctypes.c_int
    lib.dtmf_tx.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int16), ctypes.c_int]
    lib.dtmf_tx_free.argtypes = [ctypes.c_void_p]
    tx = lib.dtmf_tx_init(None)
    try:
        lib.dtmf_tx_put(tx, DIGITS.encode(), -1)
        chunks = []
        for _ in range(200):
            buf = np.zeros(160, dtype=np.int16)
            n = lib.dtmf_tx(tx, buf.ctypes.data_as(ctypes.POINTER(ctypes.c_int16)), 160)
            if n <= 0:
                break
            chunks.append(buf[:n])
    finally:
        lib.dtmf_tx_free(tx)
    audio = ulaw_round_trip(np.concatenate(chunks))
    assert decode_digits(audio) == DIGITS
