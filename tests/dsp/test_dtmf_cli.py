"""``ata dsp dtmf-decode`` / ``dtmf-gen`` on real WAV files: 16-bit PCM, µ-law and A-law."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ata.dsp.dtmf import DIGITS, DtmfGenerator
from ata.dsp.wavio import write_wav
from ata.media import g711


def run_ata(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ata", *args], capture_output=True, text=True, timeout=60
    )


def write_g711_wav(path: Path, codes: np.ndarray, tag: int) -> None:
    data = codes.astype(np.uint8).tobytes()
    fmt = struct.pack("<HHIIHH", tag, 1, 8000, 8000, 1, 8) + struct.pack("<H", 0)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


@pytest.mark.parametrize("encoding", ["pcm", "ulaw", "alaw"])
def test_dtmf_decode_prints_digits_in_order(tmp_path: Path, encoding: str) -> None:
    audio = DtmfGenerator(level_dbm0=-12.0, on_ms=60, off_ms=60).render(DIGITS + "1")
    path = tmp_path / f"{encoding}.wav"
    if encoding == "pcm":
        write_wav(path, audio)
    elif encoding == "ulaw":
        write_g711_wav(path, g711.ulaw_encode(audio), 7)
    else:
        write_g711_wav(path, g711.alaw_encode(audio), 6)
    res = run_ata("dsp", "dtmf-decode", str(path))
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == DIGITS + "1"


def test_dtmf_gen_then_decode_verbose(tmp_path: Path) -> None:
    path = tmp_path / "g.wav"
    res = run_ata("dsp", "dtmf-gen", "911#", "-o", str(path), "--on-ms", "80", "--off-ms", "40")
    assert res.returncode == 0, res.stderr
    out = run_ata("dsp", "dtmf-decode", "-v", str(path)).stdout.splitlines()
    assert out[0] == "911#"
    assert out[1].startswith("9 0.0000s .. 0.08")
    assert len(out) == 5


def test_dtmf_decode_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not a wav")
    res = run_ata("dsp", "dtmf-decode", str(bad))
    assert res.returncode == 1
    assert "RIFF" in res.stdout
    res = run_ata("dsp", "dtmf-gen", "12x", "-o", str(tmp_path / "x.wav"))
    assert res.returncode == 2
